"""Which decoded frames to keep: a pure function of frame times, unit-tested.

A frame is kept when its presentation time reaches the next due time; due times
are multiples of 1/fps, so the sampled rate has no drift over long videos.
"""

import math
from dataclasses import dataclass

from emostream.errors import ConfigError


@dataclass(frozen=True)
class SamplingPlan:
    source_fps: float
    sample_fps: float  # equals source_fps when every frame is kept

    @property
    def every_frame(self) -> bool:
        return self.sample_fps >= self.source_fps


def plan_sampling(source_fps: float, fps: float | None, max_fps: float, every_frame: bool) -> SamplingPlan:
    """Choose the sampling rate: every frame, the requested rate, or the source rate capped at ``max_fps``."""
    if fps is not None and (not math.isfinite(fps) or fps <= 0):
        raise ConfigError(f"--fps must be a positive number, got {fps}")
    source = source_fps if math.isfinite(source_fps) and source_fps > 0 else max_fps
    if every_frame:
        return SamplingPlan(source, source)
    wanted = fps if fps is not None else max_fps
    return SamplingPlan(source, min(wanted, source))


class Sampler:
    """Stateful keep/skip decision for frames in presentation order."""

    EPSILON_MS = 1e-3  # absorbs float rounding in index * 1000 / fps; frames are >= 4 ms apart

    def __init__(self, plan: SamplingPlan) -> None:
        self.interval_ms = 1000.0 / plan.sample_fps
        self.every_frame = plan.every_frame
        self.next_due_ms = 0.0

    def keep(self, t_ms: float) -> bool:
        if self.every_frame:
            return True
        if t_ms + self.EPSILON_MS < self.next_due_ms:
            return False
        # Due times are multiples of the interval, computed, not accumulated: no drift.
        slots = math.floor((t_ms + self.EPSILON_MS) / self.interval_ms) + 1
        self.next_due_ms = slots * self.interval_ms
        return True
