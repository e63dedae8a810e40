"""A finished video's results read back in passes, against a real redis-server."""

import pytest
import redis

from aggregator.stored import ResultsChangedError, StoredResults
from emostream import keys
from emostream.schema import Face, Result

HAPPY = (0.1, 0.0, 0.0, 0.8, 0.1, 0.0, 0.0)


def result(index: int, x: int = 10) -> Result:
    face = Face(box=(x, 20, 60, 60), score=0.9, probs=HAPPY, emotion="happy")
    return Result(
        video_id="v", frame_index=index, t_ms=index * 100, captured_at=1.0, status="ok", faces=(face,),
        model_version="m", detector="d", worker="w",
    )  # fmt: skip


def store(client: "redis.Redis", *results: Result) -> None:
    for r in results:
        client.hset(keys.video_results_key(r.video_id), str(r.frame_index), r.model_dump_json())


def test_results_come_in_frame_order_a_chunk_at_a_time_in_every_pass(real_redis: "redis.Redis") -> None:
    store(real_redis, *(result(i) for i in (12, 3, 0, 9, 6, 15, 21)))
    stored = StoredResults(real_redis, "v", chunk_frames=2)
    assert len(stored) == 7
    first, second = [r.frame_index for r in stored], [r.frame_index for r in stored]
    assert first == second == [0, 3, 6, 9, 12, 15, 21]


def test_each_result_is_followed_by_a_pulse(real_redis: "redis.Redis") -> None:
    store(real_redis, *(result(i) for i in range(5)))
    pulses: list[int] = []
    stored = StoredResults(real_redis, "v", pulse=lambda: pulses.append(1), chunk_frames=2)
    for _ in range(2):
        list(stored)
    assert len(pulses) == 10


def test_a_result_stored_again_unchanged_is_read_as_before(real_redis: "redis.Redis") -> None:
    store(real_redis, *(result(i) for i in range(4)))
    stored = StoredResults(real_redis, "v", chunk_frames=3)
    before = list(stored)
    store(real_redis, result(2))  # a frame delivered twice, analysed alike
    assert list(stored) == before


def test_a_result_changed_between_passes_is_not_read_as_if_it_were_the_same(real_redis: "redis.Redis") -> None:
    store(real_redis, *(result(i) for i in range(4)))
    stored = StoredResults(real_redis, "v", chunk_frames=3)
    list(stored)
    store(real_redis, result(2, x=200))
    with pytest.raises(ResultsChangedError, match="frame 2 was stored again"):
        list(stored)


def test_a_result_gone_between_passes_is_not_skipped(real_redis: "redis.Redis") -> None:
    store(real_redis, *(result(i) for i in range(4)))
    stored = StoredResults(real_redis, "v")
    list(stored)
    real_redis.hdel(keys.video_results_key("v"), "1")
    with pytest.raises(ResultsChangedError, match="frame 1 is gone"):
        list(stored)


def test_frames_stored_after_the_reading_began_are_in_no_pass(real_redis: "redis.Redis") -> None:
    store(real_redis, result(0), result(1))
    stored = StoredResults(real_redis, "v")
    store(real_redis, result(2))  # a late frame of a video finalised as partial
    assert [r.frame_index for r in stored] == [r.frame_index for r in stored] == [0, 1]
