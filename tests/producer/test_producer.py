from pathlib import Path

import cv2
import numpy as np
import pytest
import redis

from emostream import keys, registry
from emostream.errors import ConfigError, SourceError
from emostream.framecodec import decode_i420
from emostream.redisconn import stream_entries
from emostream.schema import decode_frame
from emostream.settings import ProducerSettings
from producer.producer import FileProducer, encode_jpeg, raw_backlog_limit
from producer.source import FileSource
from tests.conftest import VIDEOS, require_shared, write_damaged_video, write_variable_rate_video, write_video


def frames_in_stream(client: "redis.Redis") -> list[int]:
    return [decode_frame(fields).meta.frame_index for _, fields in stream_entries(client.xrange(keys.FRAMES_STREAM))]


def test_file_producer_sends_each_sampled_frame_once_and_registers_the_count(
    real_redis: "redis.Redis", tmp_path: Path
) -> None:
    video = write_video(tmp_path / "v.mp4", frames=45, fps=15.0)
    report = FileProducer(ProducerSettings(fps=5.0), real_redis).produce(video, "v1")
    assert report.frames_sent == 15
    assert frames_in_stream(real_redis) == list(range(0, 45, 3))
    record = registry.read(real_redis, "v1")
    assert record is not None
    assert (record.status, record.frames_expected, record.sample_fps) == ("produced", 15, 5.0)


def test_frames_carry_decodable_jpeg_and_presentation_time(real_redis: "redis.Redis", tmp_path: Path) -> None:
    video = write_video(tmp_path / "v.mp4", frames=10, fps=10.0)
    FileProducer(ProducerSettings(every_frame=True), real_redis).produce(video, "v2")
    frame = decode_frame(stream_entries(real_redis.xrange(keys.FRAMES_STREAM))[4][1])
    assert frame.meta.t_ms == 400
    image = cv2.imdecode(np.frombuffer(frame.payload, np.uint8), cv2.IMREAD_COLOR)
    assert image is not None
    assert image.shape == (120, 160, 3)


def test_an_hdr_video_is_sent_tone_mapped_at_the_size_cap(
    real_redis: "redis.Redis", tmp_path: Path, astronaut_video: Path
) -> None:
    """A phone's HDR video is sent as its SDR picture, shrunk to the cap before tone mapping, and
    the registry's sizes still place its boxes on the source (``aggregator.timeline.box_scale``)."""
    from aggregator.timeline import box_scale
    from emostream.videofile import FrameReader, open_upright
    from testkit.hdrvideo import write_hdr_video

    sdr = [image for _, image in FrameReader(astronaut_video, open_upright(astronaut_video), 15.0)][:3]
    video = write_hdr_video(tmp_path / "phone.mp4", sdr, "hlg")
    settings = ProducerSettings(every_frame=True, max_frame_side_px=320, frame_encoding="jpeg")
    FileProducer(settings, real_redis).produce(video, "hdr")
    sent = [decode_frame(fields) for _, fields in stream_entries(real_redis.xrange(keys.FRAMES_STREAM))]
    images = [cv2.imdecode(np.frombuffer(frame.payload, np.uint8), cv2.IMREAD_COLOR) for frame in sent]
    assert [None if image is None else image.shape for image in images] == [(240, 320, 3)] * 3
    expected = [cv2.resize(image, (320, 240), interpolation=cv2.INTER_AREA) for image in sdr]
    differences = [
        float(np.abs(a.astype(np.int16) - b).mean()) for a, b in zip(images, expected, strict=True) if a is not None
    ]
    assert max(differences) < 5
    record = registry.read(real_redis, "hdr")
    assert record is not None
    assert (record.width, record.height, box_scale(record)) == (640, 480, 2.0)


