"""A sample video with a real face, for a first run on a fresh machine, without network.

The face is NASA's public-domain astronaut portrait (Eileen Collins, 512x512), the one
scikit-image ships as ``skimage/data/astronaut.png``; this package carries it as a JPEG
(``emostream/data/astronaut.jpg``, 61 KB).
"""

from importlib import resources
from pathlib import Path

import cv2
import numpy as np
import numpy.typing as npt

from emostream.errors import SourceError

SAMPLE_FPS = 15
SAMPLE_SECONDS = 4
FRAME_SIZE = (640, 480)


def astronaut_image() -> npt.NDArray[np.uint8]:
    """The astronaut portrait as a BGR image."""
    return _read(resources.files("emostream").joinpath("data", "astronaut.jpg").read_bytes())


def _read(data: bytes) -> npt.NDArray[np.uint8]:
    image = cv2.imdecode(np.frombuffer(data, dtype=np.uint8), cv2.IMREAD_COLOR)
    if image is None:
        raise SourceError("the astronaut image could not be decoded")
    return image  # type: ignore[return-value]


def make_sample_video(path: Path, seconds: int = SAMPLE_SECONDS, fps: int = SAMPLE_FPS) -> int:
    """Write an MP4 of a slow pan and zoom over the portrait; returns the frame count."""
    image = astronaut_image()
    path.parent.mkdir(parents=True, exist_ok=True)
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter.fourcc(*"mp4v"), fps, FRAME_SIZE)
    if not writer.isOpened():
        raise SourceError(f"cannot write a video to {path}")
    count = seconds * fps
    try:
        for i in range(count):
            writer.write(_frame(image, i / max(count - 1, 1)))
    finally:
        writer.release()
    return count


def _frame(image: npt.NDArray[np.uint8], progress: float) -> npt.NDArray[np.uint8]:
    """A crop that drifts and zooms a little, so consecutive frames differ like real video."""
    height, width = image.shape[:2]
    crop_w = int(width * (0.9 - 0.15 * progress))
    crop_h = crop_w * FRAME_SIZE[1] // FRAME_SIZE[0]
    x0 = int((width - crop_w) * (0.3 + 0.2 * progress))
    y0 = int((height - crop_h) * 0.2)
    view = image[y0 : y0 + crop_h, x0 : x0 + crop_w]
    return cv2.resize(view, FRAME_SIZE, interpolation=cv2.INTER_AREA)  # type: ignore[return-value]
