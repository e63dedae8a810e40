"""A long finalisation's pulse: the liveness beaten and the video's finalising lease renewed, at most
every ``every_s``, and never another aggregator's lease (a real server: WATCH and MULTI)."""

import itertools

import pytest
import redis

from aggregator.keepalive import KeepAlive
from emostream import keys
from emostream.metrics import Liveness

LEASE = keys.video_finalising_key("v")


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def beats() -> list[int]:
    return []


def liveness_counting(beats: list[int]) -> Liveness:
    counter = itertools.count(1)
    return Liveness(report=lambda: beats.append(next(counter)), report_every_s=0)


def test_it_beats_and_renews_the_lease_at_most_every_interval(real_redis: "redis.Redis", beats: list[int]) -> None:
    real_redis.set(LEASE, "a1", px=500)  # nearly lapsed
    clock = Clock()
    pulse = KeepAlive(real_redis, "v", "a1", liveness_counting(beats), every_s=1.0, clock=clock)
    for _ in range(100):  # a hundred frames within the second: nothing but clock reads
        pulse()
    assert beats == []
    assert 0 < real_redis.pttl(LEASE) <= 500
    clock.now += 1.0
    pulse()
    assert beats == [1]
    assert real_redis.pttl(LEASE) > (keys.FINALISE_LEASE_S - 5) * 1000  # renewed to the whole lease
    assert not pulse.lease_lost


def test_another_aggregators_lease_is_left_alone(real_redis: "redis.Redis", beats: list[int]) -> None:
    """Ours lapsed and another took the video: it is still beaten, and the files written all the same."""
    real_redis.set(LEASE, "a2", px=500)
    clock = Clock()
    pulse = KeepAlive(real_redis, "v", "a1", liveness_counting(beats), every_s=1.0, clock=clock)
    clock.now += 1.0
    pulse()
    assert pulse.lease_lost
    assert beats == [1]
    assert real_redis.get(LEASE) == b"a2"
    assert 0 < real_redis.pttl(LEASE) <= 500
