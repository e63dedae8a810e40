"""What several benchmarks share: the CPU they ran on, and a video analysed by the real pipeline."""

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

CPU_FLAGS = ("avx2", "avx512f", "avx512_vnni", "amx_int8")  # what int8 and detector speed depend on


def cpu_description() -> str:
    """The CPU model, its core count and which of ``CPU_FLAGS`` it has (every speed claim names it)."""
    info = Path("/proc/cpuinfo").read_text().splitlines()
    model = next((line.split(":", 1)[1].strip() for line in info if line.startswith("model name")), "?")
    flags = set(next((line.split(":", 1)[1].split() for line in info if line.startswith("flags")), []))
    shown = ", ".join(f"{flag} {'yes' if flag in flags else 'no'}" for flag in CPU_FLAGS)
    return f"{model}, {os.cpu_count()} cores; {shown}"


def analysed_timeline(video: Path, out: Path, yunet: Path) -> dict[str, Any]:
    """``emostream analyze VIDEO`` with YuNet, as a user runs it; its timeline.json."""
    command = [sys.executable, "-m", "emostream", "analyze", str(video), "--out", str(out), "--yunet-model", str(yunet)]
    subprocess.run(command, check=True, capture_output=True)
    timeline: dict[str, Any] = json.loads((out / video.stem / "timeline.json").read_text())
    return timeline
