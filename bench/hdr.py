"""HDR copies of real clips, as phones record them, analysed against their SDR originals.

    python bench/hdr.py --videos ../shared/data/videos --yunet ../shared/models/yunet/yunet_s_640_640.onnx \\
                        [--baseline ../baseline]

Each clip is written three times as 10-bit HEVC: in SDR BT.709 (the control: what the coding
alone changes), in PQ (HDR10) and in HLG, the HDR copies in BT.2020 with the SDR picture kept as
display light, white at 203 nits (``testkit.hdrvideo``). The original and each copy are analysed
frame by frame (``emostream analyze --every-frame``, YuNet), and each copy's faces are matched to
the original's by box (IoU at least 0.5) frame by frame. Printed per copy: faces found, the share
of the original's faces matched, how many of those have the same emotion and the same smoothed
label, people and phantom faces. ``--baseline`` (a worktree of another commit) analyses the same
copies with that tree too, for a before and after. Then the cost of converting one HDR frame to
BGR, tone-mapped at full size, shrunk to 1,280 px first (what the producer does), and without
tone mapping, ms a frame at 1080p and 4K, one thread of swscale per core.
"""

import argparse
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from common import cpu_description, frames_of, outputs, overlap, rate_of, write_video

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from emostream.hdr import SdrPictures
from testkit.hdrvideo import Transfer, write_hdr_video

if TYPE_CHECKING:
    import av
    from av.video.reformatter import VideoReformatter

CLIPS = ("fer_woman2.mp4", "short_hamilton_clip.mp4")
COPIES: tuple[str, ...] = ("sdr-hevc", "pq", "hlg")


def write_sdr_hevc(video: Path, target: Path) -> Path:
    """The control: the clip as 10-bit HEVC in SDR BT.709, as the HDR copies are coded."""
    tags = "bframes=0:colorprim=bt709:colormatrix=bt709:transfer=bt709"  # as testkit.hdrvideo codes
    options: dict[str, object] = {"crf": "12", "x265-params": f"log-level=error:{tags}"}

    def to_10_bit(frame: "av.VideoFrame") -> "av.VideoFrame":
        return frame.reformat(format="yuv420p10le", dst_colorspace="ITU709", dst_color_range="MPEG")

    return write_video(
        target, frames_of(video), rate_of(video), "libx265", options, pix_fmt="yuv420p10le", convert=to_10_bit
    )


def copies_of(video: Path, folder: Path) -> dict[str, Path]:
    made = {"sdr-hevc": write_sdr_hevc(video, folder / f"{video.stem}-sdr-hevc.mp4")}
    transfers: tuple[Transfer, ...] = ("pq", "hlg")
    rate = rate_of(video)
    for transfer in transfers:
        target = folder / f"{video.stem}-{transfer}.mp4"
        made[transfer] = write_hdr_video(target, frames_of(video), transfer, rate)
    return made


def analysed(videos: list[Path], out: Path, yunet: Path, tree: Path) -> None:
    command = [
        sys.executable, "-m", "emostream", "analyze", *map(str, videos), "--every-frame",
        "--out", str(out), "--yunet-model", str(yunet),
    ]  # fmt: skip
    subprocess.run(command, check=True, capture_output=True, cwd=tree)  # -m: the tree's package comes first


def agreement(original: Path, copy: Path) -> str:
    ref, ref_summary = outputs(original)
    got, summary = outputs(copy)
    faces = sum(len(v) for v in ref.values())
    matched = same_emotion = same_label = 0
    for index, reference in ref.items():
        for face in reference:
            best = max(got.get(index, []), key=lambda g: overlap(face["box"], g["box"]), default=None)
            if best is not None and overlap(face["box"], best["box"]) >= 0.5:
                matched += 1
                same_emotion += best["emotion"] == face["emotion"]
                same_label += best["label"] == face["label"]
    return (
        f"{sum(len(v) for v in got.values())} / {faces} | {matched / faces:.1%} | {same_emotion / max(matched, 1):.1%} "
        f"| {same_label / max(matched, 1):.1%} | {len(summary['people'])} / {len(ref_summary['people'])} "
        f"| {summary['phantom_faces']} / {ref_summary['phantom_faces']}"
    )


def as_before(reformatter: "VideoReformatter", frame: "av.VideoFrame") -> object:
    """The conversion before tone mapping: PyAV's plain one."""
    return reformatter.reformat(frame, format="bgr24").to_ndarray()


def tone_mapping_cost(video: Path, folder: Path) -> None:
    import av
    import cv2
    from av.video.reformatter import VideoReformatter

    small = [image for _, image in zip(range(8), frames_of(video), strict=False)]
    for width, height in ((1920, 1080), (3840, 2160)):
        big = [np.asarray(cv2.resize(image, (width, height)), dtype=np.uint8) for image in small]
        path = write_hdr_video(folder / f"cost-{height}.mp4", big, "hlg")
        with av.open(str(path)) as container:
            frames = list(container.decode(video=0))
        ways: dict[str, Callable[[av.VideoFrame], object]] = {
            "tone-mapped": SdrPictures().bgr,
            "shrunk to 1280, tone-mapped": partial(SdrPictures().bgr, shrink_to=(1280, 720)),
            "not tone-mapped (before)": partial(as_before, VideoReformatter()),
        }
        for name, convert in ways.items():
            convert(frames[0])  # set-up
            started = time.perf_counter()
            for frame in frames:
                convert(frame)
            print(f"| {width}x{height} | {name} | {(time.perf_counter() - started) / len(frames) * 1000:.1f} ms |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--videos", type=Path, required=True)
    parser.add_argument("--yunet", type=Path, required=True)
    parser.add_argument("--baseline", type=Path, help="a worktree of another commit, analysed too")
    args = parser.parse_args()
    print(cpu_description())
    trees = {"this": Path(__file__).resolve().parent.parent}
    if args.baseline:
        trees = {"baseline": args.baseline.resolve(), **trees}
    with tempfile.TemporaryDirectory(prefix="emo-hdr-") as work:
        folder = Path(work)
        originals = [args.videos / clip for clip in CLIPS]
        copies = {video: copies_of(video, folder) for video in originals}
        print("\n| tree | clip | copy | faces (copy / original) | matched | same emotion | same label ", end="")
        print("| people | phantoms |")
        print("| --- " * 9 + "|")
        for label, tree in trees.items():
            out = folder / f"out-{label}"
            analysed([*originals, *(p for made in copies.values() for p in made.values())], out, args.yunet, tree)
            for video, made in copies.items():
                for kind, path in made.items():
                    print(f"| {label} | {video.name} | {kind} | {agreement(out / video.stem, out / path.stem)} |")
        print("\n| frame | conversion | ms a frame |\n| --- | --- | --- |")
        tone_mapping_cost(originals[1], folder)


if __name__ == "__main__":
    main()
