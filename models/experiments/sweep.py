"""Train several recipes at once on one machine before a deadline (a GPU lease), then average them.

    python -m models sweep --deadline 480 --out OUT [--teacher PATH ...] [--teacher-cache teacher.npz] \
        NAME=RECIPE[@SEED] ...

One small network leaves most of a large GPU idle, so the runs train side by side, each
``python -m models train --arch RECIPE --out runs/NAME`` in its own process. Runs are named in
priority order: while more than one is running and one of them would miss the deadline at its
recent pace, the last one named is stopped (at most once per ``--settle`` seconds, so that
the others' pace is measured under the new load). At the deadline all are stopped; a stopped
run resumes from its last checkpoint with its ``models.training.train`` command (run-folder files are
replaced whole, so a run stopped at any moment resumes). Every run that
finished is weight-averaged (``models.training.average``), and its ``averaged.keras`` is copied to OUT in
parts of at most ``--part-bytes`` (for transfer limits); OUT/summary.json holds each run's
epochs, history and run record. ``python -m models unpack OUT`` puts each averaged run back
together as ``runs/NAME``; ``models.training.export`` takes it from there.
"""

import argparse
import json
import logging
import shutil
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from emostream.modelstore import file_sha256
from models.training.data import add_data_argument, add_ferplus_argument
from models.training.recipes import all_recipes
from models.training.runfolder import AVERAGED, HISTORY, TEACHER_CACHE, epochs_done

log = logging.getLogger(__name__)

RUNS_DIR = Path("runs")
PACE_EPOCHS = 3  # the pace is taken over the last few epochs, so a change in load shows quickly


@dataclass(frozen=True)
class RunSpec:
    name: str
    recipe: str
    seed: int | None = None

    @classmethod
    def parse(cls, text: str) -> "RunSpec":
        """``NAME=RECIPE`` or ``NAME=RECIPE@SEED``."""
        name, sep, rest = text.partition("=")
        recipe, _, seed = rest.partition("@")
        if not sep or not name or recipe not in all_recipes():
            raise ValueError(f"{text!r}: expected NAME=RECIPE[@SEED] with RECIPE one of {sorted(all_recipes())}")
        return cls(name, recipe, int(seed) if seed else None)


@dataclass
class Progress:
    """When each epoch count of one run was first seen (seconds since the sweep started)."""

    seen: list[tuple[int, float]] = field(default_factory=list)

    def record(self, epochs: int, now: float) -> None:
        if not self.seen or self.seen[-1][0] != epochs:
            self.seen.append((epochs, now))

    def projected_finish(self, total: int, now: float, since: float) -> float | None:
        """When the run would end at its pace over its last epochs seen after ``since``.

        None until there are ``PACE_EPOCHS`` epochs to measure, the first epoch excluded
        (it includes compilation)."""
        recent = [(done, at) for done, at in self.seen if done >= 1 and at >= since][-(PACE_EPOCHS + 1) :]
        if len(recent) < PACE_EPOCHS:
            return None
        (first_done, first_at), (last_done, last_at) = recent[0], recent[-1]
        pace = (last_at - first_at) / (last_done - first_done)
        return now + pace * (total - last_done)


def run_to_stop(
    running: Sequence[str],
    finishes: dict[str, float | None],
    *,
    deadline: float,
    now: float,
    last_stop: float,
    settle: float,
) -> str | None:
    """The run to stop now, if any: the last named one, while another would miss the deadline."""
    if len(running) < 2 or now - last_stop < settle:
        return None
    late = [name for name in running if (finish := finishes.get(name)) is not None and finish > deadline]
    return running[-1] if late else None


def _train_command(spec: RunSpec, args: argparse.Namespace) -> list[str]:
    command = [sys.executable, "-m", "models", "train", "--arch", spec.recipe, "--out", str(RUNS_DIR / spec.name)]
    command += ["--data", str(args.data), "--ferplus", str(args.ferplus)]
    for teacher in args.teachers:
        command += ["--teacher", str(teacher)]
    if spec.seed is not None:
        command += ["--seed", str(spec.seed)]
    if args.limit is not None:
        command += ["--limit", str(args.limit)]
    if args.epochs is not None:
        command += ["--epochs", str(args.epochs)]
    return command


def total_epochs(spec: RunSpec, args: argparse.Namespace) -> int:
    return int(args.epochs) if args.epochs is not None else all_recipes()[spec.recipe].epochs


def train_until(specs: Sequence[RunSpec], args: argparse.Namespace, started: float) -> None:
    """Run every spec's training side by side; stop the late and, at the deadline, the rest."""
    processes = {}
    for spec in specs:
        (RUNS_DIR / spec.name).mkdir(parents=True, exist_ok=True)
        if args.teacher_cache is not None:  # teachers' predictions made elsewhere (models/training/distill.py)
            shutil.copy(args.teacher_cache, RUNS_DIR / spec.name / TEACHER_CACHE)
        with (RUNS_DIR / f"{spec.name}.log").open("ab") as out:
            processes[spec.name] = subprocess.Popen(_train_command(spec, args), stdout=out, stderr=subprocess.STDOUT)
    try:
        _watch(processes, specs, args, started)
    finally:  # also when watching fails: no training may outlive the sweep and its deadline
        for process in processes.values():
            if process.poll() is None:
                process.kill()
            process.wait()


