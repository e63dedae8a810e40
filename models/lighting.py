"""How much accuracy artifacts lose when PublicTest faces are lit differently.

    python -m models.lighting MODEL.onnx [MODEL.onnx ...] [--data DIR]

Cameras and uploads light faces very unlike one another, and the workers classify each crop
as it comes (scaled to [0, 1], nothing equalised). Every PublicTest face is relit with the
same brightness and contrast factors (``relight``, the augmentation's own definitions), and
each artifact is scored through ``load_classifier`` under each condition. Prints one JSON
object per artifact: the accuracy under each condition and its change from the faces as
they are, in points; and for every artifact after the first, under each condition, the
images only it or only the first gets right and McNemar's p (models/compare.py), so that a
difference in robustness is tested as a difference in accuracy is.
"""

import argparse
import json
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from models.augment import relight
from models.classifier import load_classifier
from models.compare import paired_comparison
from models.data import DEFAULT_DATA_DIR, Split, load_fer2013

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


def lighting_predictions(model: Path, split: Split, threads: int = 2) -> dict[str, npt.NDArray[np.float32]]:
    """``model``'s probabilities for every face of ``split`` under each of CONDITIONS."""
    classifier = load_classifier(model, threads)
    return {condition_name(b, c): classifier.predict(relight(split.x, b, c)) for b, c in CONDITIONS}


def lighting_accuracies(model: Path, split: Split, threads: int = 2) -> dict[str, Any]:
    """Accuracy of ``model`` on ``split`` under each of CONDITIONS, and the change from (1, 1)."""
    return lighting_report(model, lighting_predictions(model, split, threads), split.y.astype(np.int64))


def lighting_report(
    model: Path,
    predictions: dict[str, npt.NDArray[np.float32]],
    labels: npt.NDArray[np.int64],
    reference: dict[str, npt.NDArray[np.float32]] | None = None,
) -> dict[str, Any]:
    """Accuracies and changes from (1, 1); with ``reference`` (another model's predictions on the
    same relit faces), the paired test against it under each condition."""
    accuracy = {
        name: float((probabilities.argmax(axis=1) == labels).mean()) for name, probabilities in predictions.items()
    }
    as_is = accuracy[condition_name(1.0, 1.0)]
    report: dict[str, Any] = {
        "model": str(model),
        "images": len(labels),
        "accuracy": {name: round(value, 5) for name, value in accuracy.items()},
        "change_points": {name: round(100 * (value - as_is), 2) for name, value in accuracy.items()},
    }
    if reference is not None:
        report["against_first"] = {
            name: _paired_counts(paired_comparison(labels, probabilities, reference[name]))
            for name, probabilities in predictions.items()
        }
    return report


def _paired_counts(comparison: dict[str, Any]) -> dict[str, Any]:
    return {
        "only_this_right": comparison["only_first_right"],
        "only_first_right": comparison["only_second_right"],
        "mcnemar_p": comparison["mcnemar_p"],
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("models", type=Path, nargs="+")
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA_DIR)
    args = parser.parse_args(argv)
    val = load_fer2013(args.data).val
    labels = val.y.astype(np.int64)
    first: dict[str, npt.NDArray[np.float32]] | None = None
    for model in args.models:
        predictions = lighting_predictions(model, val)
        print(json.dumps(lighting_report(model, predictions, labels, first), indent=1), flush=True)
        first = first if first is not None else predictions


if __name__ == "__main__":
    main()
