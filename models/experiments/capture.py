"""How much accuracy artifacts lose when PublicTest faces are captured as cameras capture them.

    python -m models capture MODEL.onnx [MODEL.onnx ...] [--data DIR]

FER2013's faces are 48x48 crops of web photos; the workers classify crops of video frames,
where faces are often smaller, compressed as JPEG by the producers (quality 85 by default),
noisy and out of focus. Every PublicTest face is changed alike and each artifact is scored
through ``load_classifier`` (its preprocessing enlarges a small crop to 48 px, as in the
worker). Small faces are simulated by shrinking the 48 px face (INTER_AREA): a camera's own
small face also carries its optics' blur, so this is a lower bound on the loss. Prints one
JSON object per artifact, as ``models.experiments.lighting`` does (``models.experiments.probe``).
"""

import argparse
from collections.abc import Callable
from functools import partial

import numpy as np
import numpy.typing as npt

from models.experiments.probe import Change, add_probe_arguments, run_probe
from models.training.augment import add_noise, blur, jpeg_round_trip, shrink

NOISE_SEED = 0


def each(change: Callable[..., npt.NDArray[np.uint8]], **strength: float) -> Change:
    """``change`` applied to every face of a batch at one strength."""
    return lambda faces: np.stack([change(face, **strength) for face in faces])


def noise(faces: npt.NDArray[np.uint8], sigma: float) -> npt.NDArray[np.uint8]:
    """Gaussian noise of ``sigma`` gray levels, the same on every call."""
    rng = np.random.default_rng(NOISE_SEED)
    return np.stack([add_noise(face, sigma, rng) for face in faces])


def _small_and_compressed(faces: npt.NDArray[np.uint8]) -> npt.NDArray[np.uint8]:
    return np.stack([jpeg_round_trip(shrink(face, 32), 85) for face in faces])


CAPTURES: dict[str, Change] = {
    "as is": lambda faces: faces,
    "face 40 px": each(shrink, size_px=40),
    "face 32 px": each(shrink, size_px=32),
    "face 24 px": each(shrink, size_px=24),
    "face 16 px": each(shrink, size_px=16),
    "JPEG quality 85": each(jpeg_round_trip, quality=85),
    "JPEG quality 50": each(jpeg_round_trip, quality=50),
    "JPEG quality 30": each(jpeg_round_trip, quality=30),
    "noise sigma 8": partial(noise, sigma=8.0),
    "blur sigma 1 px": each(blur, sigma_px=1.0),
    "face 32 px, JPEG quality 85": _small_and_compressed,
}


def run(args: argparse.Namespace) -> None:
    run_probe(args, CAPTURES)


add_arguments = add_probe_arguments
