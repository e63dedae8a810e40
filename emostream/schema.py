"""Frame and result messages: frozen, versioned pydantic models with explicit encoding.

A stream entry is a flat map of byte fields: ``v`` (schema version), ``meta`` (JSON)
and, for frames, the picture's bytes (not base64): ``jpeg`` for a JPEG, or ``i420`` for raw
pixels (``emostream.framecodec``), which a producer sends only where its workers share its
machine. Nothing is pickled.
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
MAX_SIDE_PX_ACCEPTED: Final = 8192
VIDEO_ID_PATTERN: Final = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$"

VideoId = Annotated[str, Field(pattern=VIDEO_ID_PATTERN)]
SourceKind = Literal["file", "rtsp", "url", "device"]
Fields = dict[bytes, bytes]
M = TypeVar("M", bound=BaseModel)


class _Message(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class PictureSize(_Message):
    width: int = Field(gt=0, le=MAX_SIDE_PX_ACCEPTED)
    height: int = Field(gt=0, le=MAX_SIDE_PX_ACCEPTED)

    @property
    def even_sides(self) -> tuple[int, int]:
        """Width and height padded to even numbers, as I420's 2x2 colour samples need."""
        return self.width + self.width % 2, self.height + self.height % 2

    @property
    def i420_bytes(self) -> int:
        width, height = self.even_sides
        return width * height * 3 // 2


class FrameMeta(_Message):
    schema_version: Literal[1] = SCHEMA_VERSION
    video_id: VideoId
    frame_index: int = Field(ge=0)
    t_ms: int = Field(ge=0, description="presentation time in the video")
    captured_at: float = Field(ge=0, description="wall-clock capture time, Unix seconds")
    source_kind: SourceKind
    # Exactly one of the two says how the picture travels. A JPEG frame's meta is what it was
    # before raw frames existed (``i420`` is left out when encoded), so older workers read it.
    jpeg_size: int | None = Field(None, gt=0, le=MAX_JPEG_BYTES_ACCEPTED)
    i420: PictureSize | None = Field(None, description="raw I420 pixels of a picture this size")

    @model_validator(mode="after")
    def _one_encoding(self) -> "FrameMeta":
        if (self.jpeg_size is None) == (self.i420 is None):
            raise ValueError("a frame has either jpeg_size or i420, not both or neither")
        return self

    @property
    def payload_field(self) -> bytes:
        """The entry's field that holds the picture."""
        return b"jpeg" if self.i420 is None else b"i420"

    @property
    def payload_size(self) -> int:
        return self.i420.i420_bytes if self.i420 is not None else self.jpeg_size or 0


class Frame(_Message):
    meta: FrameMeta
    payload: bytes  # the JPEG, or the I420 pixels: ``meta`` says which

    @model_validator(mode="after")
    def _size_matches(self) -> "Frame":
        if len(self.payload) != self.meta.payload_size:
            field = self.meta.payload_field.decode()
            raise ValueError(f"{field} field has {len(self.payload)} bytes, meta says {self.meta.payload_size}")
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
    meta = frame.meta.model_dump_json(exclude_none=True).encode()
    return {b"v": str(SCHEMA_VERSION).encode(), b"meta": meta, frame.meta.payload_field: frame.payload}


def decode_frame(fields: Fields) -> Frame:
    _check_version(fields)
    meta = _validate(FrameMeta, fields.get(b"meta"))
    try:
        return Frame(meta=meta, payload=fields.get(meta.payload_field, b""))
    except ValidationError as exc:
        raise MessageError(f"invalid frame: {_first_error(exc)}") from None


def frame_payload(fields: Fields) -> tuple[bytes, bytes]:
    """(field name, bytes) of an entry's picture, whatever else is wrong with it (for dead letters)."""
    for name in (b"jpeg", b"i420"):
        if name in fields:
            return name, fields[name]
    return b"jpeg", b""


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
