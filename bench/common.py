"""What several benchmarks share: the CPU they ran on, and a video analysed by the real pipeline."""

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

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


def analysed_timeline(video: Path, out: Path, yunet: Path) -> dict[str, Any]:
    """``emostream analyze VIDEO`` with YuNet, as a user runs it; its timeline.json."""
    command = [sys.executable, "-m", "emostream", "analyze", str(video), "--out", str(out), "--yunet-model", str(yunet)]
    subprocess.run(command, check=True, capture_output=True)
    timeline: dict[str, Any] = json.loads((out / video.stem / "timeline.json").read_text())
    return timeline
