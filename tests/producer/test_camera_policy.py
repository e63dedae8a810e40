"""The live policy on a real redis-server: never wait, drop the oldest frames no worker has taken."""

import logging
import socket
import time
from pathlib import Path

import cv2
import numpy as np
import pytest
import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from emostream import keys
from emostream.camerastatus import camera_status
from emostream.localserver import LocalServer
from emostream.redisconn import group_entries, stream_entries
from emostream.schema import decode_frame
from producer.camera import CameraConfig, CameraProducer, CameraRunner, open_capture
from tests.conftest import write_anamorphic_video, write_damaged_video


def test_oldest_waiting_frames_are_dropped_and_frames_in_a_workers_hands_are_kept(
    real_redis: "redis.Redis",
) -> None:
    runner = CameraRunner(CameraConfig(camera_id="cam", url="rtsp://h/s", backlog_frames=3), real_redis)
    runner._register()
    stream = keys.camera_frames_stream("cam")
    image = np.full((48, 64, 3), 128, dtype=np.uint8)
    for _ in range(2):
        runner._push(image)
    taken = real_redis.xreadgroup(keys.WORKERS_GROUP, "w", {stream: ">"}, count=2)  # a worker holds 2 frames
    for _ in range(6):
        runner._push(image)

    assert runner.frames_sent == 8
    assert runner.frames_dropped == 3  # 6 waiting, limit 3: the 3 oldest waiting frames went
    remaining = [decode_frame(fields).meta.frame_index for _, fields in stream_entries(real_redis.xrange(stream))]
    assert remaining == [0, 1, 5, 6, 7]  # frames 0 and 1 are in the worker's hands: kept
    assert len(group_entries(taken)) == 2
    assert int(real_redis.hget(keys.camera_key("cam"), "frames_dropped")) == 3  # type: ignore[arg-type]
    assert int(real_redis.hget(keys.camera_key("cam"), "frames_sent")) == 8  # type: ignore[arg-type]


def test_the_size_of_a_cameras_pictures_and_the_side_they_are_sent_at_are_in_its_state(
    real_redis: "redis.Redis", caplog: pytest.LogCaptureFixture
) -> None:
    runner = CameraRunner(CameraConfig(camera_id="cam", url="rtsp://h/s", max_frame_side_px=960), real_redis)
    runner._register()
    with caplog.at_level(logging.INFO, logger="producer.camera"):
        for _ in range(3):
            runner._push(np.full((1080, 1920, 3), 128, dtype=np.uint8))
    state = camera_status(real_redis, "cam")
    assert state is not None
    assert (state["width"], state["height"], state["frame_side_px"]) == (1920, 1080, 960)
    assert caplog.text.count("1920x1080 pictures, sent at 960x540") == 1  # once per size


def test_a_pictures_size_that_redis_could_not_take_is_recorded_once_it_can(real_redis: "redis.Redis") -> None:
    runner = CameraRunner(CameraConfig(camera_id="cam2", url="rtsp://h/s"), real_redis)
    runner._register()
    with socket.socket() as unused:
        unused.bind(("127.0.0.1", 0))
        runner.client = redis.Redis(port=unused.getsockname()[1], retry=Retry(NoBackoff(), 0))  # nothing listens
    runner._push(np.full((720, 1280, 3), 128, dtype=np.uint8))
    runner.client = real_redis  # Redis is back
    runner._push(np.full((720, 1280, 3), 128, dtype=np.uint8))
    state = camera_status(real_redis, "cam2")
    assert state is not None
    assert (state["width"], state["height"]) == (1280, 720)


def test_a_packet_the_decoder_rejects_is_skipped_and_counted_not_taken_for_a_dropped_stream(
    real_redis: "redis.Redis", tmp_path: Path
) -> None:
    # A file stands in for the stream: the same reads fail where its packets are damaged.
    video = write_damaged_video(tmp_path / "cam.avi", frames=40, damaged=range(10, 13), fps=40)
    runner = CameraRunner(CameraConfig(camera_id="cam", url=str(video)), real_redis)
    runner._register()
    capture, why = open_capture(runner.config)
    assert capture is not None, why
    assert runner._stream_frames(capture) == 37  # to the end, past the damage
    assert runner.undecodable_packets == 3
    assert int(real_redis.hget(keys.camera_key("cam"), "undecodable_packets")) == 3  # type: ignore[arg-type]
    assert camera_status(real_redis, "cam")["undecodable_packets"] == 3  # type: ignore[index]


