"""A training run's folder: the names that training, averaging, distillation and sweeps share.

No Keras here, so a process that only watches runs (``models.experiments.sweep``) starts without it.
"""

import csv
import json
import math
import os
from collections.abc import Callable
from pathlib import Path

STATE = "state.json"  # the last finished epoch, written after each one
AVERAGED = "averaged.keras"  # models.training.average's result
TEACHER_CACHE = "teacher.npz"  # models.training.distill's teacher predictions
HISTORY = "history.csv"  # one row per finished epoch (Keras' CSVLogger, appending)


def epochs_done(run_dir: Path) -> int:
    """Epochs a run has finished, from the state written after each epoch (0 for none)."""
    state = run_dir / STATE
    return int(json.loads(state.read_text())["epochs_done"]) if state.exists() else 0


def write_epochs_done(run_dir: Path, epochs: int) -> None:
    write_atomically(run_dir / STATE, lambda path: path.write_text(json.dumps({"epochs_done": epochs})))


def trim_history(run_dir: Path, epochs: int) -> None:
    """Keep the history's rows for the first ``epochs`` epochs only, before training (re)starts.

    A run killed after logging an epoch but before recording it as done repeats that epoch when
    it resumes, and would log it twice; a line cut short by the kill is dropped as well."""
    path = run_dir / HISTORY
    if not path.exists():
        return
    lines = path.read_text().splitlines()
    if not lines:  # killed before the header was written: Keras writes it again on a missing file
        path.unlink()
        return
    header, *rows = lines
    columns = header.count(",")
    kept = [row for row in rows if row.count(",") == columns and _epoch(row) in range(epochs)]
    write_atomically(path, lambda temporary: temporary.write_text("".join(f"{line}\n" for line in [header, *kept])))


def best_logged(run_dir: Path, metric: str) -> float:
    """The highest ``metric`` in the run's history, -inf for none: what a resumed run must beat."""
    path = run_dir / HISTORY
    if not path.exists():
        return -math.inf
    with path.open(newline="") as fh:
        return max((float(row[metric]) for row in csv.DictReader(fh) if row.get(metric)), default=-math.inf)


def _epoch(row: str) -> int | None:
    first = row.split(",", 1)[0]
    return int(first) if first.isdigit() else None


def write_atomically(path: Path, write: Callable[[Path], object]) -> None:
    """``write`` into a temporary file beside ``path``, then rename it over ``path``.

    Others read a run while it trains (a sweep polls its state; averaging may start as training
    is stopped), and a run can be killed at any moment: they see the previous file or the new
    one, never half of one. The temporary name keeps the suffix (Keras saves only to ``.keras``).
    """
    temporary = path.with_name(f"tmp-{path.name}")
    write(temporary)
    os.replace(temporary, path)
