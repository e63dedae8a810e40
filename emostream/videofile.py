"""Reading a video file as players show it: upright, each frame at its own presentation time.

The producer (``producer.source``) and the render (``aggregator.render``) both read the source
video, and a render's boxes land on the right frames only if both read it the same way.

- Phones store portrait video as sideways frames plus a display rotation; frames come turned
  upright (OpenCV's default today, set so that no version or build changes it).
- Times are the container's timestamps, not index / fps: phones and screen recorders write
  variable frame rates, where frame 60 of a clip averaging 15 fps may be shown at 2 s rather
  than at 4.
"""

import math

import cv2


def open_upright(path: str) -> "cv2.VideoCapture":
    capture = cv2.VideoCapture(path, cv2.CAP_FFMPEG)
    capture.set(cv2.CAP_PROP_ORIENTATION_AUTO, 1)
    return capture


class FrameClock:
    """The presentation time of each frame read, in ms from the stream's start.

    A frame without a usable time (none reported, or not after the previous frame's) is placed
    one frame at ``nominal_fps`` after the previous one, and counted in ``untimed``."""

    def __init__(self, nominal_fps: float) -> None:
        self.interval_ms = 1000.0 / nominal_fps
        self.previous_ms = -math.inf
        self.untimed = 0

    def time_of_frame_read(self, capture: "cv2.VideoCapture") -> float:
        """Call after each successful ``capture.read()``."""
        reported = float(capture.get(cv2.CAP_PROP_POS_MSEC))
        if math.isfinite(reported) and reported >= 0 and reported > self.previous_ms:
            self.previous_ms = reported
        else:
            self.untimed += 1
            self.previous_ms = self.previous_ms + self.interval_ms if math.isfinite(self.previous_ms) else 0.0
        return self.previous_ms