def test_a_file_standing_in_for_a_camera_is_read_again_at_its_end_without_a_reconnect(
    real_redis: "redis.Redis", tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A demo camera's file loops: its end is not a dropped stream, warned of, counted and waited out."""
    video = write_damaged_video(tmp_path / "demo.avi", frames=8, damaged=range(0), fps=20)  # 0.4 s
    runner = CameraRunner(CameraConfig(camera_id="demo", url=str(video), fps=30, backoff_base_s=1.0), real_redis)
    with caplog.at_level(logging.INFO, logger="producer.camera"):
        runner.start()
        deadline = time.monotonic() + 30
        while runner.frames_sent < 24 and time.monotonic() < deadline:  # three times through
            time.sleep(0.05)
        runner.request_stop()
        runner.join(10)
    assert runner.frames_sent >= 24
    assert runner.reconnects == 0
    assert "reading it again from its start" in caplog.text
    assert "reconnecting" not in caplog.text
    assert camera_status(real_redis, "demo")["reconnects"] == 0  # type: ignore[index]


def test_a_still_image_standing_in_for_a_camera_is_sent_once_a_second_not_as_fast_as_it_opens(
    real_redis: "redis.Redis", tmp_path: Path
) -> None:
    image = tmp_path / "still.jpg"
    cv2.imwrite(str(image), np.full((48, 64, 3), 128, np.uint8))
    runner = CameraRunner(CameraConfig(camera_id="still", url=str(image), fps=30), real_redis)
    started = time.monotonic()
    runner.start()
    while runner.frames_sent < 3 and time.monotonic() - started < 30:
        time.sleep(0.05)
    runner.request_stop()
    runner.join(10)
    elapsed = time.monotonic() - started
    assert runner.frames_sent >= 3
    assert runner.frames_sent <= elapsed + 1  # one at the start, then at most one a second (without: 867 in 2.5 s)
    assert runner.reconnects == 0


def test_frames_dropped_while_redis_refuses_them_are_said_once_and_counted_in_its_state_once_it_is_back(
    redis_binary: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Here Redis is full (past its maxmemory it refuses new data), as it would be away in an outage.
    Each dropped frame was a warning (ten lines a second at 10 fps), and was missing from the camera's
    state, which could not be written then: `status` showed fewer drops than the metrics."""
    with LocalServer(redis_binary) as server, redis.Redis.from_url(server.url) as client:
        runner = CameraRunner(CameraConfig(camera_id="cam", url="rtsp://h/s"), client)
        runner._register()
        image = np.full((48, 64, 3), 128, dtype=np.uint8)
        runner._push(image)
        client.config_set("maxmemory", 1)
        with caplog.at_level(logging.WARNING, logger="producer.camera"):
            for _ in range(5):
                runner._push(image)
            client.config_set("maxmemory", 0)
            runner._push(image)
        assert (runner.frames_sent, runner.frames_dropped) == (2, 5)
        assert camera_status(client, "cam")["frames_dropped"] == 5  # type: ignore[index]
        said = [record.getMessage() for record in caplog.records]
        assert len(said) == 2
        assert "Redis is full" in said[0]
        assert said[1].endswith("5 frames dropped meanwhile")


def test_a_camera_that_sends_pixels_wider_than_tall_is_sent_on_with_square_pixels(
    real_redis: "redis.Redis", tmp_path: Path
) -> None:
    """Analogue CCTV through an encoder: 704x576 with pixels 12:11 wide. Here, a file stands in for the
    stream: stored 120x90 with pixels 4:3 wide, a disc stored as an ellipse. Faces were sent squeezed."""
    video = write_anamorphic_video(tmp_path / "cam.mp4", frames=3)
    runner = CameraRunner(CameraConfig(camera_id="cam", url=str(video)), real_redis)
    runner._register()
    capture, why = open_capture(runner.config)
    assert capture is not None, why
    runner._stream_frames(capture)
    _, fields = stream_entries(real_redis.xrange(keys.camera_frames_stream("cam"), count=1))[0]
    image = np.asarray(cv2.imdecode(np.frombuffer(decode_frame(fields).payload, np.uint8), cv2.IMREAD_GRAYSCALE))
    assert image.shape == (90, 160)
    rows, columns = np.nonzero(image > 128)
    width, height = columns.max() - columns.min() + 1, rows.max() - rows.min() + 1
    assert abs(width - height) <= 2  # round, as players show it


def test_cameras_wait_to_be_registered_while_redis_is_full_and_then_run(
    redis_binary: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """The camera service exited at start (`cannot register cameras`) where workers and aggregators wait."""
    import threading
    import time

    video = write_damaged_video(tmp_path / "cam.avi", frames=5, damaged=range(0))
    with LocalServer(redis_binary) as server, redis.Redis.from_url(server.url) as client:
        client.config_set("maxmemory", 1)
        producer = CameraProducer([CameraConfig(camera_id="cam", url=str(video), restart_budget=1)], client)
        with caplog.at_level(logging.WARNING, logger="producer.camera"):
            thread = threading.Thread(target=producer.run, daemon=True)
            thread.start()
            deadline = time.monotonic() + 10
            while "cameras not registered: Redis is full" not in caplog.text and time.monotonic() < deadline:
                time.sleep(0.05)
            assert "cameras not registered: Redis is full" in caplog.text
            assert thread.is_alive()
            client.config_set("maxmemory", 0)
            # Registered, then running: stopping as soon as it was registered raced its first frame.
            while runner_sent(client) == 0 and time.monotonic() < deadline + 10:
                time.sleep(0.05)
            producer.request_stop()
            thread.join(timeout=30)
        assert client.sismember(keys.CAMERAS_INDEX, "cam")
        assert runner_sent(client) > 0


def runner_sent(client: "redis.Redis") -> int:
    return int(client.hget(keys.camera_key("cam"), "frames_sent") or 0)
