"""Frame and result messages: frozen, versioned pydantic models with explicit encoding.

A stream entry is a flat map of byte fields: ``v`` (schema version), ``meta`` (JSON)
and, for frames, ``jpeg`` (the raw bytes, not base64). Nothing is pickled.
Decoding checks the version first, so a message from another release is rejected
with a clear reason instead of being misread.
"""

import json
from typing import Annotated, Final, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from emostream.errors import MessageError, SchemaVersionError
from emostream.labels import EMOTIONS, NUM_EMOTIONS

SCHEMA_VERSION: Final = 1
MAX_JPEG_BYTES_ACCEPTED: Final = 8_000_000  # producers cap at 1 MB; anything far above is not ours
VIDEO_ID_PATTERN: Final = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$"

VideoId = Annotated[str, Field(pattern=VIDEO_ID_PATTERN)]
SourceKind = Literal["file", "rtsp", "url", "device"]
Fields = dict[bytes, bytes]
M = TypeVar("M", bound=BaseModel)


class _Message(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class FrameMeta(_Message):
    schema_version: Literal[1] = SCHEMA_VERSION
    video_id: VideoId
    frame_index: int = Field(ge=0)
    t_ms: int = Field(ge=0, description="presentation time in the video")
    captured_at: float = Field(ge=0, description="wall-clock capture time, Unix seconds")
    source_kind: SourceKind
    jpeg_size: int = Field(gt=0, le=MAX_JPEG_BYTES_ACCEPTED)


class Frame(_Message):
    meta: FrameMeta
    jpeg: bytes

    @model_validator(mode="after")
    def _size_matches(self) -> "Frame":
        if len(self.jpeg) != self.meta.jpeg_size:
            raise ValueError(f"jpeg field has {len(self.jpeg)} bytes, meta says {self.meta.jpeg_size}")
        return self


class Face(_Message):
    box: tuple[int, int, int, int] = Field(description="x, y, width, height in source pixels")
    score: float = Field(description="detector confidence")
    probs: tuple[float, ...] = Field(min_length=NUM_EMOTIONS, max_length=NUM_EMOTIONS)
    emotion: Literal[EMOTIONS]  # type: ignore[valid-type]


class Result(_Message):
    schema_version: Literal[1] = SCHEMA_VERSION
    video_id: VideoId
    frame_index: int = Field(ge=0)
    t_ms: int = Field(ge=0)
    captured_at: float = Field(ge=0)
    status: Literal["ok", "failed"]
    source_kind: SourceKind = "file"
    error: str | None = None
    faces: tuple[Face, ...] = ()
    model_version: str
    detector: str
    worker: str
    timings_ms: dict[str, float] = Field(default_factory=dict)


def encode_frame(frame: Frame) -> Fields:
    return {b"v": str(SCHEMA_VERSION).encode(), b"meta": frame.meta.model_dump_json().encode(), b"jpeg": frame.jpeg}


def decode_frame(fields: Fields) -> Frame:
    _check_version(fields)
    meta = _validate(FrameMeta, fields.get(b"meta"))
    try:
        return Frame(meta=meta, jpeg=fields.get(b"jpeg", b""))
    except ValidationError as exc:
        raise MessageError(f"invalid frame: {_first_error(exc)}") from None


def encode_result(result: Result) -> Fields:
    return {b"v": str(SCHEMA_VERSION).encode(), b"meta": result.model_dump_json().encode()}


def decode_result(fields: Fields) -> Result:
    _check_version(fields)
    return _validate(Result, fields.get(b"meta"))


def frame_identity(fields: Fields) -> tuple[str, int] | None:
    """Best-effort (video_id, frame_index) of an entry that failed to decode, to record the failure."""
    try:
        raw = json.loads(fields.get(b"meta", b""))
        video_id, index = raw["video_id"], raw["frame_index"]
    except (ValueError, KeyError, TypeError):
        return None
    try:
        FrameMeta.model_validate({**_identity_probe(), "video_id": video_id, "frame_index": index})
    except ValidationError:
        return None
    return str(video_id), int(index)


def _identity_probe() -> dict[str, object]:
    return {"t_ms": 0, "captured_at": 0.0, "source_kind": "file", "jpeg_size": 1}


def _check_version(fields: Fields) -> None:
    version = fields.get(b"v")
    if version is None:
        raise MessageError("entry has no schema version field 'v'")
    if version != str(SCHEMA_VERSION).encode():
        shown = version[:16].decode("ascii", "replace")
        raise SchemaVersionError(f"schema version {shown!r} is not supported (this build reads {SCHEMA_VERSION})")


def _validate(model: type[M], raw: bytes | None) -> M:
    if raw is None:
        raise MessageError("entry has no 'meta' field")
    try:
        return model.model_validate_json(raw)
    except ValidationError as exc:
        raise MessageError(f"invalid {model.__name__}: {_first_error(exc)}") from None


def _first_error(exc: ValidationError) -> str:
    error = exc.errors()[0]
    where = ".".join(str(part) for part in error["loc"]) or "message"
    return f"{where}: {error['msg']} ({exc.error_count()} error(s))"
