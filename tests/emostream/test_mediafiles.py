"""Which files are videos, by name: the uploads watcher's and ``analyze FOLDER``'s choice."""

import os
from pathlib import Path

import pytest

from emostream.errors import ConfigError
from emostream.mediafiles import display_name, display_text, expand_folders, others_in, videos_in


def touch(folder: Path, *names: str) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for name in names:
        (folder / name).write_bytes(b"")


def test_videos_are_found_by_suffix_in_any_case_and_everything_else_is_left(tmp_path: Path) -> None:
    touch(tmp_path, "b.MP4", "a.mov", "camcorder.MTS", "notes.txt", "talk.srt", ".partial.mp4", "thumb.jpg")
    touch(tmp_path, "reaction.gif", "hdv.m2t", "MOV001.MOD", "c.mp4.crdownload", "d.mkv.part", "README")
    touch(tmp_path / "sub", "deeper.mp4")
    assert [p.name for p in videos_in(tmp_path)] == ["MOV001.MOD", "a.mov", "b.MP4", "camcorder.MTS", "hdv.m2t",
                                                     "reaction.gif"]  # fmt: skip
    assert [p.name for p in others_in(tmp_path)] == ["README", "notes.txt", "talk.srt", "thumb.jpg"]


def test_folders_become_their_videos_and_files_stay_as_named_in_order(tmp_path: Path) -> None:
    touch(tmp_path / "day1", "2.mp4", "1.mp4", "readme.md")
    named = tmp_path / "notes.txt"  # named on the command line: tried, whatever its name
    assert expand_folders([named, tmp_path / "day1"]) == [
        named,
        tmp_path / "day1" / "1.mp4",
        tmp_path / "day1" / "2.mp4",
    ]


def test_a_cameras_card_is_searched_below_when_it_has_no_video_at_its_top(tmp_path: Path) -> None:
    """AVCHD keeps its clips in PRIVATE/AVCHD/BDMV/STREAM, GoPro in DCIM/100GOPRO: the card had been
    `a folder without a video file in it`. Hidden folders, and the outputs' folder, are not searched."""
    card = tmp_path / "card"
    touch(card / "PRIVATE" / "AVCHD" / "BDMV" / "STREAM", "00001.MTS", "00000.MTS")
    touch(card / "DCIM" / "100GOPRO", "GX010001.MP4", "GX010001.THM")
    touch(card / ".Trashes", "deleted.mp4")
    touch(card / "out" / "00000", "annotated.mp4")  # an earlier run's outputs, written onto the card
    assert [p.relative_to(card).as_posix() for p in expand_folders([card], outside=card / "out")] == [
        "DCIM/100GOPRO/GX010001.MP4",
        "PRIVATE/AVCHD/BDMV/STREAM/00000.MTS",
        "PRIVATE/AVCHD/BDMV/STREAM/00001.MTS",
    ]
    touch(card, "top.mp4")
    assert expand_folders([card], outside=card / "out") == [card / "top.mp4"]  # a folder's own come first


def test_a_folder_without_a_video_is_a_clear_error(tmp_path: Path) -> None:
    touch(tmp_path / "empty", "readme.md")
    with pytest.raises(ConfigError, match=r"empty: a folder without a video file in it or below it \(looked for .264"):
        expand_folders([tmp_path / "empty"])


def test_a_name_that_is_not_utf8_is_shown_with_replacement_characters_that_encode() -> None:
    """Latin-1 out of an old zip: Python reads the byte as a lone surrogate, which Redis's client,
    a UTF-8 log and OpenCV cannot take."""
    latin1 = Path(os.fsdecode(b"uploads/R\xe9union.mp4"))
    assert display_name(latin1) == "R\ufffdunion.mp4"
    assert display_text(latin1) == "uploads/R\ufffdunion.mp4"
    assert display_name(Path("会议.mp4")) == "会议.mp4"
    display_name(latin1).encode("utf-8")  # no UnicodeEncodeError
