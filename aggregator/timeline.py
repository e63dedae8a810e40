"""Building a video's timeline, summary and segments from its stored results (pure functions).

Each face keeps the worker's raw ``probs`` and ``emotion`` and gains, from ``aggregator.people``,
its ``track`` (None: phantom), ``smoothed`` probabilities and ``label`` (an emotion or uncertain).
"""

from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass, field
from typing import Any

from aggregator.people import People, in_frame_order
from aggregator.pulse import Pulse, no_pulse
from emostream import smallfaces
from emostream.labels import EMOTIONS
from emostream.registry import VideoRecord
from emostream.schema import Result
from emostream.smallfaces import is_small


@dataclass
class Tally:
    """What a video's summary and its timeline's head count over all its results, in one pass."""

    frames: int = 0
    frames_with_faces: int = 0
    frames_failed: int = 0
    emotions: Counter[str] = field(default_factory=Counter)  # the worker's emotion of each face
    small_faces: int = 0
    last_t_ms: int | None = None
    detectors: set[str] = field(default_factory=set)  # of every result
    models: set[str] = field(default_factory=set)
    ok_detectors: set[str] = field(default_factory=set)  # of the frames analysed
    ok_models: set[str] = field(default_factory=set)

    @property
    def faces(self) -> int:
        return self.emotions.total()

    def add(self, result: Result) -> None:
        self.frames += 1
        self.frames_with_faces += bool(result.faces)
        self.frames_failed += result.status == "failed"
        self.emotions.update(face.emotion for face in result.faces)
        self.small_faces += sum(1 for face in result.faces if is_small(face.box[2]))
        self.last_t_ms = result.t_ms if self.last_t_ms is None else max(self.last_t_ms, result.t_ms)
        self.detectors.add(result.detector)
        self.models.add(result.model_version)
        if result.status == "ok":
            self.ok_detectors.add(result.detector)
            self.ok_models.add(result.model_version)

    def counting(self, results: Iterable[Result]) -> Iterator[Result]:
        """``results`` as they come, each counted on the way (another pass's: no read of its own)."""
        for result in results:
            self.add(result)
            yield result


def tally(results: Iterable[Result]) -> Tally:
    counts = Tally()
    for result in in_frame_order(results):  # the dominant emotion of a tie: the first seen
        counts.add(result)
    return counts


def timeline(
    record: VideoRecord, results: Iterable[Result], people: People, counts: Tally, pulse: Pulse = no_pulse
) -> tuple[dict[str, Any], Iterator[dict[str, Any]]]:
    """``timeline.json``: its fields, then its ``frames``, one at a time (an hour of a crowd is hundreds
    of megabytes of them, which need never be in memory all at once); ``pulse`` after each."""
    head = {
        "video_id": record.video_id,
        "source": record.source,
        "fps": record.sample_fps,
        "source_fps": record.source_fps,
        "frames_expected": record.frames_expected,
        "width": record.width,
        "height": record.height,
        "box_scale": box_scale(record),
        "cuts_ms": cuts_ms(record),
        "labels": list(EMOTIONS),
        "model_version": _common(counts.models),
        "detector": _common(counts.detectors),
    }
    return head, _frames(in_frame_order(results), people, pulse)


def _frames(ordered: Iterable[Result], people: People, pulse: Pulse) -> Iterator[dict[str, Any]]:
    for result in ordered:
        yield _frame(result, people)
        pulse()


def _frame(result: Result, people: People) -> dict[str, Any]:
    frame: dict[str, Any] = {"index": result.frame_index, "t_ms": result.t_ms, "status": result.status}
    if result.error is not None:
        frame["error"] = result.error
    frame["faces"] = []
    for face, view in zip(result.faces, people.frame_views(result.frame_index, len(result.faces)), strict=True):
        frame["faces"].append(
            {
                "box": list(face.box),
                "score": face.score,
                "probs": dict(zip(EMOTIONS, face.probs, strict=True)),
                "emotion": face.emotion,
                "track": view.track,
                "label": view.label,
                "smoothed": dict(zip(EMOTIONS, view.smoothed, strict=True)),
            }
        )
    return frame


