"""From boxes to people and moments: tracks, smoothed emotions, labels and segments of one video.

Pure functions over the stored results (in frame order), so they are tested without Redis.
A *segment* is one stretch of one track with one label; segments of a track never overlap:
each ends where the track's next segment starts, or one sampling interval after its last frame.
"""

import bisect
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from aggregator.pulse import Pulse, no_pulse
from aggregator.segments import Segment
from aggregator.smoothing import DEFAULT_SMOOTHING, UNCERTAIN, SmoothingConfig, labels, smooth
from aggregator.tracking import DEFAULT_TRACKING, TrackingConfig, assign_tracks
from emostream.labels import EMOTIONS
from emostream.schema import Result

PROB_DECIMALS = 4


@dataclass(frozen=True, slots=True)  # one a face: an hour of a crowd has hundreds of thousands
class FaceView:
    """What the outputs say about one face of one frame, beyond the worker's result."""

    track: int | None
    label: str
    smoothed: tuple[float, ...]


@dataclass
class People:
    views: dict[tuple[int, int], FaceView] = field(default_factory=dict)  # (frame index, face number)
    segments: list[Segment] = field(default_factory=list)
    people: list[dict[str, Any]] = field(default_factory=list)
    phantom_faces: int = 0

    def view(self, frame_index: int, face: int) -> FaceView:
        return self.views[(frame_index, face)]


@dataclass
class _Track:
    keys: list[tuple[int, int]] = field(default_factory=list)
    t_ms: list[int] = field(default_factory=list)
    probs: list[tuple[float, ...]] = field(default_factory=list)


def analyse_people(
    results: Sequence[Result],
    fps: float,
    tracking: TrackingConfig = DEFAULT_TRACKING,
    smoothing: SmoothingConfig = DEFAULT_SMOOTHING,
    cuts: Sequence[int] = (),
    *,
    pulse: Pulse = no_pulse,
) -> People:
    """Tracks, smoothed probabilities, labels, segments and the per-person summary of one video.
    ``cuts``: the frame indices where a new shot begins (``producer.shots``); no person spans one.
    ``pulse``: called after each frame tracked and each person smoothed (``aggregator.keepalive``)."""
    ordered = sorted(results, key=lambda r: r.frame_index)
    starts = sorted(cuts)
    shots = [bisect.bisect_right(starts, r.frame_index) for r in ordered]
    ids = assign_tracks([[face.box for face in r.faces] for r in ordered], fps, tracking, shots, pulse=pulse)
    people, tracks = People(), _collect(ordered, ids)
    for result, frame_ids in zip(ordered, ids, strict=True):
        for number, (face, track) in enumerate(zip(result.faces, frame_ids, strict=True)):
            if track is None:  # phantom: raw probabilities, labelled by themselves
                people.phantom_faces += 1
                (label,) = labels([face.probs], smoothing.uncertain_below)
                people.views[(result.frame_index, number)] = FaceView(None, label, _rounded(face.probs))
    interval_ms = round(1000 / fps) if fps > 0 else 0
    for track, data in sorted(tracks.items()):
        smoothed = smooth(data.probs, data.t_ms, smoothing)
        track_labels = labels(smoothed, smoothing.uncertain_below)
        for key, row, label in zip(data.keys, smoothed, track_labels, strict=True):
            people.views[key] = FaceView(track, label, _rounded(row))
        segments = _segments(track, data.t_ms, track_labels, smoothed.max(axis=1), interval_ms)
        people.segments.extend(segments)
        people.people.append(_person(track, data.t_ms, track_labels))
        pulse()
    people.segments.sort(key=lambda s: (s.start_ms, s.track))
    return people


def _collect(ordered: Sequence[Result], ids: list[list[int | None]]) -> dict[int, _Track]:
    tracks: dict[int, _Track] = {}
    for result, frame_ids in zip(ordered, ids, strict=True):
        for number, (face, track) in enumerate(zip(result.faces, frame_ids, strict=True)):
            if track is not None:
                data = tracks.setdefault(track, _Track())
                data.keys.append((result.frame_index, number))
                data.t_ms.append(result.t_ms)
                data.probs.append(face.probs)
    return tracks


def _segments(
    track: int, t_ms: list[int], track_labels: list[str], confidence: np.ndarray, interval_ms: int
) -> list[Segment]:
    runs: list[tuple[int, int]] = []  # [first, last] row of each run of one label
    for n, label in enumerate(track_labels):
        if runs and track_labels[runs[-1][0]] == label:
            runs[-1] = (runs[-1][0], n)
        else:
            runs.append((n, n))
    segments = []
    for number, (first, last) in enumerate(runs):
        end = t_ms[last] + interval_ms
        if number + 1 < len(runs):
            end = min(end, t_ms[runs[number + 1][0]])
        segments.append(
            Segment(
                track=track,
                label=track_labels[first],
                start_ms=t_ms[first],
                end_ms=max(end, t_ms[last]),
                frames=last - first + 1,
                mean_confidence=round(float(confidence[first : last + 1].mean()), 4),
            )
        )
    return segments


def _person(track: int, t_ms: list[int], track_labels: list[str]) -> dict[str, Any]:
    counts = Counter(track_labels)
    named = Counter({label: n for label, n in counts.items() if label != UNCERTAIN})
    return {
        "track": track,
        "first_ms": t_ms[0],
        "last_ms": t_ms[-1],
        "frames": len(t_ms),
        "dominant_emotion": named.most_common(1)[0][0] if named else UNCERTAIN,
        "emotion_share": {label: round(counts[label] / len(t_ms), 4) for label in (*EMOTIONS, UNCERTAIN)},
    }


def _rounded(probs: Sequence[float] | np.ndarray) -> tuple[float, ...]:
    return tuple(round(float(p), PROB_DECIMALS) for p in probs)
