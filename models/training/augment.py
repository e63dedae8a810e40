"""Training-time augmentation in numpy and OpenCV, so it runs with any Keras backend.

Random horizontal flip, small rotation, shift and zoom: faces in video are
roughly aligned by the detector, so the perturbations stay small. Optionally random
erasing (Zhong et al. 2017, "Random Erasing Data Augmentation"): a rectangle of the face
replaced by noise, so that no single region (the mouth, the eyes) is relied on alone.
Optionally photometric jitter: each face's brightness and contrast scaled by random factors,
as torchvision's ColorJitter does, because faces from cameras and uploads are lit very unlike
one another and FER2013's own faces range from washed out to nearly black.
And optionally mixup (Zhang et al. 2018, "mixup: Beyond Empirical Risk Minimization"): each
batch blended with a shuffled copy of itself, faces and targets alike.
Optionally capture degradation: each of four things a video pipeline does to a face (optics
blur, distance, sensor noise, the producers' JPEG) applied with a probability, at a random
strength, so the network sees faces as the workers do (``python -m models capture`` measures them).
"""

from dataclasses import dataclass

import cv2
import numpy as np
import numpy.typing as npt

from emostream.preprocess import resize_face


@dataclass(frozen=True)
class Augmentation:
    flip: bool = True
    max_rotation_deg: float = 10.0
    max_shift_frac: float = 0.1
    zoom_range: tuple[float, float] = (0.9, 1.1)
    # Probability of erasing one rectangle of 2 to 33 % of the face, of aspect 0.3 to 3.3
    # (torchvision's RandomErasing defaults), filled with uniform noise. 0 draws no random
    # numbers for it, so the other perturbations of earlier recipes are reproduced exactly.
    erase_probability: float = 0.0
    erase_area: tuple[float, float] = (0.02, 0.33)
    erase_aspect: tuple[float, float] = (0.3, 3.3)
    # Brightness: the face multiplied by a factor from [1 - b, 1 + b]. Contrast: the face
    # blended with its own mean gray by a factor from [1 - c, 1 + c] (ColorJitter's
    # definitions). 0 draws no random numbers for it, as for erasing.
    brightness: float = 0.0
    contrast: float = 0.0
    # Probability of each capture degradation, drawn independently per face, in camera order:
    # a Gaussian blur, shrinking to a smaller face (enlarged again as serving enlarges it),
    # Gaussian noise, a JPEG round trip. 0 draws no random numbers for it, as for erasing.
    degrade: float = 0.0
    blur_sigma_px: tuple[float, float] = (0.3, 1.5)
    face_px: tuple[int, int] = (16, 40)
    noise_sigma: tuple[float, float] = (2.0, 12.0)
    jpeg_quality: tuple[int, int] = (30, 90)

    def __post_init__(self) -> None:
        check_jitter(self.brightness, self.contrast)
        check_probability("degrade", self.degrade)

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
        face: npt.NDArray[np.uint8] = np.ascontiguousarray(out, dtype=np.uint8)
        if self.brightness or self.contrast:
            face = self._jitter(face, rng)
        if self.erase_probability and rng.random() < self.erase_probability:
            self._erase(face, rng)
        if self.degrade:
            face = self._degrade(face, rng)
        return face

    def _degrade(self, face: npt.NDArray[np.uint8], rng: np.random.Generator) -> npt.NDArray[np.uint8]:
        if rng.random() < self.degrade:
            face = blur(face, rng.uniform(*self.blur_sigma_px))
        if rng.random() < self.degrade:
            face = shrink_and_enlarge(face, int(rng.integers(self.face_px[0], self.face_px[1] + 1)))
        if rng.random() < self.degrade:
            face = add_noise(face, rng.uniform(*self.noise_sigma), rng)
        if rng.random() < self.degrade:
            face = jpeg_round_trip(face, int(rng.integers(self.jpeg_quality[0], self.jpeg_quality[1] + 1)))
        return face

    def _jitter(self, image: npt.NDArray[np.uint8], rng: np.random.Generator) -> npt.NDArray[np.uint8]:
        brightness = rng.uniform(1 - self.brightness, 1 + self.brightness) if self.brightness else 1.0
        contrast = rng.uniform(1 - self.contrast, 1 + self.contrast) if self.contrast else 1.0
        return relight(image, brightness, contrast)

    def _erase(self, image: npt.NDArray[np.uint8], rng: np.random.Generator) -> None:
        """Replace one random rectangle of ``image`` (in place) by uniform noise."""
        h, w = image.shape
        area = rng.uniform(*self.erase_area) * h * w
        aspect = np.exp(rng.uniform(np.log(self.erase_aspect[0]), np.log(self.erase_aspect[1])))
        eh = min(h, max(1, round(float(np.sqrt(area * aspect)))))
        ew = min(w, max(1, round(float(np.sqrt(area / aspect)))))
        top, left = rng.integers(0, h - eh + 1), rng.integers(0, w - ew + 1)
        image[top : top + eh, left : left + ew] = rng.integers(0, 256, size=(eh, ew), dtype=np.uint8)


