"""Image preprocessing shared by training, evaluation, the producer and the worker.

One function turns grayscale uint8 face crops into the model's input, so the
three places can never disagree (the classic bug: training on RGB, serving BGR);
one cuts a face out of a frame framed as the training faces are; one shrinks
frames, for the producer's size cap and the detectors' input.
"""

from collections.abc import Sequence

import cv2
import numpy as np
import numpy.typing as npt

FACE_SIZE_PX = 48  # FER2013's native resolution; the model is trained on it


def downscale(image: npt.NDArray[np.uint8], max_side_px: int) -> tuple[npt.NDArray[np.uint8], float]:
    """The image shrunk so its longest side is at most ``max_side_px``, and the factor back to full size.

    Halved by 2x2 averaging while more than twice too large, then bilinear: as free of aliasing as
    ``INTER_AREA`` and 3 to 6 times cheaper at these sizes (area resampling at a non-integer factor
    took longer than YuNet itself on a 596x336 frame)."""
    height, width = image.shape[:2]
    scale = max_side_px / max(height, width)
    if scale >= 1:
        return image, 1.0
    target = (round(width * scale), round(height * scale))
    small = image
    while max(small.shape[:2]) >= 2 * max_side_px:
        small = cv2.resize(small, (small.shape[1] // 2, small.shape[0] // 2), interpolation=cv2.INTER_AREA)  # type: ignore[assignment]
    small = cv2.resize(small, target, interpolation=cv2.INTER_LINEAR)  # type: ignore[assignment]
    return small, 1 / scale


def face_crop(
    image: npt.NDArray[np.uint8], box: tuple[int, int, int, int], side_per_width: float = 1.0
) -> npt.NDArray[np.uint8]:
    """The face in ``box`` (x, y, w, h), grayscale, framed as FER2013 frames its faces: a square of
    ``side_per_width`` times the box's width about the box's centre. Past the frame's edge, its edge
    pixels are repeated.

    Why: the network learnt faces in FER2013's square frames. YuNet's boxes are 1.28 times as tall
    as they are wide, and were squeezed into the network's square input as they were: faces came
    out 23 % wider than it had learnt them, and PublicTest's faces scored 65.2 % as YuNet boxes
    them instead of 68.4 % (``python -m models framing``; docs/model/results.md)."""
    x, y, w, h = box
    side = max(2, round(w * side_per_width))
    return _region(image, round(x + w / 2 - side / 2), round(y + h / 2 - side / 2), side, side)


def _region(image: npt.NDArray[np.uint8], x: int, y: int, width: int, height: int) -> npt.NDArray[np.uint8]:
    """``image[y : y + height, x : x + width]`` in gray, its edge repeated where it reaches outside
    (it overlaps the frame: it is centred on a box's centre)."""
    rows, cols = image.shape[:2]
    x0, y0, x1, y1 = max(0, x), max(0, y), min(cols, x + width), min(rows, y + height)
    if x1 <= x0 or y1 <= y0:
        raise ValueError(f"region {(x, y, width, height)} is outside the {cols}x{rows} frame")
    inside = to_gray(image[y0:y1, x0:x1])
    margins = (y0 - y, y + height - y1, x0 - x, x + width - x1)
    if not any(margins):
        return inside
    return cv2.copyMakeBorder(inside, *margins, cv2.BORDER_REPLICATE)  # type: ignore[return-value]


def to_gray(image_bgr: npt.NDArray[np.uint8]) -> npt.NDArray[np.uint8]:
    """Convert an OpenCV BGR (or already grayscale) image to grayscale."""
    if image_bgr.ndim == 2:
        return image_bgr
    return cv2.cvtColor(image_bgr, cv2.COLOR_BGR2GRAY)  # type: ignore[return-value]


def prepare_faces(
    faces: npt.NDArray[np.uint8] | Sequence[npt.NDArray[np.uint8]],
    size_px: int = FACE_SIZE_PX,
) -> npt.NDArray[np.float32]:
    """Grayscale uint8 crops (N, H, W) or a list of crops -> float32 (N, size, size, 1) in [0, 1]."""
    resized = [resize_face(np.asarray(face, dtype=np.uint8), size_px) for face in faces]
    if not resized:
        return np.zeros((0, size_px, size_px, 1), dtype=np.float32)
    batch = np.stack(resized).astype(np.float32) / 255.0
    return batch[..., np.newaxis]


def resize_face(face: npt.NDArray[np.uint8], size_px: int = FACE_SIZE_PX) -> npt.NDArray[np.uint8]:
    """One grayscale crop to ``size_px`` square, as the model's input is made."""
    if face.ndim != 2:
        raise ValueError(f"face crops must be 2-D grayscale, got shape {face.shape}")
    if face.shape == (size_px, size_px):
        return face
    return cv2.resize(face, (size_px, size_px), interpolation=_interpolation(face.shape, size_px))  # type: ignore[return-value]


def _interpolation(shape: tuple[int, ...], size_px: int) -> int:
    """INTER_AREA averages pixels when a crop shrinks; enlarging, it repeats them like INTER_NEAREST,
    and a blocky face costs accuracy: on PublicTest faces shrunk to 24 px and enlarged again, the
    model served on 2026-12-02 scored 51.5 % with INTER_AREA, 56.4 % with INTER_LINEAR and 61.6 % with
    INTER_CUBIC (69.2 % at 48 px; `python -m models capture`). So crops smaller than the input are
    enlarged bicubically."""
    shrinking = shape[0] >= size_px and shape[1] >= size_px
    return cv2.INTER_AREA if shrinking else cv2.INTER_CUBIC
