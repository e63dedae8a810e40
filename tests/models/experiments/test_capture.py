"""The capture probe: PublicTest faces changed as a video pipeline changes them, scored by the served model."""

import numpy as np
import pytest

from models.classifier import DEFAULT_MODEL, load_classifier
from models.experiments.capture import CAPTURES, noise
from models.experiments.probe import probe_predictions, probe_report
from models.training.data import load_fer2013
from tests.conftest import FER2013, require_shared

FACES = np.random.default_rng(7).integers(0, 256, size=(5, 48, 48), dtype=np.uint8)


def test_every_change_keeps_one_grayscale_face_per_face_and_the_first_changes_nothing() -> None:
    names = list(CAPTURES)
    assert names[0] == "as is"
    assert np.array_equal(CAPTURES["as is"](FACES), FACES)
    for name, change in CAPTURES.items():
        changed = change(FACES)
        assert changed.dtype == np.uint8, name
        assert len(changed) == len(FACES), name
    assert CAPTURES["face 24 px"](FACES).shape == (5, 24, 24)  # the classifier enlarges them, as in the worker


def test_the_noise_is_the_same_on_every_call() -> None:
    assert np.array_equal(noise(FACES, 8.0), noise(FACES, 8.0))
    assert not np.array_equal(noise(FACES, 8.0), FACES)


def test_the_probe_scores_the_served_model_and_small_faces_cost_it_accuracy() -> None:
    val = load_fer2013(require_shared(FER2013)).val.subset(400, seed=3)
    labels = val.y.astype(np.int64)
    result = probe_report(DEFAULT_MODEL, probe_predictions(DEFAULT_MODEL, val, CAPTURES, threads=1), labels)
    plain = (load_classifier(DEFAULT_MODEL, 1).predict(val.x).argmax(axis=1) == val.y).mean()
    assert result["accuracy"]["as is"] == pytest.approx(plain, abs=1e-5)
    assert list(result["change_points"]) == list(CAPTURES)
    # A 16 px face cost the served model 28 points on all of PublicTest (the capture-robust candidate: 13).
    assert result["change_points"]["face 16 px"] < -10.0
