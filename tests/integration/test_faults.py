"""Faults the pipeline must survive, each with real processes on a real redis-server:
every sampled frame ends up in its timeline exactly once, whatever crashes on the way."""

import json
import os
import signal
import subprocess
import time
from functools import partial
from pathlib import Path

import pytest
import redis

from emostream import keys, registry
from emostream.localserver import LocalServer, system_server_binary
from tests.conftest import VIDEOS, require_shared
from tests.integration.processes import command, run, running, wait_for

pytestmark = pytest.mark.integration

FAST_RECLAIM = {"EMO_WORKER_CLAIM_IDLE_MS": "2000"}


SLOW_WORKER = {"EMO_WORKER_DETECTOR": "haar"}  # for tests that need frames to stay in hand a while


def spawn(args: list[str], log: Path, env: dict[str, str] | None = None) -> "subprocess.Popen[bytes]":
    with log.open("ab") as out:
        return subprocess.Popen(command(*args), stdout=out, stderr=subprocess.STDOUT, env={**os.environ, **(env or {})})


def complete(client: "redis.Redis", video_id: str) -> bool:
    record = registry.read(client, video_id)
    return record is not None and record.status == "complete"


def assert_exactly_once(out: Path, video_id: str, expected: int) -> None:
    timeline = json.loads((out / video_id / "timeline.json").read_text())
    indices = [frame["index"] for frame in timeline["frames"]]
    assert indices == sorted(set(indices))  # no frame twice
    assert len(indices) == expected == timeline["frames_expected"]  # none missing


def pending_of(client: "redis.Redis", consumer: str) -> int:
    try:
        entries = client.xpending_range(keys.FRAMES_STREAM, keys.WORKERS_GROUP, "-", "+", 1000, consumername=consumer)
    except redis.ResponseError:  # NOGROUP: the worker has not created the group yet
        return 0
    return len(entries)


@pytest.fixture
def woman() -> Path:
    return require_shared(VIDEOS / "fer_woman2.mp4")


def test_a_worker_killed_mid_batch_loses_nothing(
    redis_url: str, real_redis: "redis.Redis", woman: Path, tmp_path: Path
) -> None:
    url = ["--redis-url", redis_url]
    out = tmp_path / "out"
    # Haar keeps frames in the workers' hands long enough to catch the victim holding some.
    victim = spawn(["worker", "--name", "victim", *url], tmp_path / "victim.log", {**FAST_RECLAIM, **SLOW_WORKER})
    try:
        with (
            running(["worker", "--name", "w2", *url], tmp_path / "w2.log", SLOW_WORKER),
            running(["aggregator", "--out", str(out), *url], tmp_path / "agg.log"),
        ):
            assert run("produce", str(woman), "--video-id", "v", "--every-frame", *url).returncode == 0
            wait_for(lambda: registry.results_count(real_redis, "v") >= 48, 120, "some results")
            wait_for(lambda: pending_of(real_redis, "victim") > 0, 30, "the victim to hold a batch")
            victim.kill()  # SIGKILL: no chance to acknowledge
            victim.wait()
            assert pending_of(real_redis, "victim") > 0
            with running(["worker", "--name", "w3", *url], tmp_path / "w3.log", env=FAST_RECLAIM):
                wait_for(lambda: complete(real_redis, "v"), 240, "the video to complete")
    finally:
        victim.kill()
    assert_exactly_once(out, "v", 464)
    assert pending_of(real_redis, "victim") == 0
    logs = (tmp_path / "w2.log").read_text() + (tmp_path / "w3.log").read_text()
    assert "reclaimed" in logs


def test_an_aggregator_killed_and_restarted_counts_nothing_twice(
    redis_url: str, real_redis: "redis.Redis", woman: Path, tmp_path: Path
) -> None:
    url = ["--redis-url", redis_url]
    out = tmp_path / "out"
    # Haar, several times slower than YuNet, so the video is surely unfinished when the aggregator
    # is killed (with YuNet the worker could finish it before the kill, and the restart had nothing to do).
    with running(["worker", "--name", "w1", *url], tmp_path / "w1.log", SLOW_WORKER):
        aggregator = spawn(["aggregator", "--out", str(out), "--name", "agg", *url], tmp_path / "agg1.log")
        assert run("produce", str(woman), "--video-id", "v", *url).returncode == 0
        wait_for(lambda: registry.results_count(real_redis, "v") >= 32, 120, "some results stored")
        aggregator.kill()
        aggregator.wait()
        time.sleep(2)  # results pile up (and some stay pending for "agg") while it is down
        with running(["aggregator", "--out", str(out), "--name", "agg", *url], tmp_path / "agg2.log"):
            wait_for(lambda: complete(real_redis, "v"), 240, "the video to complete")
    assert_exactly_once(out, "v", 155)


