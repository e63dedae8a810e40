"""Run-folder files are replaced whole: a reader never sees half of one."""

import math
from pathlib import Path

import pytest

from models.training.runfolder import (
    HISTORY,
    best_logged,
    epochs_done,
    trim_history,
    write_atomically,
    write_epochs_done,
)


def test_epochs_done_reads_what_write_epochs_done_wrote(tmp_path: Path) -> None:
    assert epochs_done(tmp_path) == 0
    write_epochs_done(tmp_path, 3)
    write_epochs_done(tmp_path, 4)
    assert epochs_done(tmp_path) == 4
    assert sorted(p.name for p in tmp_path.iterdir()) == ["state.json"]


def test_a_write_that_fails_leaves_the_previous_file(tmp_path: Path) -> None:
    target = tmp_path / "checkpoint.keras"
    target.write_text("epoch 3")

    def half_then_fail(path: Path) -> None:
        path.write_text("epoch 4, half wri")
        raise OSError("disk full")

    with pytest.raises(OSError, match="disk full"):
        write_atomically(target, half_then_fail)
    assert target.read_text() == "epoch 3"


def test_the_temporary_file_keeps_the_suffix(tmp_path: Path) -> None:
    """Keras saves only to names ending in .keras."""
    seen: list[str] = []

    def write(path: Path) -> None:
        seen.append(path.name)
        path.write_text("x")

    write_atomically(tmp_path / "epoch-001.keras", write)
    assert seen == ["tmp-epoch-001.keras"]
    assert (tmp_path / "epoch-001.keras").read_text() == "x"


HEADER = "epoch,accuracy,loss,val_accuracy,val_loss"


def test_history_keeps_only_the_epochs_recorded_as_done(tmp_path: Path) -> None:
    # Killed after logging epoch index 2 (the third) but before recording it as done; the last
    # line was cut short by the kill.
    rows = [f"{epoch},0.5,1.2,0.6,1.1" for epoch in range(3)]
    (tmp_path / HISTORY).write_text("\n".join([HEADER, *rows, "3,0.5"]) + "\n")
    trim_history(tmp_path, 2)
    assert (tmp_path / HISTORY).read_text() == "\n".join([HEADER, *rows[:2]]) + "\n"
    trim_history(tmp_path, 0)
    assert (tmp_path / HISTORY).read_text() == HEADER + "\n"


def test_a_history_without_a_header_is_removed_and_none_is_left_alone(tmp_path: Path) -> None:
    trim_history(tmp_path, 3)
    assert not (tmp_path / HISTORY).exists()
    (tmp_path / HISTORY).write_text("")
    trim_history(tmp_path, 3)
    assert not (tmp_path / HISTORY).exists()


def test_the_best_logged_value_is_what_a_resumed_run_must_beat(tmp_path: Path) -> None:
    assert best_logged(tmp_path, "val_accuracy") == -math.inf
    rows = ["0,0.5,1.2,0.61,1.1", "1,0.6,1.1,0.65,1.0", "2,0.7,1.0,0.63,1.0"]
    (tmp_path / HISTORY).write_text("\n".join([HEADER, *rows]) + "\n")
    assert best_logged(tmp_path, "val_accuracy") == 0.65
    assert best_logged(tmp_path, "accuracy") == 0.7
