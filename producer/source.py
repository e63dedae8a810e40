"""Video file sources: opened and probed with OpenCV, read with PyAV (``emostream.videofile``), with
errors translated at the boundary."""

import logging
import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import numpy.typing as npt

from emostream.decoding import DecodeReport
from emostream.errors import SourceError
from emostream.mediafiles import display_name, display_text
from emostream.videofile import (
    MAX_PLAUSIBLE_FPS,
    FrameReader,
    Glance,
    announced_length,
    frame_size,
    open_upright,
    why_unopenable,
)

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
        self.name = display_name(path)  # for messages and the registry: UTF-8 whatever the file name's bytes
        self._check_file()
        self._capture = open_upright(path)
        if not self._capture.isOpened():
            raise SourceError(f"{self.name}: not a readable video: {why_unopenable(path)}")
        self.probe = self._probe()
        self.report: DecodeReport | None = None  # once frames() has read to the end

    def _check_file(self) -> None:
        if not self.path.exists():
            raise SourceError(f"{display_text(self.path)}: no such file")
        if not self.path.is_file():
            raise SourceError(f"{display_text(self.path)}: not a regular file")
        if self.path.stat().st_size == 0:
            raise SourceError(f"{self.name}: empty file (0 bytes)")

    def _probe(self) -> VideoProbe:
        fps = float(self._capture.get(cv2.CAP_PROP_FPS))
        count = int(self._capture.get(cv2.CAP_PROP_FRAME_COUNT))
        stated = announced_length(self.path).rate if math.isfinite(fps) and fps > MAX_PLAUSIBLE_FPS else None
        if stated and (rate := float(stated)) < fps:
            fps, count = rate, round(count * rate / fps)  # a time base's, not a rate (raw DV: 60000); its count too
        size = frame_size(self._capture)  # as the frames are read: upright, square pixels
        if size is None or min(size) <= 0:
            raise SourceError(f"{self.name}: no video stream")
        return VideoProbe(fps if math.isfinite(fps) and fps > 0 else 0.0, max(count, 0), *size)

    def frames(
        self,
        nominal_fps: float,
        wanted: Callable[[float], bool] = lambda _: True,
        max_side_px: int | None = None,
        glance: Glance | None = None,
    ) -> Iterator[tuple[int, float, npt.NDArray[np.uint8] | None]]:
        """(index, presentation time in ms, BGR image) in presentation order, upright, to the end,
        past damaged stretches (``emostream.videofile``); then ``report`` says what was lost. The
        image is None for a frame not ``wanted`` (by its time): decoded, but not converted. An HDR
        frame comes no larger than ``max_side_px`` (shrunk before its tone mapping, which is dear).
        ``glance`` is shown every decoded frame (``FrameReader.sampled``)."""
        reader = FrameReader(self.path, self._capture, nominal_fps, hdr_max_side_px=max_side_px)
        for index, (t_ms, image) in enumerate(reader.sampled(wanted, glance)):
            yield index, t_ms, image
        if reader.frames == 0:
            raise SourceError(f"{self.name}: no frame could be decoded")
        self.report = reader.report(announced_length(self.path))
        for warning in self.report.warnings(self.name):
            log.warning("%s", warning)

    def close(self) -> None:
        self._capture.release()
