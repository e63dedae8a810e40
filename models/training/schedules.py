"""Learning-rate schedule: cosine annealing with warm restarts (SGDR), backend-agnostic.

The first cycle warms up linearly from a tenth of the peak, then follows a half cosine to
zero; each later cycle restarts at ``restart_decay`` times the previous peak. With one
cycle this is exactly ``keras.optimizers.schedules.CosineDecay`` with a warm-up, so a run
trained with one cycle can be resumed into a recipe that adds cycles after it.
"""

import math
from typing import Any

import keras
from keras import ops


@keras.saving.register_keras_serializable(package="emostream")
class CosineRestarts(keras.optimizers.schedules.LearningRateSchedule):  # type: ignore[misc]
    def __init__(self, peak: float, cycle_steps: list[int], warmup_steps: int, restart_decay: float) -> None:
        super().__init__()
        if not cycle_steps or min(cycle_steps) < 1 or cycle_steps[0] < warmup_steps:
            raise ValueError(f"cycles must be positive and hold the warm-up: {cycle_steps}, warm-up {warmup_steps}")
        self.peak = float(peak)
        self.cycle_steps = [int(n) for n in cycle_steps]
        self.warmup_steps = int(warmup_steps)
        self.restart_decay = float(restart_decay)

    def __call__(self, step: Any) -> Any:
        step = ops.cast(step, "float32")
        rate = ops.zeros((), dtype="float32")
        start = 0
        for cycle, length in enumerate(self.cycle_steps):
            peak = self.peak * self.restart_decay**cycle
            warmup = self.warmup_steps if cycle == 0 else 0
            local = step - start
            progress = ops.clip((local - warmup) / max(1, length - warmup), 0.0, 1.0)
            value = peak * 0.5 * (1.0 + ops.cos(math.pi * progress))
            if warmup:
                ramp = peak / 10 + (peak - peak / 10) * local / warmup
                value = ops.where(local < warmup, ramp, value)
            rate = ops.where(local >= 0, value, rate)  # later cycles override earlier ones
            start += length
        return rate

    def get_config(self) -> dict[str, Any]:
        return {
            "peak": self.peak,
            "cycle_steps": self.cycle_steps,
            "warmup_steps": self.warmup_steps,
            "restart_decay": self.restart_decay,
        }