def test_frames_are_timed_by_the_video_so_a_variable_frame_rate_keeps_its_clock(
    real_redis: "redis.Redis", tmp_path: Path
) -> None:
    # 30 fps for a second, then 10 fps for two: frame 40 is shown at 1.99 s, not at 40 / 16.7 fps = 2.4 s.
    times = [i * 33 for i in range(30)] + [990 + i * 100 for i in range(1, 21)]
    video = write_variable_rate_video(tmp_path / "vfr.mp4", times)
    FileProducer(ProducerSettings(fps=10.0), real_redis).produce(video, "vfr")
    sent = [decode_frame(fields).meta for _, fields in stream_entries(real_redis.xrange(keys.FRAMES_STREAM))]
    assert all(meta.t_ms == times[meta.frame_index] for meta in sent)
    indexes = [meta.frame_index for meta in sent]
    assert indexes[-20:] == list(range(30, 50))  # at 10 fps every frame is due
    assert len(indexes) == 30  # and one in about three of the first second's


def test_a_frame_without_a_usable_time_goes_one_nominal_frame_after_the_last(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A raw H.264 stream (a CCTV export) has no frame times at all: its frames are placed one frame
    apart at the rate it states, and the report and the log say so."""
    import av

    path = tmp_path / "cctv.h264"
    with av.open(str(path), "w", format="h264") as container:
        stream = container.add_stream("libx264", rate=25)
        stream.width, stream.height, stream.pix_fmt = 160, 120, "yuv420p"
        for i in range(6):
            container.mux(stream.encode(av.VideoFrame.from_ndarray(np.full((120, 160, 3), i * 30, np.uint8), "bgr24")))
        container.mux(stream.encode())
    source = FileSource(path)
    assert [t_ms for _, t_ms, _ in source.frames(nominal_fps=source.probe.fps)] == [
        0.0,
        40.0,
        80.0,
        120.0,
        160.0,
        200.0,
    ]
    assert source.report is not None
    assert source.report.untimed_frames == 6
    assert "cctv.h264 states no frame times" in caplog.text


def write_audio_only(path: Path) -> Path:
    import av

    with av.open(str(path), "w") as container:
        stream = container.add_stream("aac", rate=16_000)
        for i in range(10):
            sound = av.AudioFrame.from_ndarray(np.zeros((1, 1024), np.float32), format="fltp", layout="mono")
            sound.sample_rate, sound.pts = 16_000, i * 1024
            container.mux(stream.encode(sound))
        container.mux(stream.encode())
    return path


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda p: p, "no such file"),
        (lambda p: (p.write_bytes(b""), p)[1], "empty file"),
        (
            lambda p: (p.write_text("this is not a video\n" * 50), p)[1],
            "not a readable video: FFmpeg says: Invalid data found when processing input",
        ),
        (write_audio_only, "not a readable video: it has no video stream, only audio"),
    ],
)
def test_unreadable_files_fail_clearly_and_are_registered_as_failed(
    real_redis: "redis.Redis", tmp_path: Path, make: object, message: str
) -> None:
    path = make(tmp_path / "bad.mp4")  # type: ignore[operator]
    with pytest.raises(SourceError, match=message):
        FileProducer(ProducerSettings(), real_redis).produce(path, "bad")
    record = registry.read(real_redis, "bad")
    assert record is not None
    assert record.status == "failed"
    assert record.error is not None
    assert message in record.error
    assert real_redis.xlen(keys.FRAMES_STREAM) == 0


@pytest.mark.parametrize("encoding", ["jpeg", "i420"])
def test_producer_waits_while_the_backlog_is_full(
    real_redis: "redis.Redis", tmp_path: Path, monkeypatch: "pytest.MonkeyPatch", encoding: str
) -> None:
    import threading
    import time

    video = write_video(tmp_path / "v.mp4", frames=40, fps=10.0)
    settings = ProducerSettings(every_frame=True, backlog_max_frames=8, frame_encoding=encoding)
    if encoding == "i420":  # raw frames: the limit in bytes applies (8 frames of 160x120), not the one in frames
        settings = ProducerSettings(every_frame=True, frame_encoding=encoding)
        monkeypatch.setattr(keys, "RAW_BACKLOG_BYTES", 8 * 160 * 120 * 3 // 2)
        monkeypatch.setattr(keys, "RAW_BACKLOG_MIN_FRAMES", 1)
    peak = 0

    def drain() -> None:
        nonlocal peak
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            entries = stream_entries(real_redis.xrange(keys.FRAMES_STREAM))
            peak = max(peak, len(entries))
            if entries:
                real_redis.xdel(keys.FRAMES_STREAM, *[i for i, _ in entries[:4]])
            record = registry.read(real_redis, "slow")
            if record and record.status == "produced" and not entries:
                return
            time.sleep(0.01)

    consumer = threading.Thread(target=drain)
    consumer.start()
    report = FileProducer(settings, real_redis).produce(video, "slow")
    consumer.join()
    assert report.frames_sent == 40
    assert peak <= 8 + 8  # the limit plus one pipelined chunk


def test_encode_jpeg_downscales_frames_above_the_size_cap() -> None:
    image = np.zeros((2160, 3840, 3), dtype=np.uint8)
    decoded = cv2.imdecode(np.frombuffer(encode_jpeg(image, 80, 1280), np.uint8), cv2.IMREAD_COLOR)
    assert decoded is not None
    assert decoded.shape == (720, 1280, 3)


def test_a_killed_producer_resumes_after_its_last_sent_frame(real_redis: "redis.Redis", tmp_path: Path) -> None:
    video = write_video(tmp_path / "v.mp4", frames=40, fps=10.0)
    settings = ProducerSettings(every_frame=True)
    # Simulate a crash after the first 16 frames: progress as the producer records it.
    registry.register(real_redis, "r", source="v.mp4", last_index=-1)
    partial = FileProducer(settings, real_redis)
    for index in range(16):
        partial._queue(partial._frame("r", index, index * 100.0, np.zeros((8, 8, 3), np.uint8)), index + 1)
    partial._flush()
    report = FileProducer(settings, real_redis).produce(video, "r")
    assert report.frames_sent == 40
    assert frames_in_stream(real_redis) == list(range(40))  # no gap, no duplicate
    assert registry.sent_indices(real_redis, "r") == list(range(40))


def test_an_existing_video_id_is_refused_unless_replaced(real_redis: "redis.Redis", tmp_path: Path) -> None:
    video = write_video(tmp_path / "v.mp4", frames=10, fps=10.0)
    FileProducer(ProducerSettings(), real_redis).produce(video, "dup")
    with pytest.raises(ConfigError, match="already exists"):
        FileProducer(ProducerSettings(), real_redis).produce(video, "dup")
    real_redis.delete(keys.FRAMES_STREAM)
    FileProducer(ProducerSettings(), real_redis, replace=True).produce(video, "dup")
    assert len(frames_in_stream(real_redis)) == 10


def test_a_truncated_mp4_without_its_index_is_a_clear_error(real_redis: "redis.Redis", tmp_path: Path) -> None:
    whole = write_video(tmp_path / "whole.mp4", frames=40)
    cut = tmp_path / "cut.mp4"
    cut.write_bytes(whole.read_bytes()[: whole.stat().st_size // 2])
    with pytest.raises(SourceError, match="not a readable video"):
        FileProducer(ProducerSettings(), real_redis).produce(cut, "cut")


def test_a_truncated_stream_sends_what_decodes_and_counts_only_that(real_redis: "redis.Redis", tmp_path: Path) -> None:
    whole = tmp_path / "whole.avi"
    writer = cv2.VideoWriter(str(whole), cv2.VideoWriter.fourcc(*"MJPG"), 10.0, (160, 120))
    rng = np.random.default_rng(0)
    for _ in range(40):
        writer.write(rng.integers(0, 256, (120, 160, 3), dtype=np.uint8))
    writer.release()
    cut = tmp_path / "cut.avi"
    cut.write_bytes(whole.read_bytes()[: whole.stat().st_size // 2])
    report = FileProducer(ProducerSettings(every_frame=True), real_redis).produce(cut, "cut")
    assert 5 < report.frames_sent < 40
    record = registry.read(real_redis, "cut")
    assert record is not None
    assert record.frames_expected == report.frames_sent == len(frames_in_stream(real_redis))


def test_frames_after_a_damaged_stretch_are_sent_and_the_damage_is_recorded(
    real_redis: "redis.Redis", tmp_path: Path
) -> None:
    video = write_damaged_video(tmp_path / "d.avi", frames=40, damaged=range(10, 13))
    report = FileProducer(ProducerSettings(every_frame=True), real_redis).produce(video, "d")
    sent = [decode_frame(fields).meta for _, fields in stream_entries(real_redis.xrange(keys.FRAMES_STREAM))]
    assert report.frames_sent == len(sent) == 37
    assert [meta.t_ms for meta in sent] == [i * 100 for i in range(40) if i not in (10, 11, 12)]
    record = registry.read(real_redis, "d")
    assert record is not None
    assert (record.frames_expected, record.frames_decoded, record.undecodable_packets) == (37, 37, 3)
    assert record.warnings == [
        "d.avi: 3 damaged packet(s) could not be decoded and were skipped; "
        "the frames around them are missing or may show artefacts"
    ]


def test_losing_redis_is_a_clear_resumable_error(tmp_path: Path) -> None:
    from emostream.errors import ServiceError
    from emostream.localserver import free_port

    video = write_video(tmp_path / "v.mp4", frames=5)
    gone = redis.Redis(port=free_port(), password="s3cret-pw", socket_connect_timeout=0.5)
    with pytest.raises(ServiceError, match="run the same produce command again") as caught:
        FileProducer(ProducerSettings(), gone).produce(video, "v")
    assert "s3cret-pw" not in str(caught.value)


def test_encode_jpeg_keeps_noisy_frames_under_the_byte_cap() -> None:
    noise = np.random.default_rng(0).integers(0, 256, (1080, 1920, 3), dtype=np.uint8)
    assert len(encode_jpeg(noise, 95, 1920, max_bytes=10**9)) > 1_000_000  # the cap has work to do
    capped = encode_jpeg(noise, 95, 1920, max_bytes=1_000_000)
    assert len(capped) <= 1_000_000
    assert cv2.imdecode(np.frombuffer(capped, np.uint8), cv2.IMREAD_COLOR) is not None


def test_raw_frames_carry_the_pictures_the_video_decodes_to(real_redis: "redis.Redis", tmp_path: Path) -> None:
    video = write_video(tmp_path / "v.mp4", frames=6, fps=10.0)
    FileProducer(ProducerSettings(every_frame=True, frame_encoding="i420"), real_redis).produce(video, "raw")
    frames = [decode_frame(fields) for _, fields in stream_entries(real_redis.xrange(keys.FRAMES_STREAM))]
    capture = cv2.VideoCapture(str(video))
    for frame in frames:
        assert frame.meta.i420 is not None
        assert frame.meta.jpeg_size is None
        picture = decode_i420(frame.payload, frame.meta.i420)
        ok, decoded = capture.read()
        assert ok
        assert picture is not None
        assert picture.shape == decoded.shape == (120, 160, 3)
        assert np.abs(picture.astype(int) - decoded.astype(int)).mean() < 2
    assert len(frames) == 6


def test_the_backlog_of_raw_frames_is_bounded_in_bytes_but_keeps_three_worker_batches() -> None:
    assert raw_backlog_limit(256, 160 * 120 * 3 // 2) == 256  # small frames: the limit in frames
    assert raw_backlog_limit(256, 320 * 180 * 3 // 2) == 185  # 16 MB
    assert raw_backlog_limit(256, 640 * 360 * 3 // 2) == 48
    assert raw_backlog_limit(256, 1280 * 720 * 3 // 2) == 48
    assert raw_backlog_limit(20, 1280 * 720 * 3 // 2) == 20  # the user's limit still holds


def test_a_frame_too_large_to_send_raw_goes_as_jpeg(
    real_redis: "redis.Redis", tmp_path: Path, monkeypatch: "pytest.MonkeyPatch"
) -> None:
    monkeypatch.setattr(keys, "MAX_RAW_FRAME_BYTES", 160 * 120 * 3 // 2 - 1)
    video = write_video(tmp_path / "v.mp4", frames=3, fps=10.0)
    FileProducer(ProducerSettings(every_frame=True, frame_encoding="i420"), real_redis).produce(video, "big")
    frames = [decode_frame(fields) for _, fields in stream_entries(real_redis.xrange(keys.FRAMES_STREAM))]
    assert [(f.meta.i420, f.meta.jpeg_size is not None) for f in frames] == [(None, True)] * 3


def test_a_raw_dv_file_is_probed_at_its_frame_rate_not_its_time_base(tmp_path: Path) -> None:
    import av

    video = tmp_path / "tape.dv"
    with av.open(str(video), "w") as container:
        stream = container.add_stream("dvvideo", rate=25)
        stream.width, stream.height, stream.pix_fmt = 720, 576, "yuv420p"
        for _ in range(10):
            container.mux(stream.encode(av.VideoFrame.from_ndarray(np.zeros((576, 720, 3), np.uint8), format="bgr24")))
        container.mux(stream.encode())
    source = FileSource(video)
    try:
        assert source.probe.fps == 25  # OpenCV says 60000
        assert source.probe.duration_s == pytest.approx(0.4)
    finally:
        source.close()


def test_an_edited_videos_shot_cuts_are_registered_with_it_and_again_when_resumed(
    real_redis: "redis.Redis", tmp_path: Path
) -> None:
    """The stage clip cuts three times (frames 20, 82 and 211); a producer resumed after frame 100
    reads the video from its start again, so it finds the same cuts."""
    stage = require_shared(VIDEOS / "short_hamilton_clip.mp4")
    FileProducer(ProducerSettings(), real_redis).produce(stage, "stage")
    record = registry.read(real_redis, "stage")
    assert record is not None
    assert record.shot_cuts is not None
    assert [index for index, _ in record.shot_cuts] == [20, 82, 211]
    assert [t_ms for _, t_ms in record.shot_cuts] == [667, 2736, 7040]  # as the frames' own t_ms
    registry.register(real_redis, "resumed", source=stage.name, last_index=100)
    FileProducer(ProducerSettings(), real_redis).produce(stage, "resumed")
    again = registry.read(real_redis, "resumed")
    assert again is not None
    assert again.shot_cuts == record.shot_cuts


def test_cuts_are_not_looked_for_when_turned_off(real_redis: "redis.Redis") -> None:
    stage = require_shared(VIDEOS / "short_hamilton_clip.mp4")
    FileProducer(ProducerSettings(find_cuts=False), real_redis).produce(stage, "uncut")
    record = registry.read(real_redis, "uncut")
    assert record is not None
    assert (record.cuts, record.shot_cuts) == ("", None)


def test_the_cuts_found_so_far_are_registered_with_the_frames_sent(real_redis: "redis.Redis") -> None:
    """A producer that dies mid-video leaves its video to be finalised partial: with the cuts before
    its last sent frame, no person is tracked across them. Here it waits on a full backlog."""
    import threading
    import time

    stage = require_shared(VIDEOS / "short_hamilton_clip.mp4")
    settings = ProducerSettings(every_frame=True, backlog_max_frames=120, frame_encoding="jpeg")
    producer = threading.Thread(target=FileProducer(settings, real_redis).produce, args=(stage, "held"))
    producer.start()
    try:
        deadline = time.monotonic() + 60
        while (record := registry.read(real_redis, "held")) is None or record.last_index < 110:
            assert time.monotonic() < deadline, "the producer did not send 110 frames"
            time.sleep(0.05)
        assert record.status != "produced"
        assert record.shot_cuts == [(20, 667), (82, 2736)]
    finally:
        real_redis.delete(keys.FRAMES_STREAM)  # room again: it goes on to the end
        while producer.is_alive():
            real_redis.delete(keys.FRAMES_STREAM)
            producer.join(timeout=0.1)
    done = registry.read(real_redis, "held")
    assert done is not None
    assert done.shot_cuts == [(20, 667), (82, 2736), (211, 7040)]
