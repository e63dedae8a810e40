"""Relighting faces, and the lighting probe on real PublicTest faces with the committed model."""

from pathlib import Path

import numpy as np
import pytest

from models.__main__ import main
from models.classifier import DEFAULT_MODEL, FP32_MODEL, load_classifier
from models.experiments.lighting import CONDITIONS, condition_name, lighting_accuracies
from models.training.augment import relight
from models.training.data import load_fer2013
from tests.conftest import FER2013, require_shared

FACES = np.random.default_rng(2).integers(60, 191, size=(3, 48, 48), dtype=np.uint8)


def test_factors_of_one_change_nothing() -> None:
    assert np.array_equal(relight(FACES, 1.0, 1.0), FACES)


def test_brightness_scales_and_contrast_keeps_each_faces_own_mean() -> None:
    darker = relight(FACES, 0.5, 1.0).astype(np.float64)
    assert np.abs(darker - 0.5 * FACES).max() <= 0.5
    flatter = relight(FACES, 1.0, 0.5).astype(np.float64)
    means = FACES.mean(axis=(1, 2), keepdims=True)
    assert np.abs(flatter - (0.5 * FACES + 0.5 * means)).max() <= 0.5
    assert np.abs(flatter.mean(axis=(1, 2)) - means.ravel()).max() <= 0.5
    assert np.all(flatter.std(axis=(1, 2)) < 0.51 * FACES.std(axis=(1, 2)))


def test_relit_faces_clip_to_the_uint8_range() -> None:
    out = relight(FACES, 3.0, 2.0)
    assert out.dtype == np.uint8
    assert out.max() == 255
    assert out.min() == 0


def test_the_probe_scores_the_served_model_under_each_condition() -> None:
    val = load_fer2013(require_shared(FER2013)).val.subset(400, seed=1)
    result = lighting_accuracies(DEFAULT_MODEL, val, threads=1)
    accuracy = result["accuracy"]
    assert list(accuracy) == [condition_name(b, c) for b, c in CONDITIONS]
    plain = (load_classifier(DEFAULT_MODEL, 1).predict(val.x).argmax(axis=1) == val.y).mean()
    assert accuracy[condition_name(1.0, 1.0)] == pytest.approx(plain, abs=1e-5)
    assert result["change_points"][condition_name(1.0, 1.0)] == 0.0
    # Dimming and flattening together costs the served model points (2.3 on all of PublicTest;
    # vggbn-wide-kd, trained without photometric jitter, lost 6.1).
    assert result["change_points"][condition_name(0.6, 0.6)] < -1.0


def test_the_command_prints_one_json_object_per_model_and_pairs_each_later_one_with_the_first(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    import json

    data = load_fer2013(require_shared(FER2013))
    small = tmp_path / "fer2013"
    small.mkdir()
    val = data.val.subset(200, seed=2)
    np.savez(small / "publictest.npz", x=val.x, y=val.y)
    np.savez(small / "train.npz", x=data.train.x[:10], y=data.train.y[:10])
    main(["lighting", str(DEFAULT_MODEL), str(FP32_MODEL), "--data", str(small)])
    out = capsys.readouterr().out
    decoder = json.JSONDecoder()
    served, end = decoder.raw_decode(out)
    fp32, _ = decoder.raw_decode(out[end:].lstrip())
    assert served["images"] == fp32["images"] == 200
    assert len(served["accuracy"]) == len(CONDITIONS)
    assert "against_first" not in served
    assert list(fp32["against_first"]) == list(fp32["accuracy"])
    for name, paired in fp32["against_first"].items():
        # The discordant images alone make the two accuracies differ.
        difference = (paired["only_this_right"] - paired["only_first_right"]) / 200
        assert fp32["accuracy"][name] - served["accuracy"][name] == pytest.approx(difference, abs=1e-4)
        assert 0.0 <= paired["mcnemar_p"] <= 1.0
    # int8 and fp32 of one network disagree on some relit faces, else the pairing tests nothing.
    assert sum(p["only_this_right"] + p["only_first_right"] for p in fp32["against_first"].values()) > 0
