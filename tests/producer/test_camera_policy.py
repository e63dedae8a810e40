"""The live policy on a real redis-server: never wait, drop the oldest frames no worker has taken."""

from pathlib import Path

import numpy as np
import redis

from emostream import keys
from emostream.camerastatus import camera_status
from emostream.redisconn import group_entries, stream_entries
from emostream.schema import decode_frame
from producer.camera import CameraConfig, CameraRunner, open_capture
from tests.conftest import write_damaged_video


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


def test_a_packet_the_decoder_rejects_is_skipped_and_counted_not_taken_for_a_dropped_stream(
    real_redis: "redis.Redis", tmp_path: Path
) -> None:
    # A file stands in for the stream: the same reads fail where its packets are damaged.
    video = write_damaged_video(tmp_path / "cam.avi", frames=40, damaged=range(10, 13))
    runner = CameraRunner(CameraConfig(camera_id="cam", url=str(video)), real_redis)
    runner._register()
    capture = open_capture(runner.config)
    assert capture is not None
    assert runner._stream_frames(capture) == 37  # to the end, past the damage
    assert runner.undecodable_packets == 3
    assert int(real_redis.hget(keys.camera_key("cam"), "undecodable_packets")) == 3  # type: ignore[arg-type]
    assert camera_status(real_redis, "cam")["undecodable_packets"] == 3  # type: ignore[index]
