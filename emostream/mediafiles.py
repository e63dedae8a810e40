"""Which files are videos, by name: what the uploads watcher takes and ``analyze FOLDER`` analyses.

By suffix, not by content: a folder may also hold notes, subtitles and thumbnails, which should be
left alone rather than each reported as "not a readable video". Any file named on a command line
is still tried, whatever its name.
"""

import os
from pathlib import Path

from emostream.errors import ConfigError

VIDEO_SUFFIXES = frozenset(
    {
        ".mp4", ".m4v", ".mov", ".qt", ".avi", ".divx", ".mkv", ".webm", ".mpg", ".mpeg", ".mpe", ".ts",
        ".mts", ".m2ts",  # camcorders (AVCHD)
        ".m2t", ".mod", ".tod",  # HDV tape captures; JVC and Panasonic SD and HD camcorders
        ".3gp", ".3g2", ".wmv", ".asf", ".flv", ".f4v", ".ogv", ".rm", ".rmvb",
        ".dv", ".vob", ".vro", ".mxf",  # tape camcorders, DVDs (and DVD recorders), broadcast
        ".tp", ".trp",  # TV recorders
        ".gif",  # animated: reaction clips, screen captures
        ".h264", ".264", ".h265", ".265", ".hevc", ".m2v", ".m1v", ".mjpeg", ".mjpg",  # raw streams: CCTV exports
        ".y4m", ".ivf",  # test sequences
    }
)  # fmt: skip
# A file being copied or downloaded under a temporary name: it will be renamed when complete.
ARRIVING_SUFFIXES = frozenset({".part", ".partial", ".crdownload", ".download", ".tmp", ".filepart"})


def display_text(path: Path) -> str:
    """The path as text for people, logs and Redis: a name that is not UTF-8 (Latin-1 out of an old
    zip) has its odd bytes shown as U+FFFD instead of the lone surrogates Python reads them as, which
    neither Redis's client nor a UTF-8 log can encode."""
    return os.fsencode(path).decode("utf-8", "replace")


def display_name(path: Path) -> str:
    """The file's name alone, as ``display_text``."""
    return display_text(Path(path.name))


def videos_in(folder: Path) -> list[Path]:
    """The video files directly in ``folder`` (not in its subfolders, not hidden), by name."""
    return sorted(
        p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in VIDEO_SUFFIXES and not p.name.startswith(".")
    )


def others_in(folder: Path) -> list[Path]:
    """The files directly in ``folder`` that ``videos_in`` leaves out (not hidden ones, nor ones
    still arriving under a temporary name), by name."""
    return sorted(
        p for p in folder.iterdir()
        if p.is_file() and not p.name.startswith(".")
        and p.suffix.lower() not in VIDEO_SUFFIXES | ARRIVING_SUFFIXES
    )  # fmt: skip


def videos_under(folder: Path, outside: Path | None = None) -> list[Path]:
    """The video files in ``folder``'s subfolders, however deep (not hidden ones, nor ``outside``,
    where outputs go), by path: a camera's card keeps them in ``DCIM/100GOPRO`` or, for AVCHD,
    ``PRIVATE/AVCHD/BDMV/STREAM``."""
    skipped = outside.resolve() if outside is not None else None
    found: list[Path] = []
    for directory, subfolders, _ in os.walk(folder):
        subfolders[:] = sorted(
            name for name in subfolders
            if not name.startswith(".") and (Path(directory) / name).resolve() != skipped
        )  # fmt: skip
        if Path(directory) != folder:
            found += videos_in(Path(directory))
    return found


def expand_folders(paths: list[Path], outside: Path | None = None) -> list[Path]:
    """Each folder replaced by the videos directly in it or, where it has none, those in its
    subfolders (``videos_under``; never in ``outside``); files stay as named, in order."""
    expanded: list[Path] = []
    for path in paths:
        if not path.is_dir():
            expanded.append(path)
        elif found := videos_in(path) or videos_under(path, outside):
            expanded += found
        else:
            suffixes = " ".join(sorted(VIDEO_SUFFIXES))
            raise ConfigError(f"{path}: a folder without a video file in it or below it (looked for {suffixes})")
    return expanded
