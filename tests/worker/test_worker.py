"""The worker loop against a real redis-server, in-process: poison frames and redeliveries."""

import time

import cv2
import numpy as np
import pytest
import redis

from emostream import keys, registry
from emostream.redisconn import ensure_group, stream_entries
from emostream.schema import Frame, FrameMeta, PictureSize, decode_result, encode_frame
from emostream.settings import WorkerSettings
from models import load_classifier
from worker.batch import BatchProcessor
from worker.detectors.haar import HaarDetector
from worker.worker import Worker


def push(client: "redis.Redis", index: int, jpeg: bytes) -> None:
    meta = FrameMeta(
        video_id="v", frame_index=index, t_ms=index, captured_at=1.0, source_kind="file", jpeg_size=len(jpeg)
    )
    client.xadd(keys.FRAMES_STREAM, encode_frame(Frame(meta=meta, payload=jpeg)))  # type: ignore[arg-type]


def make_worker(client: "redis.Redis", **settings: object) -> Worker:
    processor = BatchProcessor(HaarDetector(640), load_classifier(), "w1")
    return Worker(WorkerSettings(block_ms=50, **settings), client, processor)  # type: ignore[arg-type]


def results(client: "redis.Redis") -> dict[int, str]:
    return {
        (r := decode_result(fields)).frame_index: r.status
        for _, fields in stream_entries(client.xrange(keys.RESULTS_STREAM))
    }


@pytest.fixture
def gray_jpeg() -> bytes:
    return bytes(cv2.imencode(".jpg", np.full((60, 80, 3), 90, np.uint8))[1])


def test_undecodable_frames_fail_at_once_and_the_rest_are_processed(
    real_redis: "redis.Redis", gray_jpeg: bytes
) -> None:
    registry.register(real_redis, "v")
    push(real_redis, 0, gray_jpeg)
    push(real_redis, 1, b"\x89PNG not a jpeg at all")
    real_redis.xadd(keys.FRAMES_STREAM, {b"v": b"1", b"meta": b"{broken"})
    push(real_redis, 2, gray_jpeg)
    stats = make_worker(real_redis).run(burst=True)
    assert stats.frames == 4
    assert results(real_redis) == {0: "ok", 1: "failed", 2: "ok"}
    reasons = [fields[b"reason"] for _, fields in stream_entries(real_redis.xrange(keys.DEAD_STREAM))]
    assert len(reasons) == 2
    assert all(
        b"\xff" not in fields.get(b"jpeg", b"") for _, fields in stream_entries(real_redis.xrange(keys.DEAD_STREAM))
    )
    assert real_redis.xlen(keys.FRAMES_STREAM) == 0  # everything acknowledged and deleted


def test_a_frame_delivered_too_often_becomes_a_failed_frame(real_redis: "redis.Redis", gray_jpeg: bytes) -> None:
    push(real_redis, 5, gray_jpeg)
    ensure_group(real_redis, keys.FRAMES_STREAM, keys.WORKERS_GROUP)
    for _ in range(2):  # two deliveries to workers that died with it in hand
        real_redis.xreadgroup(keys.WORKERS_GROUP, "dead", {keys.FRAMES_STREAM: "0" if _ else ">"}, count=1)
    time.sleep(0.15)
    stats = make_worker(real_redis, claim_idle_ms=100, max_deliveries=2).run(burst=True)
    assert stats.reclaimed == 1
    assert results(real_redis) == {5: "failed"}
    (_, letter), *_ = stream_entries(real_redis.xrange(keys.DEAD_STREAM))
    assert b"deliveries" in letter[b"reason"]


def test_a_stale_frame_below_the_delivery_limit_is_retried_normally(
    real_redis: "redis.Redis", gray_jpeg: bytes
) -> None:
    push(real_redis, 6, gray_jpeg)
    ensure_group(real_redis, keys.FRAMES_STREAM, keys.WORKERS_GROUP)
    real_redis.xreadgroup(keys.WORKERS_GROUP, "dead", {keys.FRAMES_STREAM: ">"}, count=1)
    time.sleep(0.15)
    stats = make_worker(real_redis, claim_idle_ms=100).run(burst=True)
    assert stats.reclaimed == 1
    assert results(real_redis) == {6: "ok"}


def test_dead_letters_keep_the_frame_only_when_asked(real_redis: "redis.Redis") -> None:
    registry.register(real_redis, "v")
    push(real_redis, 1, b"\x89PNG not a jpeg at all")
    make_worker(real_redis, dead_letter_keep_frames=True).run(burst=True)
    ((_, letter),) = stream_entries(real_redis.xrange(keys.DEAD_STREAM))
    assert letter[b"jpeg"] == b"\x89PNG not a jpeg at all"


def test_a_kept_raw_frame_stays_under_its_own_field(real_redis: "redis.Redis") -> None:
    registry.register(real_redis, "v")
    meta = FrameMeta(
        video_id="v", frame_index=2, t_ms=2, captured_at=1.0, source_kind="file", i420=PictureSize(width=2, height=2)
    )
    fields = encode_frame(Frame(meta=meta, payload=bytes(6))) | {b"i420": b"\x01" * 4}  # cut short in transit
    real_redis.xadd(keys.FRAMES_STREAM, fields)  # type: ignore[arg-type]
    make_worker(real_redis, dead_letter_keep_frames=True).run(burst=True)
    assert results(real_redis) == {2: "failed"}
    ((_, letter),) = stream_entries(real_redis.xrange(keys.DEAD_STREAM))
    assert letter[b"i420"] == b"\x01" * 4
    assert b"i420 field has 4 bytes" in letter[b"reason"]
