"""One evaluation function, used by training, the report and CI.

Every metric is computed from (label, prediction) pairs that travel together, so
the result cannot depend on the order of the inputs (the 17 % bug came from
scoring shuffled predictions against unshuffled labels); a test checks this.
"""

import json
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from emostream.labels import EMOTIONS, NUM_EMOTIONS

ECE_BINS = 15  # the usual choice in the calibration literature (Guo et al. 2017)
HEADLINE = ("accuracy", "macro_f1", "ece")  # what command-line tools print of an evaluation


@dataclass(frozen=True)
class ClassMetrics:
    precision: float
    recall: float
    f1: float
    support: int


@dataclass(frozen=True)
class Evaluation:
    accuracy: float
    macro_f1: float
    ece: float
    per_class: dict[str, ClassMetrics]
    confusion: npt.NDArray[np.int64]  # rows: true label, columns: predicted label
    count: int

    def as_dict(self) -> dict[str, object]:
        return {
            "count": self.count,
            "accuracy": round(self.accuracy, 5),
            "macro_f1": round(self.macro_f1, 5),
            "ece": round(self.ece, 5),
            "per_class": {
                name: {
                    "precision": round(m.precision, 5),
                    "recall": round(m.recall, 5),
                    "f1": round(m.f1, 5),
                    "support": m.support,
                }
                for name, m in self.per_class.items()
            },
            "confusion": self.confusion.tolist(),
            "labels": list(EMOTIONS),
        }


def evaluate(y_true: npt.ArrayLike, probs: npt.ArrayLike) -> Evaluation:
    """Score class probabilities (N, 7) against integer labels (N,)."""
    labels = np.asarray(y_true, dtype=np.int64)
    p = np.asarray(probs, dtype=np.float64)
    if p.ndim != 2 or p.shape != (len(labels), NUM_EMOTIONS):
        raise ValueError(f"probs must be ({len(labels)}, {NUM_EMOTIONS}), got {p.shape}")
    predicted = p.argmax(axis=1)
    confusion = confusion_matrix(labels, predicted)
    per_class = _per_class(confusion)
    return Evaluation(
        accuracy=float(np.trace(confusion) / max(len(labels), 1)),
        macro_f1=float(np.mean([m.f1 for m in per_class.values()])),
        ece=expected_calibration_error(labels, p),
        per_class=per_class,
        confusion=confusion,
        count=len(labels),
    )


def confusion_matrix(labels: npt.NDArray[np.int64], predicted: npt.NDArray[np.int64]) -> npt.NDArray[np.int64]:
    matrix = np.zeros((NUM_EMOTIONS, NUM_EMOTIONS), dtype=np.int64)
    np.add.at(matrix, (labels, predicted), 1)
    return matrix


def _per_class(confusion: npt.NDArray[np.int64]) -> dict[str, ClassMetrics]:
    true_pos = np.diag(confusion).astype(np.float64)
    predicted = confusion.sum(axis=0)
    actual = confusion.sum(axis=1)
    precision = np.divide(true_pos, predicted, out=np.zeros_like(true_pos), where=predicted > 0)
    recall = np.divide(true_pos, actual, out=np.zeros_like(true_pos), where=actual > 0)
    denom = precision + recall
    f1 = np.divide(2 * precision * recall, denom, out=np.zeros_like(true_pos), where=denom > 0)
    return {
        name: ClassMetrics(float(precision[i]), float(recall[i]), float(f1[i]), int(actual[i]))
        for i, name in enumerate(EMOTIONS)
    }


def expected_calibration_error(labels: npt.NDArray[np.int64], probs: npt.NDArray[np.float64]) -> float:
    """Confidence-binned |accuracy - confidence|, weighted by bin size."""
    confidence = probs.max(axis=1)
    correct = (probs.argmax(axis=1) == labels).astype(np.float64)
    bins = np.minimum((confidence * ECE_BINS).astype(np.int64), ECE_BINS - 1)
    total = 0.0
    for b in range(ECE_BINS):
        in_bin = bins == b
        if in_bin.any():
            total += in_bin.sum() * abs(correct[in_bin].mean() - confidence[in_bin].mean())
    return float(total / max(len(labels), 1))


SELECTIVE_TARGET_ACCURACY = 0.80  # "uncertain" threshold: when a label is named, right 4 times in 5
THRESHOLD_GRID = tuple(round(0.05 * n, 2) for n in range(1, 20))


@dataclass(frozen=True)
class SelectivePoint:
    threshold: float
    coverage: float  # share of faces whose top probability reaches the threshold
    accuracy_confident: float  # accuracy on those
    accuracy_uncertain: float  # accuracy on the rest (what "uncertain" hides)


def selective_curve(
    labels: npt.NDArray[np.int64], probs: npt.NDArray[np.float64], thresholds: tuple[float, ...] = THRESHOLD_GRID
) -> list[SelectivePoint]:
    """Coverage and accuracy when faces below each threshold are labelled uncertain."""
    confidence = probs.max(axis=1)
    correct = probs.argmax(axis=1) == labels
    points = []
    for threshold in thresholds:
        kept = confidence >= threshold
        points.append(
            SelectivePoint(
                threshold,
                float(kept.mean()),
                float(correct[kept].mean()) if kept.any() else float("nan"),
                float(correct[~kept].mean()) if (~kept).any() else float("nan"),
            )
        )
    return points


def choose_threshold(points: list[SelectivePoint], target: float = SELECTIVE_TARGET_ACCURACY) -> SelectivePoint:
    """The lowest threshold whose confident faces reach ``target`` accuracy (most coverage at that accuracy)."""
    for point in sorted(points, key=lambda p: p.threshold):
        if point.accuracy_confident >= target:
            return point
    raise ValueError(f"no threshold reaches {target:.0%} accuracy on confident faces")


def headline(publictest: dict[str, Any]) -> str:
    """The headline figures of an artifact's ``publictest`` metadata, as one JSON line."""
    return json.dumps({key: publictest[key] for key in HEADLINE})