def _watch(
    processes: dict[str, "subprocess.Popen[bytes]"], specs: Sequence[RunSpec], args: argparse.Namespace, started: float
) -> None:
    """Until every run has ended: measure paces, stop the last-named run while another would be
    late, and stop them all at the deadline."""
    progress = {spec.name: Progress() for spec in specs}
    totals = {spec.name: total_epochs(spec, args) for spec in specs}
    last_stop, last_report = -float("inf"), 0.0
    while running := [name for name, process in processes.items() if process.poll() is None]:
        time.sleep(args.poll)
        now = time.monotonic() - started
        for name in running:
            progress[name].record(epochs_done(RUNS_DIR / name), now)
        if now >= args.deadline:
            for name in running:
                log.warning("deadline: stopping %s after epoch %d", name, epochs_done(RUNS_DIR / name))
                processes[name].kill()
            break
        finishes = {name: progress[name].projected_finish(totals[name], now, last_stop) for name in running}
        victim = run_to_stop(
            running, finishes, deadline=args.deadline, now=now, last_stop=last_stop, settle=args.settle
        )
        if victim is not None:
            log.warning(
                "stopping %s after epoch %d so the others finish in time", victim, epochs_done(RUNS_DIR / victim)
            )
            processes[victim].kill()
            last_stop = now
        if now - last_report >= 30:
            last_report = now
            log.info("progress: %s", ", ".join(f"{n} {epochs_done(RUNS_DIR / n)}/{totals[n]}" for n in processes))


def average_and_collect(specs: Sequence[RunSpec], args: argparse.Namespace) -> dict[str, dict[str, object]]:
    """Average every finished run (in parallel) and copy the results into ``args.out`` in parts."""
    finished = [spec for spec in specs if epochs_done(RUNS_DIR / spec.name) == total_epochs(spec, args)]
    averaging = {
        spec.name: subprocess.Popen(
            [
                *(sys.executable, "-m", "models", "average", "--run", str(RUNS_DIR / spec.name)),
                *("--last", str(args.last), "--data", str(args.data), "--ferplus", str(args.ferplus)),
            ],
            stdout=subprocess.PIPE,
        )
        for spec in finished
    }
    summary: dict[str, dict[str, object]] = {}
    for spec in specs:
        run = RUNS_DIR / spec.name
        entry: dict[str, object] = {
            "recipe": spec.recipe,
            "epochs": total_epochs(spec, args),
            "epochs_done": epochs_done(run),
        }
        if (run / HISTORY).exists():
            entry["history"] = (run / HISTORY).read_text()
        if (run / "run.json").exists():
            entry["run"] = json.loads((run / "run.json").read_text())
        if spec.name in averaging:
            stdout, _ = averaging[spec.name].communicate()
            if averaging[spec.name].returncode == 0:
                entry["averaged"] = json.loads(stdout.decode().strip().splitlines()[-1])
                entry["parts"] = split_file(run / AVERAGED, args.out / f"{spec.name}-{AVERAGED}", args.part_bytes)
                entry["sha256"] = file_sha256(run / AVERAGED)  # models unpack checks the parts joined back
            else:
                log.error("averaging %s failed (exit %d)", spec.name, averaging[spec.name].returncode)
        summary[spec.name] = entry
    (args.out / "summary.json").write_text(json.dumps(summary, indent=1))
    return summary


def split_file(source: Path, stem: Path, part_bytes: int) -> list[str]:
    """``source`` copied to ``stem.part0``, ``stem.part1``, ... of at most ``part_bytes`` each."""
    names: list[str] = []
    with source.open("rb") as fh:
        while block := fh.read(part_bytes):
            part = stem.with_name(f"{stem.name}.part{len(names)}")
            part.write_bytes(block)
            names.append(part.name)
    return names


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("runs", nargs="+", type=RunSpec.parse, help="NAME=RECIPE[@SEED], in priority order")
    parser.add_argument("--deadline", type=float, required=True, help="seconds from start until training stops")
    parser.add_argument("--out", type=Path, required=True, help="folder for the averaged networks and summary.json")
    parser.add_argument("--teacher", dest="teachers", type=Path, action="append", default=[])
    parser.add_argument("--teacher-cache", type=Path, help="a teacher.npz to start every run folder with")
    add_data_argument(parser)
    add_ferplus_argument(parser)
    parser.add_argument("--last", type=int, default=10, help="final epochs to average")
    parser.add_argument("--part-bytes", type=int, default=15_000_000)
    parser.add_argument("--settle", type=float, default=45.0, help="seconds between two stops")
    parser.add_argument("--poll", type=float, default=3.0, help="seconds between looks at the runs")
    parser.add_argument("--limit", type=int, help="train on this many images only (smoke tests)")
    parser.add_argument("--epochs", type=int, help="override every recipe's epochs (one cosine cycle)")


def run(args: argparse.Namespace) -> None:
    started = time.monotonic()
    if len({spec.name for spec in args.runs}) != len(args.runs):
        raise SystemExit("run names must differ")
    args.out.mkdir(parents=True, exist_ok=True)
    train_until(args.runs, args, started)
    summary = average_and_collect(args.runs, args)
    for name, entry in summary.items():
        log.info("%s: %d/%d epochs, %s", name, entry["epochs_done"], entry["epochs"], entry.get("averaged"))
