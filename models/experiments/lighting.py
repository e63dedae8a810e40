"""How much accuracy artifacts lose when PublicTest faces are lit differently.

    python -m models lighting MODEL.onnx [MODEL.onnx ...] [--data DIR]

Cameras and uploads light faces very unlike one another, and the workers classify each crop
as it comes (scaled to [0, 1], nothing equalised). Every PublicTest face is relit with the
same brightness and contrast factors (``relight``, the augmentation's own definitions), and
each artifact is scored through ``load_classifier`` under each condition. Prints one JSON
object per artifact: the accuracy under each condition and its change from the faces as
they are, in points; and for every artifact after the first, under each condition, the
images only it or only the first gets right and McNemar's p (``models.experiments.probe``).
"""

import argparse
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np

from models.experiments.probe import Change, add_probe_arguments, probe_predictions, probe_report, run_probe
from models.training.augment import relight
from models.training.data import Split

# (brightness, contrast) factors: darker, brighter, flatter, harsher, and dim and flat together.
CONDITIONS: tuple[tuple[float, float], ...] = (
    (1.0, 1.0),
    (0.5, 1.0),
    (0.7, 1.0),
    (1.3, 1.0),
    (1.5, 1.0),
    (1.0, 0.5),
    (1.0, 0.7),
    (1.0, 1.5),
    (0.6, 0.6),
)


def condition_name(brightness: float, contrast: float) -> str:
    return f"brightness x{brightness:g}, contrast x{contrast:g}"


LIGHTINGS: dict[str, Change] = {condition_name(b, c): partial(relight, brightness=b, contrast=c) for b, c in CONDITIONS}


def lighting_accuracies(model: Path, split: Split, threads: int = 2) -> dict[str, Any]:
    """Accuracy of ``model`` on ``split`` under each of CONDITIONS, and the change from (1, 1)."""
    return probe_report(model, probe_predictions(model, split, LIGHTINGS, threads), split.y.astype(np.int64))


def run(args: argparse.Namespace) -> None:
    run_probe(args, LIGHTINGS)


add_arguments = add_probe_arguments
