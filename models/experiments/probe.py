"""Paired robustness probes: every PublicTest face changed alike, each artifact scored under each change.

Shared by ``models.experiments.lighting`` (brightness and contrast) and ``models.experiments.capture`` (face size, JPEG,
noise, blur). A probe is an ordered mapping from a change's name to a function of the faces; its
first entry leaves them as they are. Each artifact is scored through ``load_classifier`` (what
the workers serve, preprocessing included) and reported as one JSON object: the accuracy under
each change, its difference from the first in points, and, for every artifact after the first,
the images only it or only the first artifact gets right under each change with McNemar's p
(models/experiments/compare.py), so a difference in robustness is tested as a difference in accuracy is.
"""

import argparse
import json
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from models.classifier import load_classifier
from models.experiments.compare import paired_comparison
from models.training.data import Split, add_data_argument, load_fer2013

Change = Callable[[npt.NDArray[np.uint8]], npt.NDArray[np.uint8]]
Predictions = dict[str, npt.NDArray[np.float32]]


def probe_predictions(model: Path, split: Split, changes: Mapping[str, Change], threads: int = 2) -> Predictions:
    """``model``'s probabilities for every face of ``split`` under each change."""
    classifier = load_classifier(model, threads)
    return {name: classifier.predict(change(split.x)) for name, change in changes.items()}


def probe_report(
    model: Path, predictions: Predictions, labels: npt.NDArray[np.int64], reference: Predictions | None = None
) -> dict[str, Any]:
    """Accuracies and changes from the first entry; with ``reference`` (another model's predictions
    under the same changes), the paired test against it under each."""
    accuracy = {name: float((probs.argmax(axis=1) == labels).mean()) for name, probs in predictions.items()}
    as_is = next(iter(accuracy.values()))
    report: dict[str, Any] = {
        "model": str(model),
        "images": len(labels),
        "accuracy": {name: round(value, 5) for name, value in accuracy.items()},
        "change_points": {name: round(100 * (value - as_is), 2) for name, value in accuracy.items()},
    }
    if reference is not None:
        report["against_first"] = {
            name: _paired_counts(paired_comparison(labels, probs, reference[name]))
            for name, probs in predictions.items()
        }
    return report


def _paired_counts(comparison: dict[str, Any]) -> dict[str, Any]:
    return {
        "only_this_right": comparison["only_first_right"],
        "only_first_right": comparison["only_second_right"],
        "mcnemar_p": comparison["mcnemar_p"],
    }


def add_probe_arguments(parser: argparse.ArgumentParser) -> None:
    """The probe commands' arguments: models to probe, one JSON object printed per model."""
    parser.add_argument("models", type=Path, nargs="+")
    add_data_argument(parser)


def run_probe(args: argparse.Namespace, changes: Mapping[str, Change]) -> None:
    val = load_fer2013(args.data).val
    labels = val.y.astype(np.int64)
    first: Predictions | None = None
    for model in args.models:
        predictions = probe_predictions(model, val, changes)
        print(json.dumps(probe_report(model, predictions, labels, first), indent=1), flush=True)
        first = first if first is not None else predictions
