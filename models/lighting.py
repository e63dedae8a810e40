"""How much accuracy artifacts lose when PublicTest faces are lit differently.

    python -m models.lighting MODEL.onnx [MODEL.onnx ...] [--data DIR]

Cameras and uploads light faces very unlike one another, and the workers classify each crop
as it comes (scaled to [0, 1], nothing equalised). Every PublicTest face is relit with the
same brightness and contrast factors (``relight``, the augmentation's own definitions), and
each artifact is scored through ``load_classifier`` under each condition. Prints one JSON
object per artifact: the accuracy under each condition and its change from the faces as
they are, in points.
"""

import argparse
import json
from pathlib import Path
from typing import Any

import numpy as np

from models.augment import relight
from models.classifier import load_classifier
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


def lighting_accuracies(model: Path, split: Split, threads: int = 2) -> dict[str, Any]:
    """Accuracy of ``model`` on ``split`` under each of CONDITIONS, and the change from (1, 1)."""
    classifier = load_classifier(model, threads)
    labels = split.y.astype(np.int64)
    accuracy = {
        condition_name(b, c): float((classifier.predict(relight(split.x, b, c)).argmax(axis=1) == labels).mean())
        for b, c in CONDITIONS
    }
    as_is = accuracy[condition_name(1.0, 1.0)]
    return {
        "model": str(model),
        "images": len(split),
        "accuracy": {name: round(value, 5) for name, value in accuracy.items()},
        "change_points": {name: round(100 * (value - as_is), 2) for name, value in accuracy.items()},
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("models", type=Path, nargs="+")
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA_DIR)
    args = parser.parse_args(argv)
    val = load_fer2013(args.data).val
    for model in args.models:
        print(json.dumps(lighting_accuracies(model, val), indent=1), flush=True)


if __name__ == "__main__":
    main()
