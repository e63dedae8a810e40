"""Tracking on a labelled clip: ID switches, fragmentation and IDF1 (motmetrics), SORT against ByteTrack.

Makes a 10 s clip of three real, moving faces taken from the shared test videos, pasted on a
plain background along known paths: A and B cross (B passes in front of A), C leaves the frame
at 3 s and comes back at 5.5 s. Ground truth is where each face was pasted (hidden while more
than half covered). Runs the real pipeline (``emostream analyze``, YuNet) on it once, then
tracks the same detections with each tracker configuration and scores them.

    python bench/tracking.py --videos ../shared/data/videos --yunet ../shared/models/yunet/yunet_s_640_640.onnx
"""

import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import motmetrics as mm
import numpy as np
import numpy.typing as npt
import supervision as sv
from common import analysed_timeline, clip_bench_arguments
from trackers import ByteTrackTracker

from aggregator.tracking import Box, TrackingConfig, assign_tracks
from worker.detectors.yunet import YuNetDetector

Image = npt.NDArray[np.uint8]
WIDTH, HEIGHT, FPS, SECONDS = 960, 540, 15, 10
PATCH_PX = 200


@dataclass(frozen=True)
class Actor:
    name: str
    patches: list[tuple[Image, Box]]  # face patch and the face's box inside it
    path: Callable[[float], tuple[float, float] | None]  # top-left at time t, None: off screen


