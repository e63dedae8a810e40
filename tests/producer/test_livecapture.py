"""Reading live streams with PyAV: every frame as its picture, and a stream that will not open says why."""

import socket
import time
from pathlib import Path

import numpy as np
import pytest

from producer.livecapture import open_stream
from testkit.hdrvideo import write_hdr_video
from testkit.rtsp import silent_endpoint
from tests.conftest import write_interlaced_video

SECRET = "cam-pw-51e0"


def shades(count: int, size: tuple[int, int] = (96, 64)) -> list[np.ndarray]:
    """Frames of distinct flat greys with a bright block, so a black or stale frame shows."""
    width, height = size
    frames = []
    for index in range(count):
        image = np.full((height, width, 3), 40 + 4 * index, dtype=np.uint8)
        image[8:24, 8:40] = 250
        frames.append(image)
    return frames


def read_to_the_end(source: Path, max_side_px: int | None = None) -> tuple[list[np.ndarray], bool]:
    """Every frame, read as a stream; and whether the capture then says it ended."""
    capture, why = open_stream(str(source), "tcp", 5, 5, max_side_px)
    assert capture is not None, why
    images = []
    while capture.grab():
        image = capture.retrieve()
        assert image is not None
        images.append(image)
    capture.release()
    return images, capture.ended


def median_levels(source: Path) -> list[float]:
    return [float(np.median(image)) for image in read_to_the_end(source)[0]]


def test_a_stream_that_switches_to_fields_is_read_as_its_pictures_not_black(tmp_path: Path) -> None:
    """A channel between programmes, an encoder reconfigured: H.264 coded as frames, then as fields.
    OpenCV's reader turned every frame coded as fields black (or left the last picture), and said it
    had read it. Here a capture's bytes stand in for the stream, as a recorder appends them."""
    images = shades(30)
    progressive = write_interlaced_video(tmp_path / "a.ts", images[:10], fps=50, fields=False)
    fields = write_interlaced_video(tmp_path / "b.ts", images[10:], fps=50)
    capture_file = tmp_path / "capture.ts"
    capture_file.write_bytes(progressive.read_bytes() + fields.read_bytes())

    images, ended = read_to_the_end(capture_file)
    levels = [float(np.median(image)) for image in images]
    assert ended
    assert len(levels) == 30
    assert levels == pytest.approx([float(np.median(image)) for image in images], abs=5)  # YUV's rounding
    assert levels == sorted(set(levels))  # each its own picture: none black, none left from before


def test_a_file_standing_in_for_a_camera_is_read_at_its_own_rate(tmp_path: Path) -> None:
    """Read as fast as it decoded, a 9 s clip went by in 0.4 s, and the camera took its end for a
    dropped stream twice a second. Slower than its rate is the machine's doing; faster is a bug."""
    video = write_interlaced_video(tmp_path / "clip.mp4", shades(8), fps=10, fields=False)
    capture, why = open_stream(str(video), "tcp", 5, 5)
    assert capture is not None, why
    assert capture.finite
    started = time.monotonic()
    read = 0
    while capture.grab():
        read += 1
    elapsed = time.monotonic() - started
    capture.release()
    assert (read, capture.ended) == (8, True)
    assert elapsed >= 0.65  # the 8th frame is due 0.7 s after the 1st


def test_an_hdr_stream_is_read_as_its_sdr_picture(tmp_path: Path) -> None:
    """An HLG camera or broadcast is tone-mapped as a file is (``emostream.hdr``), not shown dark."""
    images = [np.full((64, 96, 3), level, np.uint8) for level in (50, 100, 150, 200)]
    levels = median_levels(write_hdr_video(tmp_path / "hlg.mp4", images, "hlg", fps=50))
    assert levels == pytest.approx([50, 100, 150, 200], abs=2)  # read as SDR: 44, 89, 133, 166


def test_a_stream_whose_resolution_changes_comes_at_its_first_frames_size(tmp_path: Path) -> None:
    """A WebRTC gateway or an encoder reconfigured: as in a file, boxes stay in one frame's pixels."""
    parts = [(shades(3, (96, 64)), "a"), (shades(3, (192, 128)), "b"), (shades(3, (48, 32)), "c")]
    segments = [write_interlaced_video(tmp_path / f"{n}.ts", images, fps=50, fields=False) for images, n in parts]
    stream = tmp_path / "stream.ts"
    stream.write_bytes(b"".join(segment.read_bytes() for segment in segments))
    assert [image.shape for image in read_to_the_end(stream)[0]] == [(64, 96, 3)] * 9


def test_an_hdr_stream_is_shrunk_to_the_size_it_is_sent_at_before_tone_mapping(tmp_path: Path) -> None:
    images = [np.full((64, 96, 3), level, np.uint8) for level in (60, 160)]
    video = write_hdr_video(tmp_path / "pq.mp4", images, "pq", fps=50)
    shrunk, _ = read_to_the_end(video, max_side_px=48)
    assert [image.shape for image in shrunk] == [(32, 48, 3)] * 2
    assert [float(np.median(image)) for image in shrunk] == pytest.approx([60, 160], abs=2)
    assert [image.shape for image in read_to_the_end(video)[0]] == [(64, 96, 3)] * 2


def test_a_stream_with_a_display_rotation_comes_upright(tmp_path: Path) -> None:
    video = write_interlaced_video(tmp_path / "turned.mp4", shades(3), rotation=90)
    capture, why = open_stream(str(video), "tcp", 5, 5)
    assert capture is not None, why
    assert capture.grab()
    image = capture.retrieve()
    capture.release()
    assert image is not None
    assert image.shape[:2] == (96, 64)  # stored 96 wide, shown 64 wide


def test_a_stream_that_will_not_open_says_why_and_never_its_password() -> None:
    with socket.socket() as unused:
        unused.bind(("127.0.0.1", 0))
        port = unused.getsockname()[1]  # closed: nothing listens on it
    capture, why = open_stream(f"rtsp://admin:{SECRET}@127.0.0.1:{port}/cam", "tcp", 5, 5)
    assert capture is None
    assert "refused" in why.lower()
    assert SECRET not in why


def test_a_stream_that_never_answers_is_given_up_after_the_open_timeout() -> None:
    with silent_endpoint() as silent:
        started = time.monotonic()
        capture, why = open_stream(silent, "tcp", 1.0, 1.0)
        waited = time.monotonic() - started
    assert capture is None
    assert why == "no answer within 1 s"
    assert waited < 5
