"""Training-time augmentation in numpy and OpenCV, so it runs with any Keras backend.

Random horizontal flip, small rotation, shift and zoom: faces in video are
roughly aligned by the detector, so the perturbations stay small.
"""

from dataclasses import dataclass

import cv2
import numpy as np
import numpy.typing as npt


@dataclass(frozen=True)
class Augmentation:
    flip: bool = True
    max_rotation_deg: float = 10.0
    max_shift_frac: float = 0.1
    zoom_range: tuple[float, float] = (0.9, 1.1)

    def apply(self, images: npt.NDArray[np.uint8], rng: np.random.Generator) -> npt.NDArray[np.uint8]:
        """Augment a batch of uint8 images (N, H, W); returns a new array."""
        return np.stack([self._one(image, rng) for image in images])

    def _one(self, image: npt.NDArray[np.uint8], rng: np.random.Generator) -> npt.NDArray[np.uint8]:
        h, w = image.shape
        angle = rng.uniform(-self.max_rotation_deg, self.max_rotation_deg)
        scale = rng.uniform(*self.zoom_range)
        matrix = cv2.getRotationMatrix2D((w / 2, h / 2), angle, scale)
        shift = rng.uniform(-self.max_shift_frac, self.max_shift_frac, size=2) * np.array([w, h])
        matrix[:, 2] = matrix[:, 2] + shift
        out = cv2.warpAffine(image, matrix, (w, h), borderMode=cv2.BORDER_REFLECT_101)
        if self.flip and rng.random() < 0.5:
            out = out[:, ::-1]
        return np.ascontiguousarray(out, dtype=np.uint8)
