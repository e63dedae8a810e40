"""Turning a batch of frame entries into results: decode, detect, one inference call.

Where frames are dense (``detect_interval_ms``, see ``worker.keyframes``), some are not detected:
their faces are interpolated from the detected frames around them, and classified as usual.

Frames over 1,024 px can be detected coarsely (shrunk to 640 px: cheaper, larger faces only) or in
full (down to the smallest wanted face). The first detected frame of each video in a batch is
detected both ways and its full faces kept; where the coarse detection found as many, the video's
next frames are detected coarsely while they find as many faces as the frame before, and in full
from the first that finds fewer. A video without small faces (a talking head in HD) then costs
about what it did before small faces were looked for; one with them is detected in full. A face
that comes into view too small for the coarse scale, while as many others leave, waits for the
next batch: 1.6 s at 10 fps.

Pure of Redis, so it is unit-tested without a server. Every entry yields exactly
one outcome: a result (with or without faces), a failure with its reason, or,
for an entry whose identity cannot be read at all, a dead letter only.
"""

import json
import time
from dataclasses import dataclass, field
from typing import get_args

import cv2
import numpy as np
import numpy.typing as npt

from emostream.errors import MessageError
from emostream.framecodec import decode_i420
from emostream.labels import EMOTIONS
from emostream.preprocess import face_crop
from emostream.schema import Face, Fields, Frame, Result, SourceKind, decode_frame, frame_identity, frame_payload
from models.classifier import EmotionClassifier
from worker.detectors import FaceDetector
from worker.detectors.base import clip_box
from worker.keyframes import Between, FrameTime, interpolate, plan

PROB_DECIMALS = 6


@dataclass(frozen=True)
class Outcome:
    entry_id: bytes
    result: Result | None  # None: the entry cannot even be attributed to a video
    dead_reason: str | None = None  # set for poison frames: also goes to the dead-letter stream
    frame_bytes: bytes = b""  # the poison frame's picture, kept in the dead letter only if configured
    frame_field: bytes = b"jpeg"  # its field name: jpeg or i420


@dataclass
class _Decoded:
    entry_id: bytes
    frame: Frame
    image: npt.NDArray[np.uint8]
    crops: list[npt.NDArray[np.uint8]] = field(default_factory=list)
    boxes: list[tuple[tuple[int, int, int, int], float]] = field(default_factory=list)
    decode_ms: float = 0.0
    detect_ms: float | None = None  # None: its faces were interpolated, not detected
    interpolate_ms: float = 0.0