def test_a_producer_killed_mid_video_resumes_without_gaps_or_duplicates(
    redis_url: str, real_redis: "redis.Redis", woman: Path, tmp_path: Path
) -> None:
    url = ["--redis-url", redis_url]
    out = tmp_path / "out"
    small_backlog = {"EMO_PRODUCER_BACKLOG_MAX_FRAMES": "16"}
    producer = spawn(["produce", str(woman), "--video-id", "v", *url], tmp_path / "p1.log", small_backlog)
    # No workers yet: the producer fills the backlog and waits; kill it there.
    wait_for(lambda: real_redis.xlen(keys.FRAMES_STREAM) >= 16, 60, "the backlog to fill")
    producer.kill()
    producer.wait()
    record = registry.read(real_redis, "v")
    assert record is not None
    assert (record.status, record.frames_sent) == ("producing", 16)
    with (
        running(["worker", *url], tmp_path / "w1.log"),
        running(["aggregator", "--out", str(out), *url], tmp_path / "agg.log"),
    ):
        again = run("produce", str(woman), "--video-id", "v", *url)
        assert again.returncode == 0, again.stderr
        assert "resuming after frame" in again.stderr
        wait_for(lambda: complete(real_redis, "v"), 240, "the video to complete")
    assert_exactly_once(out, "v", 155)


def test_processes_ride_out_a_redis_restart(woman: Path, tmp_path: Path) -> None:
    binary = system_server_binary()
    if binary is None:
        pytest.skip("redis-server is not installed")
    aof = ("--appendonly", "yes", "--appendfsync", "everysec")
    with LocalServer(binary, aof) as server:
        client = redis.Redis.from_url(server.url)
        url = ["--redis-url", server.url]
        out = tmp_path / "out"
        with (
            running(["worker", *url], tmp_path / "w1.log"),
            running(["aggregator", "--out", str(out), *url], tmp_path / "agg.log"),
        ):
            assert run("produce", str(woman), "--video-id", "v", *url).returncode == 0
            wait_for(lambda: registry.results_count(client, "v") >= 32, 120, "some results")
            server.restart()  # SIGTERM: Redis flushes its AOF, as in a planned restart
            wait_for(lambda: complete(client, "v"), 240, "the video to complete after the restart")
        client.close()
    assert_exactly_once(out, "v", 155)
    assert "Redis unavailable" in (tmp_path / "w1.log").read_text() + (tmp_path / "agg.log").read_text()


def test_first_sigterm_finishes_the_batch_second_exits_at_once(
    redis_url: str, real_redis: "redis.Redis", woman: Path, tmp_path: Path
) -> None:
    url = ["--redis-url", redis_url]
    assert run("produce", str(woman), "--video-id", "v", *url).returncode == 0
    worker = spawn(["worker", "--name", "g", *url], tmp_path / "g.log")
    wait_for(lambda: pending_of(real_redis, "g") > 0, 60, "the worker to hold a batch")
    worker.send_signal(signal.SIGTERM)
    assert worker.wait(timeout=60) == 0
    assert pending_of(real_redis, "g") == 0  # its batch was finished and acknowledged
    done = real_redis.xlen(keys.RESULTS_STREAM)
    assert done > 0
    assert done + real_redis.xlen(keys.FRAMES_STREAM) == 155  # nothing lost

    # A long batch (64 frames, with the slower detector) so the second signal surely lands while it
    # is in hand: with YuNet the batch could be done (0.3 s) before the second signal.
    worker = spawn(
        ["worker", "--name", "g2", *url], tmp_path / "g2.log", {**SLOW_WORKER, "EMO_WORKER_BATCH_FRAMES": "64"}
    )
    wait_for(lambda: pending_of(real_redis, "g2") > 0, 60, "the second worker to hold a batch")
    worker.send_signal(signal.SIGTERM)
    # Two signals sent at once coalesce in the kernel: send the second once the first is handled.
    wait_for(lambda: "finishing the batch" in (tmp_path / "g2.log").read_text(), 30, "the first SIGTERM")
    worker.send_signal(signal.SIGTERM)
    assert worker.wait(timeout=10) == 128 + signal.SIGTERM
    # Its unacknowledged batch stays pending, to be reclaimed: still nothing lost.
    assert pending_of(real_redis, "g2") + real_redis.xlen(keys.RESULTS_STREAM) >= done


