"""A training run's folder: the names that training, averaging, distillation and sweeps share.

No Keras here, so a process that only watches runs (``models.sweep``) starts without it.
"""

import json
from pathlib import Path

STATE = "state.json"  # the last finished epoch, written after each one
AVERAGED = "averaged.keras"  # models.average's result
TEACHER_CACHE = "teacher.npz"  # models.distill's teacher predictions


def epochs_done(run_dir: Path) -> int:
    """Epochs a run has finished, from the state written after each epoch (0 for none)."""
    state = run_dir / STATE
    return int(json.loads(state.read_text())["epochs_done"]) if state.exists() else 0