class BatchProcessor:
    def __init__(
        self, detector: FaceDetector, classifier: EmotionClassifier, worker_name: str, detect_interval_ms: int = 0
    ) -> None:
        self.detector = detector
        self.classifier = classifier
        self.worker_name = worker_name
        self.detect_interval_ms = detect_interval_ms

    def process(self, entries: list[tuple[bytes, Fields]]) -> list[Outcome]:
        outcomes: list[Outcome] = []
        decoded: list[_Decoded] = []
        for entry_id, fields in entries:
            item = self._decode(entry_id, fields)
            if isinstance(item, Outcome):
                outcomes.append(item)
            else:
                decoded.append(item)
        planned = plan([_frame_time(item) for item in decoded], self.detect_interval_ms)
        scales: dict[str, _Scale] = {}
        for item, between in zip(decoded, planned, strict=True):
            if between is None:
                self._detect(item, scales.setdefault(item.frame.meta.video_id, _Scale()))
        for item, between in zip(decoded, planned, strict=True):
            if between is not None:
                self._interpolate(item, between, decoded)
        outcomes.extend(self._classify(decoded))
        return outcomes

    def failure(self, entry_id: bytes, fields: Fields, reason: str) -> Outcome:
        """A poison frame: a failed result if it can be attributed to a video, and a dead letter."""
        identity = frame_identity(fields)
        name, picture = frame_payload(fields)
        if identity is None:
            return Outcome(entry_id, None, reason, picture, name)
        video_id, index = identity
        meta = _meta(fields)
        kind = meta.get("source_kind")
        result = Result(
            video_id=video_id, frame_index=index, t_ms=int(_non_negative(meta.get("t_ms"), 0)),
            captured_at=_non_negative(meta.get("captured_at"), time.time()), status="failed",
            source_kind=kind if kind in get_args(SourceKind) else "file", error=reason,
            model_version=self.classifier.version, detector=self.detector.name, worker=self.worker_name,
        )  # fmt: skip
        return Outcome(entry_id, result, reason, picture, name)

    def _decode(self, entry_id: bytes, fields: Fields) -> "_Decoded | Outcome":
        started = time.perf_counter()
        try:
            frame = decode_frame(fields)
        except MessageError as exc:
            return self.failure(entry_id, fields, str(exc))
        image = _picture(frame)
        if image is None:
            return self.failure(entry_id, fields, f"{frame.meta.payload_field.decode()} field cannot be decoded")
        return _Decoded(entry_id, frame, image, decode_ms=_ms_since(started))

    def _detect(self, item: _Decoded, scale: "_Scale") -> None:
        """Coarsely where that found, on this video's first frame in the batch, what the full
        detection found, and goes on finding as many faces; else (and from then on) in full."""
        started = time.perf_counter()
        height, width = item.image.shape[:2]
        if not self.detector.has_coarse_scale(height, width):
            found = self.detector.detect(item.image)
        elif scale.coarse is None:  # its first frame: both, and the full one's faces are kept
            found = self.detector.detect(item.image)
            scale.coarse = len(self.detector.detect(item.image, coarse=True)) >= len(found)
        elif scale.coarse:
            found = self.detector.detect(item.image, coarse=True)
            if len(found) < scale.faces:  # it lost faces: in full, from now on
                found, scale.coarse = self.detector.detect(item.image), False
        else:
            found = self.detector.detect(item.image)
        scale.faces = len(found)
        for detection in found:
            self._add_face(item, detection.box, detection.score)
        item.detect_ms = _ms_since(started)

    def _add_face(self, item: _Decoded, box: tuple[int, int, int, int], score: float) -> None:
        """The box goes to the result as found; the network gets the face framed as its training faces
        were (``face_crop``). Only faces are made gray: a whole 640x360 frame took 0.1 ms, a face µs."""
        item.crops.append(face_crop(item.image, box, self.detector.framing))
        item.boxes.append((box, score))

    def _interpolate(self, item: _Decoded, between: Between, decoded: list[_Decoded]) -> None:
        started = time.perf_counter()
        height, width = item.image.shape[:2]
        for box, score in interpolate(decoded[between.before].boxes, decoded[between.after].boxes, between.weight):
            inside = clip_box(box, 1.0, width, height)  # rounding can move a blended box a pixel out
            if inside is not None:
                self._add_face(item, inside, score)
        item.interpolate_ms = _ms_since(started)

    def _classify(self, decoded: list[_Decoded]) -> list[Outcome]:
        started = time.perf_counter()
        probs = self.classifier.predict([crop for item in decoded for crop in item.crops])
        infer_ms = _ms_since(started)
        outcomes, offset = [], 0
        for item in decoded:
            faces = [_face(box, score, probs[offset + i]) for i, (box, score) in enumerate(item.boxes)]
            offset += len(item.boxes)
            outcomes.append(Outcome(item.entry_id, self._result(item, faces, infer_ms, len(decoded))))
        return outcomes

    def _result(self, item: _Decoded, faces: list[Face], infer_ms: float, batch_frames: int) -> Result:
        meta = item.frame.meta
        found = {"detect": item.detect_ms} if item.detect_ms is not None else {"interpolate": item.interpolate_ms}
        timings = {"decode": item.decode_ms, **found, "infer_batch": infer_ms, "batch_frames": batch_frames}
        return Result(
            video_id=meta.video_id, frame_index=meta.frame_index, t_ms=meta.t_ms, captured_at=meta.captured_at,
            status="ok", source_kind=meta.source_kind, faces=tuple(faces), model_version=self.classifier.version,
            detector=self.detector.name, worker=self.worker_name,
            timings_ms={k: round(float(v), 3) for k, v in timings.items()},
        )  # fmt: skip


@dataclass
class _Scale:
    """How a video's frames in this batch are detected: ``coarse`` None until its first one is."""

    coarse: bool | None = None
    faces: int = 0  # found on its last detected frame


def _frame_time(item: _Decoded) -> FrameTime:
    meta = item.frame.meta
    return FrameTime(meta.video_id, meta.frame_index, meta.t_ms)


def _picture(frame: Frame) -> npt.NDArray[np.uint8] | None:
    if frame.meta.i420 is not None:
        return decode_i420(frame.payload, frame.meta.i420)
    buffer = np.frombuffer(frame.payload, dtype=np.uint8)
    return cv2.imdecode(buffer, cv2.IMREAD_COLOR) if buffer.size else None  # type: ignore[return-value]


def _face(box: tuple[int, int, int, int], score: float, probs: npt.NDArray[np.float32]) -> Face:
    rounded = tuple(round(float(p), PROB_DECIMALS) for p in probs)
    return Face(box=box, score=score, probs=rounded, emotion=EMOTIONS[int(np.argmax(probs))])


def _meta(fields: Fields) -> dict[str, object]:
    """Best-effort meta of an entry that failed validation (to attribute its failure)."""
    try:
        meta = json.loads(fields.get(b"meta", b"{}"))
    except ValueError:
        return {}
    return meta if isinstance(meta, dict) else {}


def _non_negative(value: object, default: float) -> float:
    """A finite number >= 0 from untrusted meta, else ``default`` (cameras place failures by time)."""
    if isinstance(value, int | float) and not isinstance(value, bool) and 0 <= value < float("inf"):
        return float(value)
    return default


def _ms_since(started: float) -> float:
    return (time.perf_counter() - started) * 1000
