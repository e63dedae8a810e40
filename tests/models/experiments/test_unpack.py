"""Run folders rebuilt from a sweep's output: joined parts, the run's record, and what goes wrong in transfer."""

import hashlib
import json
from pathlib import Path

import numpy as np
import pytest

from models.experiments.sweep import split_file
from models.experiments.unpack import unpack
from models.training.runfolder import epochs_done

HISTORY = "epoch,accuracy\n0,0.4\n1,0.5\n"


def brought_back(folder: Path, network: bytes, part_bytes: int = 1000) -> Path:
    """A sweep's OUT as a lease returns it: run a averaged in parts, run late stopped before its end."""
    folder.mkdir()
    trained = folder.parent / "trained.keras"
    trained.write_bytes(network)
    summary = {
        "a": {
            "recipe": "vggbn", "epochs": 2, "epochs_done": 2, "history": HISTORY,
            "run": {"recipe": {"name": "vggbn", "seed": 3}}, "averaged": {"publictest_accuracy": 0.5},
            "parts": split_file(trained, folder / "a-averaged.keras", part_bytes),
            "sha256": hashlib.sha256(network).hexdigest(),
        },
        "late": {"recipe": "vggbn", "epochs": 2, "epochs_done": 1, "history": HISTORY},
    }  # fmt: skip
    (folder / "summary.json").write_text(json.dumps(summary))
    return folder


def test_an_averaged_run_comes_back_whole_and_a_stopped_one_is_skipped(tmp_path: Path) -> None:
    network = np.random.default_rng(0).bytes(2500)
    out = brought_back(tmp_path / "sweep", network)
    assert unpack(out, tmp_path / "runs") == ["a"]
    run = tmp_path / "runs" / "a"
    assert (run / "averaged.keras").read_bytes() == network
    assert json.loads((run / "run.json").read_text())["recipe"]["seed"] == 3
    assert (run / "history.csv").read_text() == HISTORY
    assert epochs_done(run) == 2
    assert not (tmp_path / "runs" / "late").exists()


def test_a_part_cut_short_or_missing_is_an_error_not_a_broken_network(tmp_path: Path) -> None:
    out = brought_back(tmp_path / "sweep", np.random.default_rng(1).bytes(2500))
    part = out / "a-averaged.keras.part1"
    whole = part.read_bytes()
    part.write_bytes(whole[:600])
    with pytest.raises(SystemExit, match="unequal sizes"):
        unpack(out, tmp_path / "runs")
    part.unlink()
    with pytest.raises(SystemExit, match=r"missing.*part1"):
        unpack(out, tmp_path / "runs")
    part.write_bytes(whole)
    (out / "a-averaged.keras.part2").write_bytes(b"")
    with pytest.raises(SystemExit, match="unequal sizes"):
        unpack(out, tmp_path / "runs")
    assert not (tmp_path / "runs" / "a").exists()


def test_an_existing_run_folder_is_never_overwritten_and_names_are_checked(tmp_path: Path) -> None:
    out = brought_back(tmp_path / "sweep", b"network")
    (tmp_path / "runs" / "a").mkdir(parents=True)
    (tmp_path / "runs" / "a" / "averaged.keras").write_bytes(b"kept")
    with pytest.raises(SystemExit, match="exists"):
        unpack(out, tmp_path / "runs")
    assert (tmp_path / "runs" / "a" / "averaged.keras").read_bytes() == b"kept"
    with pytest.raises(SystemExit, match="no run named b"):
        unpack(out, tmp_path / "elsewhere", ["a", "b"])
    assert unpack(out, tmp_path / "elsewhere", ["a"]) == ["a"]


def test_parts_that_join_to_other_bytes_are_caught_by_the_hash(tmp_path: Path) -> None:
    out = brought_back(tmp_path / "sweep", np.random.default_rng(2).bytes(2500))
    first, second = out / "a-averaged.keras.part0", out / "a-averaged.keras.part1"
    swapped = first.read_bytes()
    first.write_bytes(second.read_bytes())
    second.write_bytes(swapped)  # the same sizes, in the wrong order
    with pytest.raises(SystemExit, match="SHA-256"):
        unpack(out, tmp_path / "runs")
    assert not (tmp_path / "runs" / "a").exists()
