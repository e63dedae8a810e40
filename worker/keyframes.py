"""Detecting on some frames of a dense stretch and interpolating the faces of the frames between.

At 25 or 30 frames a second a face moves a few pixels from one frame to the next, and detection is
the worker's largest cost. So within one batch, a frame less than ``interval_ms`` of video after the
last frame that was detected (of the same video) is not detected: its faces are the detected faces
of the frames before and after it, matched by overlap and interpolated in time. Its emotions are
still classified from its own pixels. The first and last frames of a video's run in the batch are
always detected, and so are the frames either side of a gap or a repeated frame, so every
interpolated frame lies between two detected ones less than ``2 * interval_ms`` apart. Frames
sampled at intervals of ``interval_ms`` or more (the default 10 frames a second, cameras) are all
detected.

What it changes is measured by ``bench/detect_interval.py``.
"""

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from itertools import pairwise

Box = tuple[int, int, int, int]  # x, y, width, height in source pixels
Detected = tuple[Box, float]  # a box and its detector score

MIN_MATCH_IOU = 0.3  # below this, two boxes are taken for different faces


@dataclass(frozen=True)
class FrameTime:
    video_id: str
    frame_index: int
    t_ms: int


@dataclass(frozen=True)
class Between:
    """An interpolated frame: the positions (in the batch) of the detected frames around it."""

    before: int
    after: int
    weight: float  # 0 at ``before``, 1 at ``after``, by video time


def plan(frames: Sequence[FrameTime], interval_ms: int) -> list[Between | None]:
    """For each frame of a batch, None where it is to be detected, else where its faces come from."""
    planned: list[Between | None] = [None] * len(frames)
    if interval_ms <= 0:
        return planned
    runs: dict[str, list[int]] = defaultdict(list)
    for position, frame in enumerate(frames):
        runs[frame.video_id].append(position)
    for run in runs.values():
        run.sort(key=lambda position: (frames[position].frame_index, frames[position].t_ms))
        keys = _keyframes([frames[position] for position in run], interval_ms)
        for before, after in pairwise(keys):
            start, end = frames[run[before]].t_ms, frames[run[after]].t_ms
            for inner in range(before + 1, after):
                weight = (frames[run[inner]].t_ms - start) / (end - start)
                planned[run[inner]] = Between(run[before], run[after], weight)
    return planned


def _keyframes(run: Sequence[FrameTime], interval_ms: int) -> list[int]:
    """Indexes into ``run`` (sorted) of the frames to detect: the first and the last; either side of a
    gap of ``interval_ms`` or more, or of a repeated or backwards frame (a redelivery, a restarted
    producer), so nothing is interpolated across one; and any frame ``interval_ms`` or more after the
    last detected one."""

    def continues(earlier: FrameTime, later: FrameTime) -> bool:
        return later.frame_index > earlier.frame_index and 0 < later.t_ms - earlier.t_ms < interval_ms

    keys: list[int] = []
    last = len(run) - 1
    for index, frame in enumerate(run):
        edge = index in (0, last) or not continues(run[index - 1], frame) or not continues(frame, run[index + 1])
        if edge or frame.t_ms - run[keys[-1]].t_ms >= interval_ms:
            keys.append(index)
    return keys


def interpolate(before: Sequence[Detected], after: Sequence[Detected], weight: float) -> list[Detected]:
    """The faces of a frame between two detected ones: matched faces moved in proportion to time
    (with the lower of their two scores); a face seen on one side only, from the nearer side."""
    pairs = match([box for box, _ in before], [box for box, _ in after])
    faces = [
        (_blend(before[i][0], after[j][0], weight), min(before[i][1], after[j][1])) for i, j in sorted(pairs.items())
    ]
    if weight <= 0.5:
        faces += [face for i, face in enumerate(before) if i not in pairs]
    else:
        matched_after = set(pairs.values())
        faces += [face for j, face in enumerate(after) if j not in matched_after]
    return faces


def match(first: Sequence[Box], second: Sequence[Box], min_iou: float = MIN_MATCH_IOU) -> dict[int, int]:
    """Index in ``first`` -> index in ``second`` of the boxes taken for one face: greedy one-to-one
    matching by overlap, best pairs first (a few faces a frame: no need for an optimal assignment,
    nor for SciPy's import in the worker)."""
    candidates = sorted(((iou(a, b), i, j) for i, a in enumerate(first) for j, b in enumerate(second)), reverse=True)
    pairs: dict[int, int] = {}
    used: set[int] = set()
    for overlap, i, j in candidates:
        if overlap < min_iou:
            break
        if i not in pairs and j not in used:
            pairs[i] = j
            used.add(j)
    return pairs


def _blend(a: Box, b: Box, weight: float) -> Box:
    x, y, w, h = (round((1 - weight) * p + weight * q) for p, q in zip(a, b, strict=True))
    return x, y, w, h


def iou(a: Box, b: Box) -> float:
    ax, ay, aw, ah = a
    bx, by, bw, bh = b
    inter = max(0, min(ax + aw, bx + bw) - max(ax, bx)) * max(0, min(ay + ah, by + bh) - max(ay, by))
    union = aw * ah + bw * bh - inter
    return inter / union if union > 0 else 0.0
