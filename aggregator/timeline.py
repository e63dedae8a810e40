"""Building a video's timeline and summary from its stored results (pure functions)."""

from collections import Counter
from typing import Any

from emostream.labels import EMOTIONS
from emostream.registry import VideoRecord
from emostream.schema import Result


def timeline(record: VideoRecord, results: list[Result]) -> dict[str, Any]:
    ordered = sorted(results, key=lambda r: r.frame_index)
    return {
        "video_id": record.video_id,
        "source": record.source,
        "fps": record.sample_fps,
        "source_fps": record.source_fps,
        "frames_expected": record.frames_expected,
        "labels": list(EMOTIONS),
        "model_version": _common(r.model_version for r in ordered),
        "detector": _common(r.detector for r in ordered),
        "frames": [_frame(result) for result in ordered],
    }


def _frame(result: Result) -> dict[str, Any]:
    frame: dict[str, Any] = {"index": result.frame_index, "t_ms": result.t_ms, "status": result.status}
    if result.error is not None:
        frame["error"] = result.error
    frame["faces"] = [
        {
            "box": list(face.box),
            "score": face.score,
            "probs": dict(zip(EMOTIONS, face.probs, strict=True)),
            "emotion": face.emotion,
        }
        for face in result.faces
    ]
    return frame


def summary(record: VideoRecord, results: list[Result], missing: list[int] | None = None) -> dict[str, Any]:
    """``missing`` is given when the video is finalised as partial: the sent frames without a result."""
    faces = [face for result in results for face in result.faces]
    counts = Counter(face.emotion for face in faces)
    shares = {emotion: round(counts[emotion] / len(faces), 4) if faces else 0.0 for emotion in EMOTIONS}
    return {
        "video_id": record.video_id,
        "source": record.source,
        "status": "partial" if missing is not None else "complete",
        "fps": record.sample_fps,
        "frames_total": len(results),
        "frames_expected": record.frames_expected,
        "frames_with_faces": sum(1 for result in results if result.faces),
        "frames_failed": sum(1 for result in results if result.status == "failed"),
        "faces_total": len(faces),
        "emotion_share": shares,
        "dominant_emotion": counts.most_common(1)[0][0] if faces else None,
        **({"missing_frames": missing} if missing is not None else {}),
    }


CSV_COLUMNS = ("video_id", "index", "t_ms", "status", "face", "x", "y", "w", "h", "score", "emotion", *EMOTIONS)


def csv_rows(record: VideoRecord, results: list[Result]) -> list[tuple[object, ...]]:
    """One row per frame and face; a frame without faces is one row with empty face columns."""
    rows: list[tuple[object, ...]] = []
    for result in sorted(results, key=lambda r: r.frame_index):
        head = (record.video_id, result.frame_index, result.t_ms, result.status)
        if not result.faces:
            rows.append((*head, *([""] * (len(CSV_COLUMNS) - len(head)))))
        for number, face in enumerate(result.faces):
            rows.append((*head, number, *face.box, face.score, face.emotion, *face.probs))
    return rows


def _common(values: Any) -> str | None:
    distinct = sorted(set(values))
    return ",".join(distinct) if distinct else None