def face_patches(video: Path, detector: YuNetDetector, flip: bool = False, limit: int = 150) -> list[tuple[Image, Box]]:
    """Square patches around the one clear face of each frame, resized to ``PATCH_PX``."""
    capture = cv2.VideoCapture(str(video))
    patches: list[tuple[Image, Box]] = []
    while len(patches) < limit:
        ok, read = capture.read()
        if not ok:
            break
        frame = np.asarray(read, dtype=np.uint8)
        faces = [d for d in detector.detect(frame) if d.score > 0.85]
        if len(faces) != 1:
            continue
        x, y, w, h = faces[0].box
        side = int(max(w, h) * 1.6)
        cx, cy = x + w // 2, y + h // 2
        x0, y0 = max(0, cx - side // 2), max(0, cy - side // 2)
        crop = frame[y0 : y0 + side, x0 : x0 + side]
        if crop.shape[0] != side or crop.shape[1] != side:
            continue
        k = PATCH_PX / side
        patch = cv2.resize(crop, (PATCH_PX, PATCH_PX), interpolation=cv2.INTER_AREA)
        box = (round((x - x0) * k), round((y - y0) * k), round(w * k), round(h * k))
        if flip:
            patch = patch[:, ::-1].copy()
            box = (PATCH_PX - box[0] - box[2], box[1], box[2], box[3])
        patches.append((patch, box))  # type: ignore[arg-type]
    capture.release()
    if not patches:
        raise SystemExit(f"no clear face found in {video}")
    return patches


def make_clip(path: Path, actors: Sequence[Actor]) -> dict[int, dict[str, Box]]:
    """Write the clip; returns the visible ground-truth face boxes per frame index."""
    rng = np.random.default_rng(0)
    blurred = cv2.GaussianBlur(rng.integers(60, 200, (HEIGHT // 8, WIDTH // 8, 3), dtype=np.uint8), (5, 5), 0)
    background: Image = np.asarray(cv2.resize(blurred, (WIDTH, HEIGHT), interpolation=cv2.INTER_CUBIC), dtype=np.uint8)
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter.fourcc(*"mp4v"), FPS, (WIDTH, HEIGHT))
    truth: dict[int, dict[str, Box]] = {}
    for index in range(FPS * SECONDS):
        frame = background.copy()
        placed: list[tuple[str, Box, tuple[int, int]]] = []
        for actor in actors:  # later actors are drawn over earlier ones
            where = actor.path(index / FPS)
            if where is None:
                continue
            patch, (fx, fy, fw, fh) = actor.patches[index % len(actor.patches)]
            left, top = round(where[0]), round(where[1])
            _paste(frame, patch, left, top)
            placed.append((actor.name, (left + fx, top + fy, fw, fh), (left, top)))
        truth[index] = _visible(placed)
        writer.write(frame)
    writer.release()
    return truth


def _paste(frame: Image, patch: Image, left: int, top: int) -> None:
    x0, y0 = max(0, left), max(0, top)
    x1, y1 = min(WIDTH, left + PATCH_PX), min(HEIGHT, top + PATCH_PX)
    if x1 > x0 and y1 > y0:
        frame[y0:y1, x0:x1] = patch[y0 - top : y1 - top, x0 - left : x1 - left]


def _visible(placed: list[tuple[str, Box, tuple[int, int]]]) -> dict[str, Box]:
    """Faces at least half uncovered by the patches drawn after them, and at least half inside the frame."""
    visible = {}
    for n, (name, (x, y, w, h), _) in enumerate(placed):
        mask = np.zeros((HEIGHT, WIDTH), dtype=bool)
        mask[max(0, y) : max(0, y + h), max(0, x) : max(0, x + w)] = True
        area = w * h
        for _, _, (left, top) in placed[n + 1 :]:
            mask[max(0, top) : max(0, top + PATCH_PX), max(0, left) : max(0, left + PATCH_PX)] = False
        if mask.sum() >= 0.5 * area:
            visible[name] = (x, y, w, h)
    return visible


def bytetrack_tracks(frames: Sequence[Sequence[Box]], fps: float, config: TrackingConfig) -> list[list[int | None]]:
    """The alternative compared: ``trackers``' ByteTrack on the same detections (a new track has no id at first)."""
    tracker = ByteTrackTracker(
        lost_track_buffer=round(30 * config.lost_s), frame_rate=fps, minimum_consecutive_frames=1,
        minimum_iou_threshold=config.min_iou,
    )  # fmt: skip
    ids: list[list[int | None]] = []
    for boxes in frames:
        xyxy = np.array([[x, y, x + w, y + h] for x, y, w, h in boxes], dtype=np.float32).reshape(-1, 4)
        tracked = tracker.update(
            sv.Detections(xyxy=xyxy, confidence=np.ones(len(boxes)), data={"face": np.arange(len(boxes))})
        )
        row: list[int | None] = [None] * len(boxes)
        for face, track in zip(
            tracked.data.get("face", []), tracked.tracker_id if tracked.tracker_id is not None else [], strict=True
        ):
            row[int(face)] = int(track) if track >= 0 else None
        ids.append(row)
    return ids


def _iou_distances(truth: Sequence[Sequence[int]], hyp: Sequence[Sequence[int]]) -> npt.NDArray[np.float64]:
    """1 - IoU, NaN below IoU 0.5 (no match), as motmetrics expects; its own iou_matrix needs numpy < 2."""
    out = np.full((len(truth), len(hyp)), np.nan)
    for i, (ax, ay, aw, ah) in enumerate(truth):
        for j, (bx, by, bw, bh) in enumerate(hyp):
            iw = max(0, min(ax + aw, bx + bw) - max(ax, bx))
            ih = max(0, min(ay + ah, by + bh) - max(ay, by))
            iou = iw * ih / (aw * ah + bw * bh - iw * ih)
            if iou >= 0.5:
                out[i, j] = 1 - iou
    return out


def score(timeline: dict[str, Any], truth: dict[int, dict[str, Box]], ids: list[list[int | None]]) -> dict[str, float]:
    accumulator = mm.MOTAccumulator(auto_id=True)
    for frame, frame_ids in zip(timeline["frames"], ids, strict=True):
        gt = truth[frame["index"]]
        hyp = [(t, f["box"]) for f, t in zip(frame["faces"], frame_ids, strict=True) if t is not None]
        distances = _iou_distances(list(gt.values()), [b for _, b in hyp])
        accumulator.update([ord(name) for name in gt], [t for t, _ in hyp], distances)  # numeric ids for pandas
    summary = mm.metrics.create().compute(
        accumulator,
        metrics=["idf1", "mota", "num_switches", "num_fragmentations", "num_unique_objects", "precision", "recall"],
    )
    row = summary.iloc[0]
    tracks = {t for frame_ids in ids for t in frame_ids if t is not None}
    return {**{k: round(float(v), 4) for k, v in row.items()}, "tracks": len(tracks)}


def main() -> None:
    args = clip_bench_arguments(__doc__.splitlines()[0], "the clip and outputs")
    detector = YuNetDetector(args.yunet, 640)
    woman, stage = args.videos / "fer_woman2.mp4", args.videos / "short_hamilton_clip.mp4"
    actors = [
        Actor("A", face_patches(woman, detector), lambda t: (40 + 66 * t, 300)),  # left to right
        Actor("B", face_patches(stage, detector), lambda t: (720 - 66 * t, 320)),  # right to left, in front of A
        Actor(
            "C", face_patches(woman, detector, flip=True), lambda t: None if 3.0 <= t < 5.5 else (700 + 8 * (t % 3), 20)
        ),
    ]
    folder = args.keep or Path(tempfile.mkdtemp(prefix="emo-tracking-"))
    folder.mkdir(parents=True, exist_ok=True)
    clip = folder / "crossing.mp4"
    truth = make_clip(clip, actors)
    timeline = analysed_timeline(clip, folder / "out", args.yunet)
    frames = [[tuple(f["box"]) for f in frame["faces"]] for frame in timeline["frames"]]
    fps = float(timeline["fps"])
    detections = sum(map(len, frames))
    print(
        f"clip: {clip} ({FPS * SECONDS} frames at {FPS} fps, sampled at {fps:g} fps, 3 faces, {detections} detections)"
    )
    rows = {
        "emostream (SORT, as served)": [[f["track"] for f in frame["faces"]] for frame in timeline["frames"]],
    }
    for lost_s in (1.0, 2.0, 3.0):
        for min_iou in (0.1, 0.2, 0.3):
            config = TrackingConfig(lost_s=lost_s, min_iou=min_iou)
            label = f"lost {lost_s:g} s, min IoU {min_iou}"
            rows[f"SORT, {label}"] = assign_tracks(frames, fps, config)
            rows[f"ByteTrack, {label}"] = bytetrack_tracks(frames, fps, config)
    print("| tracker | IDF1 | MOTA | ID switches | fragmentations | tracks (truth: 3) | recall |")
    print("| --- | --- | --- | --- | --- | --- | --- |")
    for name, ids in rows.items():
        s = score(timeline, truth, ids)
        counts = f"{s['num_switches']:.0f} | {s['num_fragmentations']:.0f} | {s['tracks']}"
        print(f"| {name} | {s['idf1']:.3f} | {s['mota']:.3f} | {counts} | {s['recall']:.3f} |")


if __name__ == "__main__":
    main()
