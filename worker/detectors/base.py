"""The face-detector interface: one small protocol, one module per backend."""

from dataclasses import dataclass
from typing import Protocol

import numpy as np
import numpy.typing as npt


@dataclass(frozen=True)
class Detection:
    box: tuple[int, int, int, int]  # x, y, w, h in the coordinates of the frame given
    score: float


class FaceDetector(Protocol):
    name: str
    # The side of the square that frames a face as FER2013's faces are framed (the network's training
    # faces), per box width: each detector draws its boxes its own way (emostream.preprocess.face_crop).
    framing: float

    def detect(self, image_bgr: npt.NDArray[np.uint8], coarse: bool = False) -> list[Detection]:
        """The faces in the frame; ``coarse``: on the frame shrunk further, which is cheaper and finds
        only larger faces (``worker.batch`` uses it where it finds what the full detection does)."""
        ...

    def has_coarse_scale(self, height: int, width: int) -> bool:
        """Whether a coarse detection of a frame of this size differs from the full one."""
        ...


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
