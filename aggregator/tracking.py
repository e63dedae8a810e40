"""Face tracks: boxes in frame order become people, with the SORT tracker of the ``trackers`` package.

Tracking needs frame order, which workers (many, out of order) do not have, so it runs here:
over a whole video when it is finalised, and online per camera in capture order.

Why SORT from ``trackers`` 2.1: compared on our labelled clip (``bench/tracking.py``), its
ByteTrack gives a new track no id on its first frame (that face would count as a phantom) and its
second, low-score association stage never applies, because workers have already dropped
low-score faces; ``norfair`` needs numpy < 2, and ``trackers`` >= 2.2 pulls in ``opencv-python``
beside our headless OpenCV. Detector scores are not comparable across detectors (Haar's level
weight, YuNet's probability), so faces enter the tracker without one: every face may start a track.

A track seen in fewer than ``min_track_frames`` sampled frames, or in under ``min_presence`` of
the sampled frames it spans, is a phantom: a face glimpsed once, or a false detection that a
detector makes now and then at the same spot (Haar on the sample clip: 3 times in 29 frames).
Its faces keep ``track = None`` and are counted apart. A video with fewer sampled frames than
``min_track_frames`` (a still image, a clip under a third of a second) asks only that a track be
in every one of them: a face in the whole of such a video is not glimpsed.
"""

from array import array
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import supervision as sv
from trackers import SORTTracker

from aggregator.pulse import Pulse, no_pulse
from emostream import keys

Box = tuple[int, int, int, int]  # x, y, w, h
RawId = tuple[int, int]  # (shot, the tracker's id): each shot has a tracker of its own


@dataclass(frozen=True)
class TrackingConfig:
    lost_s: float = keys.TRACK_LOST_S
    min_track_frames: int = keys.TRACK_MIN_FRAMES
    min_iou: float = keys.TRACK_MIN_IOU
    min_presence: float = keys.TRACK_MIN_PRESENCE


DEFAULT_TRACKING = TrackingConfig()


class OnlineTracker:
    """Raw tracker ids for one frame at a time, in frame order (cameras, and the first pass of a video)."""

    def __init__(self, fps: float, config: TrackingConfig = DEFAULT_TRACKING) -> None:
        # ``trackers`` measures the lost buffer in frames at 30 fps and scales it by frame_rate.
        self._sort = SORTTracker(
            lost_track_buffer=max(1, round(30 * config.lost_s)), frame_rate=max(fps, 0.1),
            track_activation_threshold=0.0, minimum_consecutive_frames=1,
            minimum_iou_threshold=config.min_iou,
        )  # fmt: skip

    def update(self, boxes: Sequence[Box]) -> list[int | None]:
        """One raw track id per box (None: not tracked), in the order of ``boxes``."""
        xyxy = np.array([[x, y, x + w, y + h] for x, y, w, h in boxes], dtype=np.float32).reshape(-1, 4)
        # SORT gives back a copy of the detections in their order, with ids (it deep-copies them, so
        # nothing more rides along); without confidences, every face starts a track.
        tracked = self._sort.update(sv.Detections(xyxy=xyxy))
        ids = _tracker_ids(tracked)
        if len(ids) != len(boxes):
            raise RuntimeError(f"the tracker gave {len(ids)} ids for {len(boxes)} faces")
        return [track if track >= 0 else None for track in ids]


class ShotTracker:
    """An ``OnlineTracker`` that starts afresh at each new shot (``producer.shots``): a face where
    one was before a cut is someone else's. Ids are (shot, the tracker's id)."""

    def __init__(self, fps: float, config: TrackingConfig = DEFAULT_TRACKING) -> None:
        self._fps, self._config = fps, config
        self._shot = 0
        self._tracker = OnlineTracker(fps, config)

    def update(self, boxes: Sequence[Box], shot: int = 0) -> list[RawId | None]:
        """One id per box (None: not tracked), in the order of ``boxes``, for a frame of ``shot``."""
        if shot != self._shot:
            self._tracker, self._shot = OnlineTracker(self._fps, self._config), shot
        return [None if track is None else (shot, track) for track in self._tracker.update(boxes)]


class VideoTracks:
    """Track numbers for every face of a video, given a frame at a time in frame order, then ``numbers()``.

    What it keeps is a few numbers a face (an hour of a crowd has hundreds of thousands): its raw id
    and the position of its frame."""

    def __init__(self, fps: float, config: TrackingConfig = DEFAULT_TRACKING) -> None:
        self._config = config
        self._tracker = ShotTracker(fps, config)
        self._raw = array("q")  # a face's raw id as one number (``_encoded``); -1: not tracked
        self._position = array("q")  # the position of its frame among the frames
        self._frames = 0

    def add(self, boxes: Sequence[Box], shot: int = 0) -> None:
        """The next frame's boxes, and the shot it belongs to (``producer.shots``)."""
        for track in self._tracker.update(boxes, shot):
            self._raw.append(-1 if track is None else _encoded(track))
            self._position.append(self._frames)
        self._frames += 1

    def numbers(self) -> npt.NDArray[np.int64]:
        """Each face's track, in the order added: 0, 1, ... by first appearance; -1: phantom."""
        raw, position = np.frombuffer(self._raw, dtype=np.int64), np.frombuffer(self._position, dtype=np.int64)
        tracked = np.flatnonzero(raw >= 0)
        ids, which, seen = np.unique(raw[tracked], return_inverse=True, return_counts=True)
        first, last = np.full(len(ids), self._frames), np.full(len(ids), -1)
        np.minimum.at(first, which, position[tracked])
        np.maximum.at(last, which, position[tracked])
        needed = min(self._config.min_track_frames, self._frames)
        real = (seen >= needed) & (seen >= self._config.min_presence * (last - first + 1))
        first_face = np.full(len(ids), len(raw))
        np.minimum.at(first_face, which, tracked)
        number_of = np.full(len(ids), -1)
        by_appearance = np.flatnonzero(real)[np.argsort(first_face[real], kind="stable")]
        number_of[by_appearance] = np.arange(len(by_appearance))
        numbers = np.full(len(raw), -1)
        numbers[tracked] = number_of[which]
        return numbers


def _encoded(track: RawId) -> int:
    shot, tracker_id = track
    return shot << 32 | tracker_id


def assign_tracks(
    frames: Sequence[Sequence[Box]],
    fps: float,
    config: TrackingConfig = DEFAULT_TRACKING,
    shots: Sequence[int] | None = None,
    *,
    pulse: Pulse = no_pulse,
) -> list[list[int | None]]:
    """Track ids for every face of every frame (frames in order): 0, 1, ... by first appearance; None: phantom.

    ``shots`` numbers each frame's shot (``producer.shots``): no track runs from one shot into the next.
    ``pulse`` is called after each frame."""
    tracks = VideoTracks(fps, config)
    for boxes, shot in zip(frames, shots if shots is not None else [0] * len(frames), strict=True):
        tracks.add(boxes, shot)
        pulse()
    numbers = iter(tracks.numbers().tolist())
    return [[None if (n := next(numbers)) < 0 else n for _ in boxes] for boxes in frames]


def _tracker_ids(detections: sv.Detections) -> list[int]:
    ids = detections.tracker_id
    return [] if ids is None else [int(i) for i in ids]
