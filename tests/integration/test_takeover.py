"""Results stranded with a dead aggregator are taken over by another, well before the stall timeout."""

import json
import os
import subprocess
import time
from pathlib import Path

import redis

from emostream import keys, registry
from emostream.redisconn import ensure_group
from emostream.schema import Face, Result, encode_result
from tests.integration.processes import command


def result(index: int) -> Result:
    probs = (0.05, 0.05, 0.05, 0.6, 0.1, 0.05, 0.1)
    face = Face(box=(10, 10, 60, 60), score=0.9, probs=probs, emotion="happy")
    return Result(
        video_id="v", frame_index=index, t_ms=index * 100, captured_at=1.0, status="ok", faces=(face,),
        model_version="m", detector="d", worker="w",
    )  # fmt: skip


def test_results_left_pending_under_a_consumer_that_never_returns_are_stored_by_a_fresh_aggregator(
    real_redis: "redis.Redis", redis_url: str, tmp_path: Path
) -> None:
    registry.register(real_redis, "v", source="v.mp4", sample_fps=10.0)
    registry.update(real_redis, "v", status="produced", frames_expected=3)
    ensure_group(real_redis, keys.RESULTS_STREAM, keys.AGGREGATORS_GROUP)
    for index in range(3):
        real_redis.xadd(keys.RESULTS_STREAM, encode_result(result(index)))  # type: ignore[arg-type]
    # An aggregator on a host that is gone read them and died before acknowledging.
    real_redis.xreadgroup(keys.AGGREGATORS_GROUP, "old-container-4711", {keys.RESULTS_STREAM: ">"}, count=10)
    time.sleep(0.3)
    started = time.monotonic()
    env = {**os.environ, "EMO_AGGREGATOR_CLAIM_IDLE_MS": "200"}  # the stall timeout stays at its 600 s
    done = subprocess.run(
        command("aggregator", "--burst", "--out", str(tmp_path), "--redis-url", redis_url),
        capture_output=True, text=True, timeout=120, env=env, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert time.monotonic() - started < 60
    summary = json.loads((tmp_path / "v" / "summary.json").read_text())
    assert (summary["status"], summary["frames_total"]) == ("complete", 3)
    assert "claimed 3 results left pending on emo:results" in done.stderr
    assert real_redis.xpending(keys.RESULTS_STREAM, keys.AGGREGATORS_GROUP)["pending"] == 0


def test_two_aggregators_one_killed_again_and_again_still_give_each_frame_once(
    real_redis: "redis.Redis", redis_url: str, tmp_path: Path
) -> None:
    """A steady aggregator and one that is SIGKILLed every 1.5 s and comes back under a new name."""
    from tests.conftest import VIDEOS, require_shared
    from tests.integration.processes import running, wait_for
    from tests.integration.test_faults import assert_exactly_once, complete, spawn

    woman = require_shared(VIDEOS / "fer_woman2.mp4")
    url = ["--redis-url", redis_url]
    out = tmp_path / "out"
    fast = {"EMO_AGGREGATOR_CLAIM_IDLE_MS": "1000"}
    kills = 0
    with (
        running(["worker", "--name", "w1", *url], tmp_path / "w1.log"),
        running(["aggregator", "--out", str(out), "--name", "steady", *url], tmp_path / "steady.log", env=fast),
    ):
        producer = spawn(["produce", str(woman), "--video-id", "v", "--every-frame", *url], tmp_path / "p.log")
        while not complete(real_redis, "v") and kills < 40:
            flaky = spawn(["aggregator", "--out", str(out), "--name", f"flaky-{kills}", *url], tmp_path / "f.log", fast)
            time.sleep(1.5)
            flaky.kill()  # no chance to acknowledge what it read
            flaky.wait()
            kills += 1
        wait_for(lambda: complete(real_redis, "v"), 120, "the video to complete")
        assert producer.wait(timeout=60) == 0
    assert kills >= 3
    assert_exactly_once(out, "v", 464)
    summary = json.loads((out / "v" / "summary.json").read_text())
    assert (summary["frames_total"], summary["frames_failed"]) == (464, 0)
    assert real_redis.xpending(keys.RESULTS_STREAM, keys.AGGREGATORS_GROUP)["pending"] == 0
