"""Evaluate the served artifact on PublicTest and write a report folder.

    python -m models evaluate [--model models/artifacts/emotion.onnx] [--data DIR] [--report DIR]
                              [--run runs/vggbn] [--keras runs/vggbn/averaged.keras]

Scores the ONNX artifact through ``load_classifier`` (exactly what workers serve)
against the FER2013 labels, the same rows without images that also occur in
Training, and the FER+ majority labels. Writes ``metrics.json`` and PNG plots:
confusion matrices (counts and normalised), class distribution per split,
training curves (with ``--run``), best and worst recognised classes with example
faces, and activation maps of intermediate convolutions (with ``--keras``).
"""

import argparse
import csv
import json
import logging
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from emostream.labels import EMOTIONS
from models.classifier import DEFAULT_MODEL, load_classifier
from models.training import plots
from models.training.cleaning import ferplus_majority, leaked_mask, load_votes
from models.training.data import Fer2013, add_data_argument, add_ferplus_argument, load_fer2013
from models.training.metrics import Evaluation, evaluate
from models.training.runfolder import HISTORY

log = logging.getLogger(__name__)
DEFAULT_REPORT = Path(__file__).resolve().parent.parent / "report"  # models/report, committed beside the card


def evaluate_artifact(model: Path, data: Fer2013, ferplus_dir: Path) -> tuple[dict[str, Any], npt.NDArray[np.float32]]:
    probs = load_classifier(model).predict(data.val.x)
    fer = evaluate(data.val.y, probs)
    clean = ~leaked_mask(data.train, data.val)
    metrics: dict[str, Any] = {
        "model": model.name,
        "fer2013": fer.as_dict(),
        "fer2013_without_training_duplicates": {
            **evaluate(data.val.y[clean], probs[clean]).as_dict(),
            "rows_left_out": int((~clean).sum()),
        },
    }
    votes = load_votes(ferplus_dir, "publictest")
    if votes is not None:
        labels, valid = ferplus_majority(votes)
        metrics["ferplus_majority"] = {
            **evaluate(labels[valid], probs[valid]).as_dict(),
            "rows_left_out": int((~valid).sum()),
            "rule": "majority of 10 votes; ties, contempt, unknown and not-a-face rows are left out",
        }
    return metrics, probs


def write_report(
    report: Path, data: Fer2013, metrics: dict[str, Any], probs: npt.NDArray[np.float32], args: argparse.Namespace
) -> None:
    report.mkdir(parents=True, exist_ok=True)
    (report / "metrics.json").write_text(json.dumps(metrics, indent=1) + "\n")
    fer: Evaluation = evaluate(data.val.y, probs)
    plots.confusion(fer.confusion, report / "confusion_counts.png", normalise=False)
    plots.confusion(fer.confusion, report / "confusion_normalised.png", normalise=True)
    plots.class_distribution({"Training": data.train.y, "PublicTest": data.val.y}, report / "class_distribution.png")
    plots.best_and_worst(data.val.x, data.val.y, probs, fer, report / "best_and_worst_classes.png")
    if args.run is not None and (args.run / HISTORY).exists():
        with (args.run / HISTORY).open() as fh:
            plots.training_curves(list(csv.DictReader(fh)), report / "training_curves.png")
    if args.keras is not None:
        plots.activation_maps(args.keras, data.val.x[:4], report / "activation_maps.png")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model", type=Path, default=DEFAULT_MODEL)
    add_data_argument(parser)
    add_ferplus_argument(parser)
    parser.add_argument("--report", type=Path, default=DEFAULT_REPORT)
    parser.add_argument("--run", type=Path, help="training run folder, for the training curves")
    parser.add_argument("--keras", type=Path, help="the Keras model, for activation maps")


def run(args: argparse.Namespace) -> None:
    data = load_fer2013(args.data)
    metrics, probs = evaluate_artifact(args.model, data, args.ferplus)
    write_report(args.report, data, metrics, probs, args)
    summary = {
        name: {k: m[k] for k in ("accuracy", "macro_f1", "ece", "count")}
        for name, m in metrics.items()
        if isinstance(m, dict)
    }
    print(json.dumps(summary, indent=1))
    print(f"report: {args.report}")
    print("labels:", ", ".join(EMOTIONS))
