"""What several benchmarks share: the CPU they ran on, a video's frames, a video analysed by the
real pipeline, and its faces matched to another analysis's."""

import argparse
import json
import os
import subprocess
import sys
from collections.abc import Callable, Iterable, Iterator
from fractions import Fraction
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

import numpy as np
import numpy.typing as npt

if TYPE_CHECKING:
    import av

CPU_FLAGS = ("avx2", "avx512f", "avx512_vnni", "amx_int8")  # what int8 and detector speed depend on


def cpu_description() -> str:
    """The CPU model, its core count and which of ``CPU_FLAGS`` it has (every speed claim names it);
    under ``bench/as_avx2.py``, that AVX-512 and the rest were hidden, after checking they are."""
    info = Path("/proc/cpuinfo").read_text().splitlines()
    model = next((line.split(":", 1)[1].strip() for line in info if line.startswith("model name")), "?")
    flags = set(next((line.split(":", 1)[1].split() for line in info if line.startswith("flags")), []))
    shown = ", ".join(f"{flag} {'yes' if flag in flags else 'no'}" for flag in CPU_FLAGS)
    description = f"{model}, {os.cpu_count()} cores; {shown}"
    if os.environ.get("EMO_BENCH_AS_AVX2"):
        from numpy._core._multiarray_umath import __cpu_features__  # type: ignore[import-not-found]  # numpy's CPUID

        if __cpu_features__.get("AVX512F") or not __cpu_features__.get("AVX2"):
            raise SystemExit("bench/as_avx2.py did not take effect: AVX-512 is still visible, or AVX2 is not")
        description += "; run as AVX2-only (bench/as_avx2.py: AVX-512, VNNI and AMX hidden from CPUID)"
    return description


def clip_bench_arguments(description: str, keep: str) -> argparse.Namespace:
    """``--videos``, ``--yunet`` and ``--keep`` (``keep``: what it keeps), for benchmarks that make
    clips of the test videos and analyse them."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument(
        "--videos", type=Path, required=True, help="folder with fer_woman2.mp4, short_hamilton_clip.mp4"
    )
    parser.add_argument("--yunet", type=Path, required=True, help="face_detection_yunet_2023mar.onnx")
    parser.add_argument("--keep", type=Path, help=f"keep {keep} in this folder")
    return parser.parse_args()


def analysed_timeline(video: Path, out: Path, yunet: Path, env: dict[str, str] | None = None) -> dict[str, Any]:
    """``emostream analyze VIDEO`` with YuNet, as a user runs it (with ``env`` set besides); its timeline.json."""
    command = [sys.executable, "-m", "emostream", "analyze", str(video), "--out", str(out), "--yunet-model", str(yunet)]
    subprocess.run(command, check=True, capture_output=True, env={**os.environ, **(env or {})})
    timeline: dict[str, Any] = json.loads((out / video.stem / "timeline.json").read_text())
    return timeline


def frames_of(video: Path) -> Iterator[npt.NDArray[np.uint8]]:
    """The video's frames in BGR, as PyAV decodes them."""
    import av

    with av.open(str(video)) as container:
        for frame in container.decode(video=0):
            yield cast("npt.NDArray[np.uint8]", frame.to_ndarray(format="bgr24"))


def rate_of(video: Path) -> Fraction:
    import av

    with av.open(str(video)) as container:
        rate = container.streams.video[0].average_rate
    assert rate is not None
    return Fraction(rate)


def write_video(
    target: Path,
    frames: Iterable[npt.NDArray[np.uint8]],
    rate: Fraction,
    codec: str,
    options: dict[str, object],
    *,
    pix_fmt: str = "yuv420p",
    convert: "Callable[[av.VideoFrame], av.VideoFrame] | None" = None,
) -> Path:
    """BGR ``frames`` written with PyAV's ``codec`` at ``rate``, each frame ``convert``-ed first if given."""
    import av

    with av.open(str(target), "w") as container:
        stream = cast("av.VideoStream", container.add_stream(codec, rate=rate))
        stream.options = options
        for index, image in enumerate(frames):
            if index == 0:
                stream.width, stream.height, stream.pix_fmt = image.shape[1], image.shape[0], pix_fmt
            frame = av.VideoFrame.from_ndarray(image, format="bgr24")
            frame = convert(frame) if convert else frame
            frame.pts, frame.time_base = index, 1 / rate
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return target


def outputs(folder: Path) -> tuple[dict[int, list[dict[str, Any]]], dict[str, Any]]:
    """An analysed video's faces by frame index, and its summary."""
    timeline = json.loads((folder / "timeline.json").read_text())
    return {f["index"]: f["faces"] for f in timeline["frames"]}, json.loads((folder / "summary.json").read_text())


def overlap(a: list[int], b: list[int]) -> float:
    """Intersection over union of two [x, y, w, h] boxes."""
    width = max(0, min(a[0] + a[2], b[0] + b[2]) - max(a[0], b[0]))
    height = max(0, min(a[1] + a[3], b[1] + b[3]) - max(a[1], b[1]))
    inter = width * height
    return inter / (a[2] * a[3] + b[2] * b[3] - inter)
