"""From boxes to people and moments: tracks, smoothed emotions, labels and segments of one video.

Pure functions over the stored results (in frame order), so they are tested without Redis.
A *segment* is one stretch of one track with one label; segments of a track never overlap:
each ends where the track's next segment starts, or one sampling interval after its last frame.
"""

import bisect
import itertools
from array import array
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

from aggregator.pulse import Pulse, no_pulse
from aggregator.segments import Segment
from aggregator.smoothing import DEFAULT_SMOOTHING, UNCERTAIN, SmoothingConfig, labels, smooth
from aggregator.tracking import DEFAULT_TRACKING, TrackingConfig, VideoTracks
from emostream.labels import EMOTIONS, NUM_EMOTIONS
from emostream.schema import Result

PROB_DECIMALS = 4


LABELS = (*EMOTIONS, UNCERTAIN)  # a face's label, by its number in ``People.label``


@dataclass(frozen=True, slots=True)
class FaceView:
    """What the outputs say about one face of one frame, beyond the worker's result."""

    track: int | None
    label: str
    smoothed: tuple[float, ...]


@dataclass
class People:
    """Per face, in frame order and each frame's own order, a row of arrays: an hour of a crowd has
    hundreds of thousands of faces, which as objects took 431 bytes each; as rows, 65."""

    frame_index: npt.NDArray[np.int64] = field(default_factory=lambda: np.zeros(0, np.int64))  # the frames, in order
    first_row: npt.NDArray[np.int64] = field(default_factory=lambda: np.zeros(0, np.int64))  # each frame's first face
    track: npt.NDArray[np.int64] = field(default_factory=lambda: np.zeros(0, np.int64))  # -1: a phantom
    label: npt.NDArray[np.uint8] = field(default_factory=lambda: np.zeros(0, np.uint8))  # in ``LABELS``
    smoothed: npt.NDArray[np.float64] = field(default_factory=lambda: np.zeros((0, NUM_EMOTIONS)))
    segments: list[Segment] = field(default_factory=list)
    people: list[dict[str, Any]] = field(default_factory=list)
    phantom_faces: int = 0

    def view(self, frame_index: int, face: int) -> FaceView:
        return self.frame_views(frame_index, face + 1)[face]

    def frame_views(self, frame_index: int, faces: int) -> list[FaceView]:
        """The views of a frame's first ``faces`` faces."""
        position = int(np.searchsorted(self.frame_index, frame_index))
        if position == len(self.frame_index) or self.frame_index[position] != frame_index:
            raise KeyError(f"no frame {frame_index} among the people's")
        rows = slice(int(self.first_row[position]), int(self.first_row[position]) + faces)
        return [
            FaceView(None if track < 0 else track, LABELS[label], _rounded(smoothed))
            for track, label, smoothed in zip(
                self.track[rows].tolist(), self.label[rows].tolist(), self.smoothed[rows].tolist(), strict=True
            )
        ]

    def views(self) -> Iterator[tuple[tuple[int, int], FaceView]]:
        """((frame index, face number), view) of every face, in order."""
        ends = [*self.first_row[1:].tolist(), len(self.track)]
        for frame_index, first, end in zip(self.frame_index.tolist(), self.first_row.tolist(), ends, strict=True):
            for face, view in enumerate(self.frame_views(frame_index, end - first)):
                yield (frame_index, face), view


def in_frame_order(results: Iterable[Result]) -> Iterable[Result]:
    """Stored results come in frame order (``aggregator.stored``); a list of them (tests, benchmarks) is sorted."""
    if isinstance(results, Sequence):
        return sorted(results, key=lambda r: r.frame_index)
    return results


@dataclass
class _Faces:
    """A pass over a video's results: what people are made of, a few numbers a face."""

    frame_index: "array[int]" = field(default_factory=lambda: array("q"))
    first_row: "array[int]" = field(default_factory=lambda: array("q"))
    t_ms: "array[int]" = field(default_factory=lambda: array("q"))
    probs: "array[float]" = field(default_factory=lambda: array("d"))  # seven a face


def analyse_people(
    results: Iterable[Result],
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
    starts = sorted(cuts)
    tracks, faces = VideoTracks(fps, tracking), _Faces()
    for result in in_frame_order(results):
        faces.frame_index.append(result.frame_index)
        faces.first_row.append(len(faces.t_ms))
        tracks.add([face.box for face in result.faces], bisect.bisect_right(starts, result.frame_index))
        for face in result.faces:
            faces.t_ms.append(result.t_ms)
            faces.probs.extend(face.probs)
        pulse()
    numbers = tracks.numbers()
    probs = np.frombuffer(faces.probs, dtype=np.float64).reshape(-1, NUM_EMOTIONS)
    t_ms = np.frombuffer(faces.t_ms, dtype=np.int64)
    people = People(
        frame_index=np.frombuffer(faces.frame_index, dtype=np.int64),
        first_row=np.frombuffer(faces.first_row, dtype=np.int64),
        track=numbers, label=np.zeros(len(numbers), np.uint8), smoothed=probs.copy(),
    )  # fmt: skip
    phantoms = np.flatnonzero(numbers < 0)  # raw probabilities, labelled by themselves
    people.phantom_faces = len(phantoms)
    people.label[phantoms] = _label_numbers(labels(probs[phantoms], smoothing.uncertain_below))
    interval_ms = round(1000 / fps) if fps > 0 else 0
    rows_by_track = np.argsort(numbers, kind="stable")
    bounds = np.searchsorted(numbers[rows_by_track], np.arange(int(numbers.max(initial=-1)) + 2))
    for track, (begin, end) in enumerate(itertools.pairwise(bounds.tolist())):
        rows = rows_by_track[begin:end]  # the track's faces, in frame order
        track_t_ms = t_ms[rows].tolist()
        smoothed = smooth(probs[rows], track_t_ms, smoothing)
        track_labels = labels(smoothed, smoothing.uncertain_below)
        people.smoothed[rows] = smoothed
        people.label[rows] = _label_numbers(track_labels)
        people.segments.extend(_segments(track, track_t_ms, track_labels, smoothed.max(axis=1), interval_ms))
        people.people.append(_person(track, track_t_ms, track_labels))
        pulse()
    people.segments.sort(key=lambda s: (s.start_ms, s.track))
    return people


def _label_numbers(names: list[str]) -> npt.NDArray[np.uint8]:
    return np.array([LABELS.index(name) for name in names], dtype=np.uint8)


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
