import math
from itertools import pairwise

import pytest

from emostream.errors import ConfigError
from producer.sampling import Sampler, plan_sampling
from tests.conftest import frame_time_ms, kept_indices


def kept(source_fps: float, sample_fps: float | None, frames: int, max_fps: float = 10.0) -> list[int]:
    return kept_indices(plan_sampling(source_fps, sample_fps, max_fps, every_frame=False), frames)


def test_ntsc_video_sampled_at_10_fps_keeps_one_frame_per_100_ms() -> None:
    indices = kept(29.97, 10.0, 464)
    assert len(indices) == 155  # 15.48 s at 10 fps, rounded up: frame 0 is always kept
    gaps = {round(frame_time_ms(b, 29.97) - frame_time_ms(a, 29.97)) for a, b in pairwise(indices)}
    assert gaps <= {100, 133}  # never closer than the interval, never a skipped interval


def test_sampling_does_not_drift_over_an_hour() -> None:
    indices = kept(30.0, 7.5, 30 * 3600)
    assert len(indices) == 7.5 * 3600
    assert indices[-1] == 30 * 3600 - 4


def test_default_is_the_source_rate_capped() -> None:
    assert plan_sampling(29.97, None, 10.0, every_frame=False).sample_fps == 10.0
    assert plan_sampling(5.0, None, 10.0, every_frame=False).sample_fps == 5.0


def test_asking_for_more_than_the_source_rate_keeps_every_frame() -> None:
    assert kept(15.0, 60.0, 40) == list(range(40))


def test_every_frame_overrides_the_cap() -> None:
    plan = plan_sampling(29.97, None, 10.0, every_frame=True)
    assert plan.every_frame
    assert kept_indices(plan, 464) == list(range(464))


@pytest.mark.parametrize("fps", [0.0, -1.0, math.nan, math.inf])
def test_invalid_fps_is_a_config_error(fps: float) -> None:
    with pytest.raises(ConfigError, match="--fps"):
        plan_sampling(30.0, fps, 10.0, every_frame=False)


def test_unknown_source_rate_falls_back_to_the_cap() -> None:
    plan = plan_sampling(0.0, None, 10.0, every_frame=False)
    assert plan.source_fps == 10.0


def test_sampler_keeps_frames_at_or_after_each_due_time() -> None:
    sampler = Sampler(plan_sampling(30.0, 10.0, 10.0, every_frame=False))
    decisions = [sampler.keep(frame_time_ms(i, 30.0)) for i in range(7)]
    assert decisions == [True, False, False, True, False, False, True]
