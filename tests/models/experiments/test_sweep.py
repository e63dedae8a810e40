"""Several trainings side by side before a deadline: the stopping rule, and two real tiny runs."""

import argparse
import json
import os
from pathlib import Path

import numpy as np
import pytest

from models.experiments.sweep import Progress, RunSpec, run_to_stop, split_file
from models.experiments.unpack import unpack
from tests.conftest import FER2013, require_shared


def test_a_run_is_named_with_a_known_recipe_and_an_optional_seed() -> None:
    assert RunSpec.parse("a=vggbn-wide-kd80") == RunSpec("a", "vggbn-wide-kd80", None)
    assert RunSpec.parse("b=vggbn-wide-kd@7") == RunSpec("b", "vggbn-wide-kd", 7)
    for bad in ("vggbn", "=vggbn", "a=no-such-recipe", "a=vggbn@x"):
        with pytest.raises(ValueError):  # noqa: PT011 (int("x") and ours both say what is wrong)
            RunSpec.parse(bad)


def test_the_pace_is_measured_over_recent_epochs_without_the_first() -> None:
    progress = Progress()
    for epochs, at in [(0, 0.0), (1, 40.0), (2, 44.0), (2, 45.0), (3, 48.0)]:
        progress.record(epochs, at)
    assert progress.projected_finish(total=10, now=50.0, since=0.0) == pytest.approx(50.0 + 4.0 * 7)
    # After a change in load, only epochs seen since then count: too few yet.
    assert progress.projected_finish(total=10, now=50.0, since=45.0) is None
    progress.record(4, 50.0)
    progress.record(5, 52.0)
    assert progress.projected_finish(total=10, now=52.0, since=45.0) == pytest.approx(52.0 + 2.0 * 5)


def test_the_last_named_run_stops_while_another_would_be_late() -> None:
    running = ["first", "second", "third"]
    on_time = {"first": 100.0, "second": 200.0, "third": None}
    late = {**on_time, "first": 600.0}
    rule = {"deadline": 480.0, "now": 100.0, "last_stop": -1e9, "settle": 45.0}
    assert run_to_stop(running, on_time, **rule) is None
    assert run_to_stop(running, late, **rule) == "third"
    assert run_to_stop(running, late, **{**rule, "last_stop": 80.0}) is None  # the others' pace is not yet known
    assert run_to_stop(["first"], late, **rule) is None  # the last one runs on to the deadline


def test_files_are_split_into_parts_that_join_back(tmp_path: Path) -> None:
    source = tmp_path / "a.keras"
    source.write_bytes(np.random.default_rng(0).bytes(2500))
    names = split_file(source, tmp_path / "out-a.keras", 1000)
    assert names == ["out-a.keras.part0", "out-a.keras.part1", "out-a.keras.part2"]
    assert [(tmp_path / n).stat().st_size for n in names] == [1000, 1000, 500]
    assert b"".join((tmp_path / n).read_bytes() for n in names) == source.read_bytes()


def tiny_fer2013(folder: Path) -> Path:
    """256 Training and 128 PublicTest faces of the real data, in the shared folder's format."""
    shared = require_shared(FER2013)
    folder.mkdir()
    for name, count in (("train.npz", 256), ("publictest.npz", 128)):
        with np.load(shared / name) as data:
            np.savez(folder / name, x=data["x"][:count], y=data["y"][:count])
    return folder


@pytest.mark.slow
def test_two_runs_train_side_by_side_and_come_back_averaged(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    pytest.importorskip("keras", reason="the training stack is the 'train' extra")
    from models.__main__ import main

    data = tiny_fer2013(tmp_path / "fer2013")
    repo = Path(__file__).resolve().parents[3]
    monkeypatch.chdir(tmp_path)  # run folders go to ./runs
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(repo), os.environ.get("PYTHONPATH", "")]))
    out = tmp_path / "out"
    common = ["--data", str(data), "--ferplus", str(tmp_path / "no-votes"), "--epochs", "1", "--last", "1"]
    main(["sweep", "a=vggbn", "b=vggbn@3", "--deadline", "300", "--out", str(out), "--part-bytes", "3000000", *common])
    summary = json.loads((out / "summary.json").read_text())
    for name in ("a", "b"):
        assert summary[name]["epochs_done"] == 1
        assert 0.0 <= summary[name]["averaged"]["publictest_accuracy"] <= 1.0
        parts = [out / part for part in summary[name]["parts"]]
        assert len(parts) > 1
        assert b"".join(p.read_bytes() for p in parts) == (tmp_path / "runs" / name / "averaged.keras").read_bytes()
    assert summary["b"]["run"]["recipe"]["seed"] == 3
    assert summary["a"]["run"]["recipe"]["seed"] == 1

    # Back from the lease: the run folders rebuilt from the parts, and exported from there.
    assert unpack(out, tmp_path / "back") == ["a", "b"]
    for name in ("a", "b"):
        for file in ("averaged.keras", "run.json", "state.json"):
            assert (tmp_path / "back" / name / file).read_bytes() == (tmp_path / "runs" / name / file).read_bytes()
        history = [(tmp_path / folder / name / "history.csv").read_text().splitlines() for folder in ("back", "runs")]
        assert history[0] == history[1]  # Keras ends its lines with CRLF, the summary carries text
    back = tmp_path / "back" / "b"
    main(["export", "--run", str(back), "--checkpoint", "averaged.keras", "--out", str(back / "b.onnx"), "--no-int8",
          "--data", str(data)])  # fmt: skip
    assert (back / "b.onnx").stat().st_size > 0

    # A deadline before the first epoch ends: the run is stopped, nothing is averaged, and it says so.
    main(["sweep", "late=vggbn", "--deadline", "0.5", "--poll", "0.2", "--out", str(tmp_path / "late"), *common])
    late = json.loads((tmp_path / "late" / "summary.json").read_text())["late"]
    assert late["epochs_done"] == 0
    assert "parts" not in late


def test_no_training_outlives_a_sweep_that_fails(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """On a GPU lease the sweep once died reading a half-written state.json, and its trainings ran on."""
    import subprocess
    import sys
    import time

    from models.experiments import sweep

    monkeypatch.chdir(tmp_path)
    started: list[subprocess.Popen[bytes]] = []
    popen = subprocess.Popen

    def recorded(*args: object, **kwargs: object) -> subprocess.Popen[bytes]:
        started.append(popen(*args, **kwargs))  # type: ignore[call-overload]
        return started[-1]

    def unreadable(run_dir: Path) -> int:
        raise ValueError(f"{run_dir}/state.json: half written")

    sleeper = [sys.executable, "-c", "import time; time.sleep(60)"]
    monkeypatch.setattr(sweep, "_train_command", lambda spec, args: sleeper)
    monkeypatch.setattr(subprocess, "Popen", recorded)
    monkeypatch.setattr(sweep, "epochs_done", unreadable)
    parser = argparse.ArgumentParser()
    sweep.add_arguments(parser)
    argv = ["a=vggbn", "b=vggbn", "--deadline", "30", "--out", "out", "--poll", "0.1", "--data", "d", "--ferplus", "f"]
    args = parser.parse_args(argv)
    with pytest.raises(ValueError, match="half written"):
        sweep.train_until(args.runs, args, time.monotonic())
    assert len(started) == 2
    assert all(process.poll() is not None for process in started)
