import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from models.calibration import apply_temperature, fit_temperature, negative_log_likelihood
from models.training.metrics import expected_calibration_error


def softmax(z: np.ndarray) -> np.ndarray:
    e = np.exp(z - z.max(axis=1, keepdims=True))
    probs: np.ndarray = e / e.sum(axis=1, keepdims=True)
    return probs


def labelled_by_temperature(true_temperature: float, n: int = 20000, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """A network's probabilities, and labels drawn as if its logits were divided by ``true_temperature``."""
    rng = np.random.default_rng(seed)
    logits = rng.normal(scale=2.5, size=(n, 7))
    truth = softmax(logits / true_temperature)
    labels = (truth.cumsum(axis=1) < rng.random((n, 1))).sum(axis=1)
    return labels, softmax(logits)


@pytest.mark.parametrize("true_temperature", [0.6, 1.0, 2.0])
def test_the_fitted_temperature_is_the_one_that_made_the_labels(true_temperature: float) -> None:
    labels, probs = labelled_by_temperature(true_temperature)
    assert fit_temperature(labels, probs) == pytest.approx(true_temperature, rel=0.05)


def test_scaling_an_overconfident_network_lowers_its_nll_and_ece() -> None:
    labels, probs = labelled_by_temperature(2.0)
    scaled = apply_temperature(probs, fit_temperature(labels, probs))
    assert negative_log_likelihood(labels, scaled) < negative_log_likelihood(labels, probs)
    ece_before = expected_calibration_error(labels, probs)
    assert expected_calibration_error(labels, scaled.astype(np.float64)) < ece_before / 3


def test_temperature_keeps_every_predicted_class_and_probabilities_sum_to_one() -> None:
    _, probs = labelled_by_temperature(1.0, n=500)
    for temperature in (0.5, 1.0, 3.0):
        scaled = apply_temperature(probs, temperature)
        assert np.array_equal(scaled.argmax(axis=1), probs.argmax(axis=1))
        assert np.allclose(scaled.sum(axis=1), 1.0, atol=1e-5)
    assert np.allclose(apply_temperature(probs, 1.0), probs, atol=1e-7)
    assert apply_temperature(probs, 3.0).max() < probs.max()


def test_probabilities_that_underflowed_to_zero_still_scale() -> None:
    probs = np.array([[1.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0]], dtype=np.float32)
    scaled = apply_temperature(probs, 2.0)
    assert np.isfinite(scaled).all()
    assert scaled.argmax() == 0


@pytest.mark.parametrize("temperature", [0.0, -1.0, float("nan")])
def test_a_temperature_that_is_not_positive_is_refused(temperature: float) -> None:
    with pytest.raises(ValueError, match="positive"):
        apply_temperature(np.full((1, 7), 1 / 7), temperature)


def test_calibrate_writes_the_temperature_that_the_classifier_then_applies(tmp_path: Path) -> None:
    from models.classifier import DEFAULT_MODEL, load_classifier, metadata_path
    from models.training.calibrate import calibrate
    from models.training.data import load_fer2013
    from tests.conftest import FER2013, require_shared

    data_dir = require_shared(FER2013)
    model = tmp_path / "emotion.onnx"
    shutil.copy(DEFAULT_MODEL, model)
    shutil.copy(metadata_path(DEFAULT_MODEL), metadata_path(model))
    record = calibrate(model, data_dir)
    metadata = json.loads(metadata_path(model).read_text())
    assert metadata["temperature"] == record["temperature"] > 0
    assert record["nll_after"] <= record["nll_before"]
    classifier = load_classifier(model)
    faces = load_fer2013(data_dir).val.x[:50]
    raw = classifier.predict_uncalibrated(faces)
    assert np.allclose(classifier.predict(faces), apply_temperature(raw, record["temperature"]), atol=1e-6)
