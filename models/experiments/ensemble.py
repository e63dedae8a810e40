"""What several networks averaged together score on PublicTest, and what serving them would cost.

    python -m models ensemble runs/n2/averaged.keras runs/n8/averaged.keras:mirror \
        [--against models/artifacts/emotion-int8.onnx] [--data DIR]

Each member is a ``.keras`` network or an exported ``.onnx`` artifact, shown the face
(``PATH:face``), its mirror (``PATH:mirror``) or both, averaged (``PATH:flip``, the default,
as teachers see faces in models/training/distill.py). The ensemble is the mean of the members'
probabilities (their own, before any temperature). Printed: each member's accuracy and
multiply-adds a face, the ensemble's, whether that fits the serving budget, and McNemar's
test against the served model (models/experiments/compare.py). For deciding what is worth exporting:
two networks under the budget, or one network and its mirror?
"""

import argparse
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from emostream.labels import NUM_EMOTIONS
from models.classifier import BUDGET_MULTIPLY_ADDS, DEFAULT_MODEL, load_classifier
from models.experiments.compare import paired_comparison
from models.training.architectures import load_float32, multiply_adds
from models.training.data import add_data_argument, load_fer2013
from models.training.distill import network_predictor

VIEWS = {"face": 1, "mirror": 1, "flip": 2}  # forward passes per face


@dataclass(frozen=True)
class Member:
    path: Path
    view: str = "flip"

    @classmethod
    def parse(cls, text: str) -> "Member":
        """``PATH`` or ``PATH:VIEW``."""
        path, sep, view = text.rpartition(":")
        if not sep or view not in VIEWS:
            return cls(Path(text))
        return cls(Path(path), view)

    def predict(self, images: npt.NDArray[np.uint8]) -> npt.NDArray[np.float32]:
        predict = network_predictor(self.path, mirror_average=self.view == "flip")
        return predict(images[:, :, ::-1] if self.view == "mirror" else images)

    def multiply_adds(self) -> int:
        """Per face, over this member's views. An ``.onnx`` artifact's metadata already counts
        its own test-time flip, if it was exported with one."""
        if self.path.suffix == ".onnx":
            per_view = int(load_classifier(self.path).metadata["multiply_adds"])
        else:
            per_view = multiply_adds(load_float32(self.path))
        return per_view * VIEWS[self.view]


def evaluate_ensemble(
    members: list[Member], images: npt.NDArray[np.uint8], labels: npt.NDArray[np.int64], against: Path | None
) -> dict[str, Any]:
    """Each member's and the mean's accuracy and cost; the mean against ``against`` if given."""
    rows: list[dict[str, Any]] = []
    total, cost = np.zeros((len(images), NUM_EMOTIONS), dtype=np.float64), 0
    for member in members:
        probabilities = member.predict(images)
        total += probabilities
        accuracy = float(np.mean(probabilities.argmax(axis=1) == labels))
        cost += (member_cost := member.multiply_adds())
        rows.append(
            {
                "network": str(member.path),
                "view": member.view,
                "accuracy": round(accuracy, 5),
                "multiply_adds": member_cost,
            }
        )
    mean = total / len(members)
    result: dict[str, Any] = {
        "members": rows,
        "accuracy": round(float(np.mean(mean.argmax(axis=1) == labels)), 5),
        "multiply_adds": cost,
        "within_budget": cost <= BUDGET_MULTIPLY_ADDS,
    }
    if against is not None:
        served = load_classifier(against).predict_uncalibrated(images)
        result["against"] = {"served": str(against), **paired_comparison(labels, mean, served)}
    return result


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("members", nargs="+", type=Member.parse, help="PATH[:face|mirror|flip]")
    parser.add_argument("--against", type=Path, default=DEFAULT_MODEL, help="the served model")
    add_data_argument(parser)


def run(args: argparse.Namespace) -> None:
    val = load_fer2013(args.data).val
    result = evaluate_ensemble(args.members, val.x, val.y.astype(np.int64), args.against)
    print(json.dumps(result, indent=1))