def summary(record: VideoRecord, counts: Tally, people: People, missing: list[int] | None = None) -> dict[str, Any]:
    """``missing`` is given when the video is finalised as partial: the sent frames without a result."""
    faces = counts.faces
    shares = {emotion: round(counts.emotions[emotion] / faces, 4) if faces else 0.0 for emotion in EMOTIONS}
    return {
        "video_id": record.video_id,
        "source": record.source,
        "status": "partial" if missing is not None else "complete",
        "fps": record.sample_fps,
        "detector": _common(counts.ok_detectors),
        "model_version": _common(counts.ok_models),
        "frames_total": counts.frames,
        "frames_expected": record.frames_expected,
        "frames_with_faces": counts.frames_with_faces,
        "frames_failed": counts.frames_failed,
        "faces_total": faces,
        "emotion_share": shares,
        "dominant_emotion": counts.emotions.most_common(1)[0][0] if faces else None,
        "people": people.people,
        "phantom_faces": people.phantom_faces,
        "shots": None if (cuts := record.shot_cuts) is None else len(cuts) + 1,
        **({"missing_frames": missing} if missing is not None else {}),
        "decoding": None if record.decode_report is None else asdict(record.decode_report),
        "warnings": [*record.warnings, *filter(None, [small_faces_advice(record, counts.small_faces, faces)])],
    }


def cuts_ms(record: VideoRecord) -> list[int] | None:
    """When each shot after the first begins; None where cuts were not looked for (a camera)."""
    cuts = record.shot_cuts
    return None if cuts is None else [t_ms for _, t_ms in cuts]


SMOOTHED_COLUMNS = tuple(f"smoothed_{emotion}" for emotion in EMOTIONS)
CSV_COLUMNS = (
    "video_id", "index", "t_ms", "status", "face", "x", "y", "w", "h", "score", "emotion", *EMOTIONS,
    "track", "label", *SMOOTHED_COLUMNS,
)  # fmt: skip


def csv_rows(
    record: VideoRecord, results: Iterable[Result], people: People, pulse: Pulse = no_pulse
) -> Iterator[tuple[object, ...]]:
    """One row per frame and face, one at a time (as ``timeline``'s frames); a frame without faces is one
    row with empty face columns; ``pulse`` after each frame."""
    for result in in_frame_order(results):
        head = (record.video_id, result.frame_index, result.t_ms, result.status)
        if not result.faces:
            yield (*head, *([""] * (len(CSV_COLUMNS) - len(head))))
        views = people.frame_views(result.frame_index, len(result.faces))
        for number, (face, view) in enumerate(zip(result.faces, views, strict=True)):
            track = "" if view.track is None else view.track
            yield (*head, number, *face.box, face.score, face.emotion, *face.probs, track, view.label, *view.smoothed)
        pulse()


SEGMENT_COLUMNS = ("video_id", "track", "label", "start_ms", "end_ms", "frames", "mean_confidence")


def segment_rows(record: VideoRecord, people: People) -> list[dict[str, Any]]:
    return [segment.row(record.video_id) for segment in people.segments]


def duration_ms(record: VideoRecord, counts: Tally) -> int:
    """From the start to the end of the last sampled frame."""
    interval = round(1000 / record.sample_fps) if record.sample_fps > 0 else 0
    return (counts.last_t_ms or 0) + interval


def box_scale(record: VideoRecord) -> float:
    """Source pixels per box pixel: boxes are in the sent frame, which the producer may have shrunk."""
    longest = max(record.width, record.height)
    if record.frame_side_px <= 0 or longest <= record.frame_side_px:
        return 1.0
    return round(longest / record.frame_side_px, 6)


def small_faces_advice(record: VideoRecord, small: int, faces: int) -> str | None:
    """Where frames were downscaled and many of the faces found (``small`` of ``faces``) were near the
    smallest found, how to find smaller ones."""
    how = "--max-frame-side {side} (EMO_PRODUCER_MAX_FRAME_SIDE_PX)"
    picture = (record.width, record.height)
    return smallfaces.small_faces_advice(picture, record.frame_side_px, small, faces, how=how)


def _common(values: Any) -> str | None:
    distinct = sorted(set(values))
    return ",".join(distinct) if distinct else None
