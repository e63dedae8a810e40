"""Compare two artifacts on the same PublicTest images: is the difference more than noise?

    python -m models compare CANDIDATE.onnx [--against models/artifacts/emotion-int8.onnx] [--data DIR]

Both models see the same 3,589 images, so their errors are paired. McNemar's
exact test looks only at the images where exactly one of them is right: with no
real difference, each such image is a fair coin between the two. A candidate
replaces the served model only if it is more accurate and p < 0.05 (model card).
"""

import argparse
import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from models.classifier import DEFAULT_MODEL, load_classifier
from models.training.data import add_data_argument, load_fer2013

SIGNIFICANCE = 0.05


def mcnemar_exact_p(only_first: int, only_second: int) -> float:
    """Two-sided exact p-value of ``only_first`` against ``only_second`` discordant pairs."""
    n = only_first + only_second
    if n == 0:
        return 1.0
    tail = sum(math.comb(n, k) for k in range(min(only_first, only_second) + 1)) / (1 << n)  # exact for any n
    return min(1.0, 2 * tail)


def paired_comparison(labels: npt.NDArray[np.int64], first: npt.ArrayLike, second: npt.ArrayLike) -> dict[str, Any]:
    """Accuracies, discordant counts and McNemar's p for two models' probabilities on the same rows."""
    right_first = np.asarray(first).argmax(axis=1) == labels
    right_second = np.asarray(second).argmax(axis=1) == labels
    only_first = int((right_first & ~right_second).sum())
    only_second = int((right_second & ~right_first).sum())
    p = mcnemar_exact_p(only_first, only_second)
    return {
        "images": len(labels),
        "accuracy_first": round(float(right_first.mean()), 5),
        "accuracy_second": round(float(right_second.mean()), 5),
        "only_first_right": only_first,
        "only_second_right": only_second,
        "mcnemar_p": round(p, 4),
        "first_significantly_better": only_first > only_second and p < SIGNIFICANCE,
    }


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("candidate", type=Path)
    parser.add_argument("--against", type=Path, default=DEFAULT_MODEL, help="the model to beat (the served one)")
    add_data_argument(parser)


def run(args: argparse.Namespace) -> None:
    val = load_fer2013(args.data).val
    labels = val.y.astype(np.int64)
    result = paired_comparison(
        labels, load_classifier(args.candidate).predict(val.x), load_classifier(args.against).predict(val.x)
    )
    print(json.dumps({"first": str(args.candidate), "second": str(args.against), **result}, indent=1))