def check_probability(name: str, value: float) -> None:
    """Refuse a per-face probability outside [0, 1]."""
    if not 0.0 <= value <= 1.0:
        raise ValueError(f"{name} {value} is a probability, between 0 and 1")


def check_jitter(brightness: float, contrast: float) -> None:
    """Refuse jitter strengths outside [0, 1): a factor range must stay positive."""
    for name, strength in (("brightness", brightness), ("contrast", contrast)):
        if not 0.0 <= strength < 1.0:
            raise ValueError(f"{name} {strength} is a jitter strength, at least 0 and below 1")


def relight(faces: npt.NDArray[np.uint8], brightness: float, contrast: float) -> npt.NDArray[np.uint8]:
    """Faces (..., H, W) with brightness scaled, then contrast scaled about each face's own mean
    gray (ColorJitter's definitions); rounded and clipped to uint8. Factors of 1 change nothing."""
    out = faces.astype(np.float32) * np.float32(brightness)
    mean = out.mean(axis=(-2, -1), keepdims=True)
    out = np.float32(contrast) * out + np.float32(1 - contrast) * mean
    relit: npt.NDArray[np.uint8] = np.clip(np.rint(out), 0, 255).astype(np.uint8)
    return relit


def mix_up(
    faces: npt.NDArray[np.float32], targets: npt.NDArray[np.float32], alpha: float, rng: np.random.Generator
) -> tuple[npt.NDArray[np.float32], npt.NDArray[np.float32]]:
    """Blend a batch with a shuffled copy of itself by one weight drawn from Beta(alpha, alpha).

    Faces and their target rows are mixed by the same weight, so each target stays a probability
    distribution. alpha 0 returns the batch unchanged and draws no random numbers.
    """
    if alpha == 0.0:
        return faces, targets
    weight = np.float32(rng.beta(alpha, alpha))
    partner = rng.permutation(len(faces))
    mixed_faces = weight * faces + (1 - weight) * faces[partner]
    mixed_targets = weight * targets + (1 - weight) * targets[partner]
    return mixed_faces.astype(np.float32), mixed_targets.astype(np.float32)


def blur(face: npt.NDArray[np.uint8], sigma_px: float) -> npt.NDArray[np.uint8]:
    """A face out of focus: a Gaussian blur of ``sigma_px`` pixels."""
    return cv2.GaussianBlur(face, (0, 0), sigma_px)  # type: ignore[return-value]


def shrink(face: npt.NDArray[np.uint8], size_px: int) -> npt.NDArray[np.uint8]:
    """A face as a camera farther away delivers it: ``size_px`` wide, averaged down."""
    return cv2.resize(face, (size_px, size_px), interpolation=cv2.INTER_AREA)  # type: ignore[return-value]


def shrink_and_enlarge(face: npt.NDArray[np.uint8], size_px: int) -> npt.NDArray[np.uint8]:
    """A smaller face brought back to this one's size as the model's preprocessing does."""
    return resize_face(shrink(face, size_px), face.shape[0])


def add_noise(face: npt.NDArray[np.uint8], sigma: float, rng: np.random.Generator) -> npt.NDArray[np.uint8]:
    """Gaussian sensor noise of ``sigma`` gray levels."""
    noisy = face.astype(np.float32) + rng.normal(0.0, sigma, face.shape).astype(np.float32)
    return np.clip(np.rint(noisy), 0, 255).astype(np.uint8)


def jpeg_round_trip(face: npt.NDArray[np.uint8], quality: int) -> npt.NDArray[np.uint8]:
    """A face encoded as JPEG at ``quality`` and decoded again, as producers send frames."""
    ok, encoded = cv2.imencode(".jpg", face, [cv2.IMWRITE_JPEG_QUALITY, quality])
    if not ok:
        raise ValueError(f"OpenCV could not encode a {face.shape} face as JPEG")
    return cv2.imdecode(encoded, cv2.IMREAD_GRAYSCALE)  # type: ignore[return-value]