def test_a_worker_survives_a_stream_deleted_while_it_waits_on_it(
    real_redis: "redis.Redis", redis_url: str, tmp_path: Path
) -> None:
    """Redis answers a blocked read with UNBLOCKED when its stream is deleted: recover, not crash."""
    real_redis.sadd(keys.CAMERAS_INDEX, "gone")
    camera_stream = keys.camera_frames_stream("gone")
    real_redis.xgroup_create(camera_stream, keys.WORKERS_GROUP, id="0", mkstream=True)
    log = tmp_path / "worker.log"
    with running(["worker", "--name", "w-unblocked", "--redis-url", redis_url], log) as worker:
        wait_for(lambda: "w-unblocked" in log.read_text() and "model" in log.read_text(), 60, "the worker to start")
        time.sleep(keys.CAMERAS_REFRESH_S + 1.5)  # it now blocks on the camera's stream too
        real_redis.delete(camera_stream)
        real_redis.srem(keys.CAMERAS_INDEX, "gone")
        time.sleep(3)
        assert worker.poll() is None, log.read_text()[-2000:]
        assert "Traceback" not in log.read_text()


def test_a_redis_that_cannot_persist_is_waited_out_and_nothing_is_lost(
    astronaut_video: Path, tmp_path: Path, redis_binary: Path
) -> None:
    """As when its disk is full: Redis refuses every write, and even PING, with MISCONF until it
    can save again. Here its snapshot fails because a folder stands where the file would go. A
    worker running then waits; an aggregator started then starts, and waits."""
    with (
        LocalServer(redis_binary, ("--appendonly", "no", "--save", "3600 1")) as server,
        redis.Redis.from_url(server.url) as client,
    ):
        out, url = tmp_path / "out", ["--redis-url", server.url]
        with running(["worker", *url], tmp_path / "worker.log") as worker:
            wait_for(lambda: client.exists(keys.FRAMES_STREAM) == 1, 60, "the worker's consumer group")
            (server.data_dir / "dump.rdb").mkdir()
            client.bgsave()
            wait_for(lambda: _last_save_failed(client), 30, "the snapshot to fail")
            with pytest.raises(redis.ResponseError, match="MISCONF"):
                client.ping()
            with running(["aggregator", "--out", str(out), *url], tmp_path / "agg.log") as aggregator:
                for log in (tmp_path / "worker.log", tmp_path / "agg.log"):
                    wait_for(partial(_mentions, log, "MISCONF"), 30, f"MISCONF in {log.name}")
                time.sleep(2)
                assert (worker.poll(), aggregator.poll()) == (None, None)  # both waiting, neither dead
                (server.data_dir / "dump.rdb").rmdir()
                client.bgsave()
                wait_for(lambda: not _last_save_failed(client), 30, "a snapshot to succeed")
                assert run("produce", str(astronaut_video), "--video-id", "v", *url).returncode == 0
                wait_for(lambda: complete(client, "v"), 120, "the video to complete")
        assert_exactly_once(out, "v", 40)


def test_a_full_redis_is_waited_out_and_nothing_is_lost(
    astronaut_video: Path, tmp_path: Path, redis_binary: Path
) -> None:
    """Past its maxmemory (policy noeviction), Redis refuses whatever adds data (OOM). A worker holding
    frames, an aggregator starting and a producer starting all wait for room, and go on once an
    operator raises the limit: both videos complete, every frame once. Before, each of them died."""
    with (
        LocalServer(redis_binary, ("--appendonly", "no", "--maxmemory-policy", "noeviction")) as server,
        redis.Redis.from_url(server.url) as client,
    ):
        out, url = tmp_path / "out", ["--redis-url", server.url]
        logs = {name: tmp_path / f"{name}.log" for name in ("producer", "worker", "aggregator")}
        assert run("produce", str(astronaut_video), "--video-id", "a", *url).returncode == 0  # frames wait
        client.config_set("maxmemory", 1)  # full, as a server at its limit is
        producer = spawn(["produce", str(astronaut_video), "--video-id", "b", *url], logs["producer"])
        with (
            running(["worker", *url], logs["worker"]) as worker,
            running(["aggregator", "--out", str(out), *url], logs["aggregator"]) as aggregator,
        ):
            for log in logs.values():
                wait_for(partial(_mentions, log, "Redis is full"), 60, f"the refusal in {log.name}")
            time.sleep(1)
            assert (producer.poll(), worker.poll(), aggregator.poll()) == (None, None, None)  # all waiting
            client.config_set("maxmemory", 0)
            assert producer.wait(timeout=120) == 0
            wait_for(lambda: complete(client, "a") and complete(client, "b"), 120, "both videos to complete")
        for video_id in ("a", "b"):
            assert_exactly_once(out, video_id, 40)


def _mentions(log: Path, text: str) -> bool:
    return text in log.read_text()


def _last_save_failed(client: "redis.Redis") -> bool:
    return client.info("persistence")["rdb_last_bgsave_status"] == "err"  # type: ignore[no-any-return]
