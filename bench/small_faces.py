"""Small faces in HD and 4K video: a clip's faces tiled into larger frames, against the clip at its own size.

    python bench/small_faces.py --videos ../shared/data/videos --yunet ../shared/models/yunet/yunet_s_640_640.onnx \\
                                [--baseline ../baseline] [--frames 90]

A wide shot of an audience, a class or a lobby in HD or 4K holds faces of the size the stage
clip's are at 640x360. The bench makes such videos with a known answer: each clip's first frames
at 640x360 (the reference), and the same frames tiled 3x3 (1920x1080) and 6x6 (3840x2160), all
coded alike (H.264, CRF 16). The reference is analysed, then each tiled copy with the default
frame side (1,280) and with ``--max-frame-side`` 1920 and 3840, as users run it (``emostream
analyze --every-frame``, YuNet, one worker). Each tile's faces (boxes in source pixels) are
matched to the reference's faces of the same frame (IoU at least 0.5). Printed per copy and
setting: the share of the reference's faces found in the tiles, faces found that the reference
does not have (per 100 of its faces), how many matched faces have the reference's emotion, the
worker's milliseconds a frame (its own stage metrics: decode, detect, infer and publish) and the
whole command's seconds. ``--baseline`` (a worktree of another commit) analyses the tiled copies
with that tree's defaults too, for a before and after.
"""

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import cv2
import numpy as np
from common import cpu_description, frames_of, outputs, overlap, rate_of, write_video

CLIPS = ("short_hamilton_clip.mp4", "fer_woman2.mp4")
TILE = (640, 360)  # width, height of each tile: the stage clip's own size
GRIDS = {"1080p (3x3)": 3, "4K (6x6)": 6}
FRAME_SIDES = (None, 1920, 3840)  # None: the default
MATCH_IOU = 0.5
H264: dict[str, object] = {"crf": "16", "preset": "fast"}  # every copy coded alike


def copies_of(video: Path, frames: int, folder: Path) -> dict[str, Path]:
    """The reference (the first ``frames`` frames at 640x360) and its tiled copies, by name."""
    tiles = [np.asarray(cv2.resize(image, TILE, interpolation=cv2.INTER_AREA), np.uint8)
             for _, image in zip(range(frames), frames_of(video), strict=False)]  # fmt: skip
    rate = rate_of(video)
    made = {"reference": write_video(folder / f"{video.stem}-reference.mp4", tiles, rate, "libx264", H264)}
    for name, grid in GRIDS.items():
        tiled = (np.tile(tile, (grid, grid, 1)) for tile in tiles)
        made[name] = write_video(folder / f"{video.stem}-{grid}x{grid}.mp4", tiled, rate, "libx264", H264)
    return made


def analysed(video: Path, out: Path, yunet: Path, tree: Path, frame_side: int | None) -> dict[str, float]:
    """``emostream analyze VIDEO`` with one worker; its whole time and the worker's stage seconds."""
    command = [
        sys.executable, "-m", "emostream", "analyze", str(video), "--every-frame", "--workers", "1",
        "--out", str(out), "--yunet-model", str(yunet),
        *(["--max-frame-side", str(frame_side)] if frame_side else []),
    ]  # fmt: skip
    started = time.perf_counter()
    subprocess.run(command, check=True, capture_output=True, cwd=tree)  # -m: the tree's package comes first
    seconds = time.perf_counter() - started
    stages = [json.loads(line.split("stage seconds: ", 1)[1]) for log in sorted((out / "logs").glob("worker-*.log"))
              for line in log.read_text().splitlines() if "stage seconds: " in line]  # fmt: skip
    return {"seconds": seconds, "worker_seconds": sum(sum(s.values()) for s in stages)}


def in_tiles(faces: list[dict[str, Any]], box_scale: float) -> dict[tuple[int, int], list[dict[str, Any]]]:
    """A tiled frame's faces by tile (column, row), boxes in the tile's pixels."""
    tiles: dict[tuple[int, int], list[dict[str, Any]]] = {}
    for face in faces:
        x, y, w, h = (value * box_scale for value in face["box"])
        column, row = int((x + w / 2) // TILE[0]), int((y + h / 2) // TILE[1])
        box = [x - column * TILE[0], y - row * TILE[1], w, h]
        tiles.setdefault((column, row), []).append({**face, "box": box})
    return tiles


def agreement(reference: Path, tiled: Path, grid: int) -> tuple[int, int, int, int]:
    """(reference faces over all tiles, those found, those with the reference's emotion, faces not in it)."""
    ref, _ = outputs(reference)
    got, _ = outputs(tiled)
    box_scale = float(json.loads((tiled / "timeline.json").read_text())["box_scale"])
    wanted = found = same = extra = 0
    for index, reference_faces in ref.items():
        tiles = in_tiles(got.get(index, []), box_scale)
        for column in range(grid):
            for row in range(grid):
                candidates = list(tiles.get((column, row), []))
                for face in reference_faces:
                    wanted += 1
                    best = max(candidates, key=lambda g: overlap(face["box"], g["box"]), default=None)
                    if best is not None and overlap(face["box"], best["box"]) >= MATCH_IOU:
                        candidates.remove(best)
                        found += 1
                        same += best["emotion"] == face["emotion"]
                extra += len(candidates)
    return wanted, found, same, extra


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--videos", type=Path, required=True)
    parser.add_argument("--yunet", type=Path, required=True)
    parser.add_argument("--baseline", type=Path, help="a worktree of another commit; its defaults are analysed too")
    parser.add_argument("--frames", type=int, default=90, help="frames of each clip (default 90: 3 s)")
    args = parser.parse_args()
    print(cpu_description())
    this = Path(__file__).resolve().parent.parent
    runs: list[tuple[str, Path, int | None]] = [("this", this, side) for side in FRAME_SIDES]
    if args.baseline:
        runs.insert(0, ("baseline", args.baseline.resolve(), None))
    print("\n| clip | copy | tree | frame side | faces found | not in the reference | same emotion | worker ms a frame "
          "| whole command s |")  # fmt: skip
    print("| --- " * 9 + "|")
    with tempfile.TemporaryDirectory(prefix="emo-small-faces-") as work:
        folder = Path(work)
        for clip in CLIPS:
            copies = copies_of(args.videos / clip, args.frames, folder)
            reference_out = folder / f"out-{clip}-reference"
            timing = analysed(copies["reference"], reference_out, args.yunet, this, None)
            reference = reference_out / copies["reference"].stem
            faces = sum(len(v) for v in outputs(reference)[0].values())
            per_frame = timing["worker_seconds"] / args.frames * 1000
            print(f"| {clip} | reference 640x360 | this | default | {faces} faces | | | {per_frame:.1f} "
                  f"| {timing['seconds']:.1f} |")  # fmt: skip
            for name, grid in GRIDS.items():
                for label, tree, side in runs:
                    out = folder / f"out-{clip}-{grid}-{label}-{side}"
                    timing = analysed(copies[name], out, args.yunet, tree, side)
                    wanted, found, same, extra = agreement(reference, out / copies[name].stem, grid)
                    per_frame = timing["worker_seconds"] / args.frames * 1000
                    print(f"| {clip} | {name} | {label} | {side or 'default'} | {found / wanted:.1%} "
                          f"| {extra / wanted * 100:.1f} | {same / max(found, 1):.1%} "
                          f"| {per_frame:.1f} | {timing['seconds']:.1f} |")  # fmt: skip


if __name__ == "__main__":
    main()
