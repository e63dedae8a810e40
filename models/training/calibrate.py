"""Fit an artifact's temperature on PublicTest and record it in its metadata.

    python -m models calibrate --model models/artifacts/emotion-int8.onnx [--data DIR] [--dry-run] [--report DIR]

The temperature is fitted on the artifact's own probabilities (any temperature
already in the metadata is ignored) and written as ``temperature``, which
``load_classifier`` applies; predicted classes do not change. The metadata also
gets a ``calibration`` record and its ``publictest`` figures are rescored with
the temperature, so ECE there is the served probabilities' ECE. Since the
temperature is chosen on the same images it is scored on, the record also gives
a two-fold figure: fitted on each half of PublicTest and scored on the other.
"""

import argparse
import json
import logging
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from models.calibration import apply_temperature, fit_temperature, negative_log_likelihood
from models.classifier import DEFAULT_MODEL, load_classifier, metadata_path
from models.training.data import add_data_argument, load_fer2013
from models.training.metrics import choose_threshold, evaluate, expected_calibration_error, selective_curve

log = logging.getLogger(__name__)


def calibration_record(labels: npt.NDArray[np.int64], probs: npt.NDArray[np.float32]) -> dict[str, Any]:
    """The fitted temperature and what it does to NLL and ECE, on all rows and two-fold."""
    temperature = fit_temperature(labels, probs)
    scaled = apply_temperature(probs, temperature)
    return {
        "temperature": round(temperature, 4),
        "fitted_on": f"FER2013 PublicTest ({len(labels)} images), negative log-likelihood",
        "nll_before": round(negative_log_likelihood(labels, probs), 5),
        "nll_after": round(negative_log_likelihood(labels, scaled), 5),
        "ece_before": round(expected_calibration_error(labels, probs.astype(np.float64)), 5),
        "ece_after": round(expected_calibration_error(labels, scaled.astype(np.float64)), 5),
        "ece_two_fold": round(_two_fold_ece(labels, probs), 5),
    }


def _two_fold_ece(labels: npt.NDArray[np.int64], probs: npt.NDArray[np.float32], seed: int = 0) -> float:
    """ECE of all rows when each half is scaled with the temperature fitted on the other half."""
    halves = np.array_split(np.random.default_rng(seed).permutation(len(labels)), 2)
    scaled = np.empty_like(probs)
    for fit_rows, score_rows in (halves, halves[::-1]):
        scaled[score_rows] = apply_temperature(probs[score_rows], fit_temperature(labels[fit_rows], probs[fit_rows]))
    return expected_calibration_error(labels, scaled.astype(np.float64))


def uncertain_report(
    labels: npt.NDArray[np.int64], raw: npt.NDArray[np.float32], record: dict[str, Any], folder: Path
) -> dict[str, Any]:
    """Plots in ``folder``; returns the chosen threshold with its coverage and accuracies."""
    from models.training import plots

    scaled = apply_temperature(raw, record["temperature"]).astype(np.float64)
    curves = {"network": raw.astype(np.float64), f"temperature {record['temperature']:.3f}": scaled}
    eces = dict(zip(curves, (record["ece_before"], record["ece_after"]), strict=True))
    folder.mkdir(parents=True, exist_ok=True)
    plots.reliability(labels, curves, eces, folder / "reliability.png")
    points = selective_curve(labels, scaled)
    chosen = choose_threshold(points)
    plots.selective(points, chosen, folder / "uncertain_threshold.png")
    return {key: round(value, 4) for key, value in chosen.__dict__.items()}


def calibrate(model: Path, data_dir: Path, dry_run: bool = False, report: Path | None = None) -> dict[str, Any]:
    data = load_fer2013(data_dir)
    labels = data.val.y.astype(np.int64)
    raw = load_classifier(model).predict_uncalibrated(data.val.x)
    record = calibration_record(labels, raw)
    if report is not None:
        record["uncertain_below"] = uncertain_report(labels, raw, record, report)
    if not dry_run:
        meta_file = metadata_path(model)
        metadata = json.loads(meta_file.read_text())
        metadata["temperature"] = record["temperature"]
        metadata["calibration"] = record
        metadata["publictest"] = evaluate(labels, apply_temperature(raw, record["temperature"])).as_dict()
        meta_file.write_text(json.dumps(metadata, indent=1) + "\n")
    return record


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model", type=Path, default=DEFAULT_MODEL)
    add_data_argument(parser)
    parser.add_argument("--dry-run", action="store_true", help="print the fit, leave the metadata alone")
    parser.add_argument("--report", type=Path, help="write the reliability and uncertain-threshold plots here")


def run(args: argparse.Namespace) -> None:
    print(json.dumps(calibrate(args.model, args.data, args.dry_run, args.report), indent=1))
