"""Reading a video as players show it: presentation times from the container, upright frames."""

import math
from pathlib import Path

import cv2
import numpy as np
import pytest

from emostream.videofile import FrameClock, open_upright
from tests.conftest import write_variable_rate_video


class Reported:
    """A capture that reports the given times for CAP_PROP_POS_MSEC, one per frame read."""

    def __init__(self, times_ms: list[float]) -> None:
        self.times = iter(times_ms)

    def get(self, prop: int) -> float:
        assert prop == cv2.CAP_PROP_POS_MSEC
        return next(self.times)


def test_reported_times_are_kept_and_unusable_ones_follow_the_last_at_the_nominal_rate() -> None:
    capture = Reported([0.0, 33.4, 33.4, math.nan, -5.0, 200.0, 150.0, math.inf])
    clock = FrameClock(nominal_fps=50.0)
    times = [clock.time_of_frame_read(capture) for _ in range(8)]  # type: ignore[arg-type]
    assert times == pytest.approx([0.0, 33.4, 53.4, 73.4, 93.4, 200.0, 220.0, 240.0])
    assert clock.untimed == 5


def test_a_first_frame_without_a_time_is_at_zero() -> None:
    clock = FrameClock(nominal_fps=25.0)
    assert clock.time_of_frame_read(Reported([math.nan])) == 0.0  # type: ignore[arg-type]
    assert clock.untimed == 1


def test_a_variable_frame_rate_video_reads_at_its_own_times(tmp_path: Path) -> None:
    times = [0, 16, 33, 50, 150, 250, 1250]
    capture = open_upright(str(write_variable_rate_video(tmp_path / "v.mp4", times)))
    clock, read = FrameClock(nominal_fps=30.0), []
    while capture.read()[0]:
        read.append(clock.time_of_frame_read(capture))
    assert read == times
    assert clock.untimed == 0


def test_frames_stored_sideways_with_a_display_rotation_come_upright(tmp_path: Path) -> None:
    import av

    path = tmp_path / "phone.mp4"
    with av.open(str(path), "w") as container:
        stream = container.add_stream("mpeg4", rate=10)
        stream.width, stream.height = 120, 160  # stored sideways
        stream.set_display_rotation(90)
        sideways = np.zeros((160, 120, 3), np.uint8)
        sideways[:, -10:] = 255  # the picture's top edge, as a phone held upright stores it: at the right
        for _ in range(3):
            container.mux(stream.encode(av.VideoFrame.from_ndarray(sideways, format="bgr24")))
        container.mux(stream.encode())
    ok, image = open_upright(str(path)).read()
    assert ok
    assert image.shape == (120, 160, 3)
    assert image[:8].mean() > 200  # the white edge is on top again
    assert image[20:].mean() < 50
