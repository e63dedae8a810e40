"""Output files are replaced whole: a reader sees the old file or the new one, never a part."""

import json
import stat
import threading
from pathlib import Path

import pytest

from aggregator.writers import write_atomic, write_csv, write_json


def test_a_failed_write_leaves_the_previous_file_and_no_temporary(tmp_path: Path) -> None:
    target = tmp_path / "summary.json"
    write_json(target, {"frames_total": 1})
    with pytest.raises(TypeError):
        write_json(target, {"frames_total": object()})  # not serialisable: fails before any byte is written
    assert json.loads(target.read_text()) == {"frames_total": 1}
    assert [p.name for p in tmp_path.iterdir()] == ["summary.json"]


def test_concurrent_readers_only_ever_see_complete_files(tmp_path: Path) -> None:
    target = tmp_path / "timeline.json"
    versions = [json.dumps({"v": i, "pad": "x" * 200_000}) for i in range(30)]
    write_atomic(target, versions[0])
    seen: list[str] = []
    done = threading.Event()

    def read() -> None:
        while not done.is_set():
            seen.append(target.read_text())

    reader = threading.Thread(target=read)
    reader.start()
    for text in versions[1:]:
        write_atomic(target, text)
    done.set()
    reader.join()
    assert seen
    assert all(text in versions for text in seen)  # every read was one whole version


def test_an_output_has_the_mode_of_any_new_file_not_the_temporary_files_private_one(tmp_path: Path) -> None:
    """A web server, the API or a colleague running as another user reads the outputs."""
    write_atomic(tmp_path / "summary.json", "{}")
    (tmp_path / "plain.txt").write_text("")
    assert stat.S_IMODE((tmp_path / "summary.json").stat().st_mode) == stat.S_IMODE(
        (tmp_path / "plain.txt").stat().st_mode
    )


def test_a_file_system_that_keeps_no_unix_modes_still_gets_the_outputs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """FAT and exFAT (an SD card, a USB drive) refuse to change a file's mode (EPERM) unless mounted
    `quiet`: every output would have failed there, and a video never completed."""
    import errno
    import os

    def refuse(fd: int, mode: int) -> None:
        raise PermissionError(errno.EPERM, "Operation not permitted")

    monkeypatch.setattr(os, "fchmod", refuse)
    write_json(tmp_path / "summary.json", {"frames_total": 1})
    write_csv(tmp_path / "timeline.csv", ["index"], [[0]])
    assert (tmp_path / "summary.json").read_text() == '{\n "frames_total": 1\n}\n'
    assert (tmp_path / "timeline.csv").read_text() == "index\n0\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["summary.json", "timeline.csv"]  # no temporary left
