"""Video file sources: OpenCV decoding with errors translated at the boundary."""

import logging
import math
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import numpy.typing as npt

from emostream.errors import SourceError

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class VideoProbe:
    fps: float
    frame_count_hint: int  # the container's claim; decoding decides the real count
    width: int
    height: int

    @property
    def duration_s(self) -> float:
        return self.frame_count_hint / self.fps if self.fps > 0 else 0.0


class FileSource:
    """Decodes a video file frame by frame; raises SourceError for anything unreadable."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._check_file()
        self._capture = cv2.VideoCapture(str(path), cv2.CAP_FFMPEG)
        # Phones store portrait video sideways with a display rotation: frames as players show them
        # (OpenCV's default today, set so that no version or build changes it; render.py does the same).
        self._capture.set(cv2.CAP_PROP_ORIENTATION_AUTO, 1)
        if not self._capture.isOpened():
            raise SourceError(f"{path.name}: not a readable video (OpenCV/FFmpeg could not open it)")
        self.probe = self._probe()
        self.frames_decoded = 0
        self.untimed_frames = 0

    def _check_file(self) -> None:
        if not self.path.exists():
            raise SourceError(f"{self.path}: no such file")
        if not self.path.is_file():
            raise SourceError(f"{self.path}: not a regular file")
        if self.path.stat().st_size == 0:
            raise SourceError(f"{self.path.name}: empty file (0 bytes)")

    def _probe(self) -> VideoProbe:
        fps = float(self._capture.get(cv2.CAP_PROP_FPS))
        count = int(self._capture.get(cv2.CAP_PROP_FRAME_COUNT))
        width = int(self._capture.get(cv2.CAP_PROP_FRAME_WIDTH))
        height = int(self._capture.get(cv2.CAP_PROP_FRAME_HEIGHT))
        if width <= 0 or height <= 0:
            raise SourceError(f"{self.path.name}: no video stream")
        return VideoProbe(fps if math.isfinite(fps) and fps > 0 else 0.0, max(count, 0), width, height)

    def frames(self, nominal_fps: float) -> Iterator[tuple[int, float, npt.NDArray[np.uint8]]]:
        """(index, presentation time in ms, BGR image) in presentation order; stops at the end or at
        the first undecodable frame.

        Times are the decoder's, not index / fps: phones and screen recorders write variable frame
        rates, where frame 60 of a clip averaging 15 fps may be shown at 2 s rather than 4. A frame
        without a usable time (none, or not after the previous one) is placed one frame at
        ``nominal_fps`` after the previous, and counted in ``untimed_frames``."""
        previous = -math.inf
        while True:
            ok, image = self._capture.read()
            if not ok or image is None:
                break
            previous = self._presentation_ms(previous, nominal_fps)
            yield self.frames_decoded, previous, np.asarray(image, dtype=np.uint8)
            self.frames_decoded += 1
        if self.frames_decoded == 0:
            raise SourceError(f"{self.path.name}: no frame could be decoded")
        if self.untimed_frames:
            log.warning(
                "%s: %d of %d frames had no usable presentation time; placed at %.3f fps after the one before",
                self.path.name, self.untimed_frames, self.frames_decoded, nominal_fps,
            )  # fmt: skip
        if self.probe.frame_count_hint and self.frames_decoded < self.probe.frame_count_hint:
            log.warning(
                "%s: decoded %d of %d frames the container announces (truncated or damaged)",
                self.path.name, self.frames_decoded, self.probe.frame_count_hint,
            )  # fmt: skip

    def _presentation_ms(self, previous: float, nominal_fps: float) -> float:
        """The time of the frame just read, from the container's timestamps (relative to the stream's start)."""
        reported = float(self._capture.get(cv2.CAP_PROP_POS_MSEC))
        if math.isfinite(reported) and reported >= 0 and reported > previous:
            return reported
        self.untimed_frames += 1
        return previous + 1000.0 / nominal_fps if math.isfinite(previous) else 0.0

    def close(self) -> None:
        self._capture.release()
