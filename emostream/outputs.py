"""What a finished video's output folder says, for the services that report on it (``analyze``, the API)."""

import contextlib
import json
from pathlib import Path
from typing import Any


def written_summary(folder: Path) -> dict[str, Any] | None:
    """The video's ``summary.json`` (written last of its files: there, they all are); None where it cannot be read."""
    with contextlib.suppress(OSError, ValueError):
        summary = json.loads((folder / "summary.json").read_text(encoding="utf-8"))
        return summary if isinstance(summary, dict) else None
    return None


def summary_warnings(folder: Path) -> list[str] | None:
    """The warnings of the video's ``summary.json``: its reading's (a damaged or truncated file), and
    what its results suggest (frames downscaled past small faces); None where none can be read."""
    summary = written_summary(folder)
    return None if summary is None else [str(warning) for warning in summary.get("warnings", [])]


def video_warnings(folder: Path, finished: bool, reading: list[str]) -> list[str]:
    """A video's warnings: its summary's once it is finished and that is written (they add what its
    results suggest), else ``reading``'s, those of the source's reading."""
    written = summary_warnings(folder) if finished else None
    return reading if written is None else written


def expired_status(folder: Path, video_id: str) -> dict[str, Any] | None:
    """A finished video whose Redis state has expired (``EMO_RESULTS_TTL_S``) while its files are kept,
    as they describe it (``expired``: true); its times and frames sent went with its Redis state.
    None where it has no ``summary.json`` to read (not finished, deleted, or another id)."""
    summary = written_summary(folder)
    if summary is None:
        return None
    written_at: float | None = None
    with contextlib.suppress(OSError):
        written_at = (folder / "summary.json").stat().st_mtime
    return {
        "video_id": video_id,
        "status": summary.get("status"),
        "source": summary.get("source"),
        "error": None,
        "frames_sent": None,
        "frames_expected": summary.get("frames_expected"),
        "frames_processed": summary.get("frames_total"),
        "frames_failed": summary.get("frames_failed"),
        "warnings": [str(warning) for warning in summary.get("warnings", [])],
        "created_at": None,
        "updated_at": written_at,
        "elapsed_s": None,
        "outputs": output_names(folder),
        "expired": True,
    }


def output_names(folder: Path) -> list[str]:
    """The files of a video's output folder, but those being written (``.name.tmp``)."""
    return sorted(p.name for p in folder.glob("*") if not p.name.startswith("."))
