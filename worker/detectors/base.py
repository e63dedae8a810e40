"""The face-detector interface: one small protocol, one module per backend."""

from dataclasses import dataclass
from typing import Protocol

import cv2
import numpy as np
import numpy.typing as npt


@dataclass(frozen=True)
class Detection:
    box: tuple[int, int, int, int]  # x, y, w, h in the coordinates of the frame given
    score: float


class FaceDetector(Protocol):
    name: str

    def detect(self, image_bgr: npt.NDArray[np.uint8]) -> list[Detection]: ...


def downscale(image: npt.NDArray[np.uint8], max_side_px: int) -> tuple[npt.NDArray[np.uint8], float]:
    """The image shrunk so its longest side is at most ``max_side_px``, and the factor back to full size."""
    height, width = image.shape[:2]
    scale = max_side_px / max(height, width)
    if scale >= 1:
        return image, 1.0
    small = cv2.resize(image, (round(width * scale), round(height * scale)), interpolation=cv2.INTER_AREA)
    return small, 1 / scale  # type: ignore[return-value]


def clip_box(
    box: tuple[float, float, float, float], scale: float, width: int, height: int
) -> tuple[int, int, int, int] | None:
    """Scale a box back to full size and clip it to the frame; None if nothing is left."""
    x0 = max(0, round(box[0] * scale))
    y0 = max(0, round(box[1] * scale))
    x1 = min(width, round((box[0] + box[2]) * scale))
    y1 = min(height, round((box[1] + box[3]) * scale))
    if x1 - x0 < 2 or y1 - y0 < 2:
        return None
    return x0, y0, x1 - x0, y1 - y0
