"""Ensembles of networks and views, scored from tiny real Keras models and the served artifact."""

from pathlib import Path

import numpy as np
import pytest

keras = pytest.importorskip("keras", reason="the training stack is the 'train' extra")

from models.classifier import BUDGET_MULTIPLY_ADDS, DEFAULT_MODEL, load_classifier  # noqa: E402
from models.experiments.ensemble import Member, evaluate_ensemble  # noqa: E402
from models.training.architectures import multiply_adds  # noqa: E402
from tests.models.training.test_distill import saved_teacher  # noqa: E402

RNG = np.random.default_rng(1)
IMAGES = RNG.integers(0, 256, size=(40, 48, 48), dtype=np.uint8)


def test_a_member_is_a_path_with_an_optional_view() -> None:
    assert Member.parse("runs/a/averaged.keras") == Member(Path("runs/a/averaged.keras"), "flip")
    assert Member.parse("runs/a/averaged.keras:mirror") == Member(Path("runs/a/averaged.keras"), "mirror")
    assert Member.parse("c:/nets/a.keras") == Member(Path("c:/nets/a.keras"), "flip")  # not a view


def test_views_are_the_face_its_mirror_and_their_mean(tmp_path: Path) -> None:
    path = saved_teacher(tmp_path / "a.keras", 1)
    face, mirror, flip = (Member(path, view).predict(IMAGES) for view in ("face", "mirror", "flip"))
    assert not np.allclose(face, mirror, atol=1e-4)  # the network is not mirror-symmetric
    assert np.allclose(mirror, Member(path, "face").predict(np.ascontiguousarray(IMAGES[:, :, ::-1])), atol=1e-6)
    assert np.allclose(flip, (face + mirror) / 2, atol=1e-6)


def test_the_ensemble_is_scored_on_the_mean_of_its_members(tmp_path: Path) -> None:
    first, second = (saved_teacher(tmp_path / f"{seed}.keras", seed) for seed in (1, 2))
    members = [Member(first, "face"), Member(second, "mirror")]
    a, b = (member.predict(IMAGES) for member in members)
    labels = a.argmax(axis=1)  # the first member is right on every face
    result = evaluate_ensemble(members, IMAGES, labels, against=None)
    assert [row["accuracy"] for row in result["members"]] == [1.0, round(float(np.mean(b.argmax(axis=1) == labels)), 5)]
    assert result["accuracy"] == round(float(np.mean((a + b).argmax(axis=1) == labels)), 5)
    assert result["accuracy"] < 1.0  # the second member changes some answers
    assert "against" not in result


def test_cost_counts_every_view_and_is_checked_against_the_budget(tmp_path: Path) -> None:
    path = saved_teacher(tmp_path / "a.keras", 1)
    per_view = multiply_adds(keras.models.load_model(path, compile=False))
    assert Member(path, "face").multiply_adds() == per_view
    assert Member(path, "flip").multiply_adds() == 2 * per_view
    served = int(load_classifier(DEFAULT_MODEL).metadata["multiply_adds"])
    assert Member(DEFAULT_MODEL, "face").multiply_adds() == served <= BUDGET_MULTIPLY_ADDS
    labels = np.zeros(len(IMAGES), dtype=np.int64)
    over = evaluate_ensemble([Member(DEFAULT_MODEL, "flip")], IMAGES, labels, against=None)
    assert over["multiply_adds"] == 2 * served > BUDGET_MULTIPLY_ADDS
    assert over["within_budget"] is False


def test_the_served_model_against_itself_is_no_difference() -> None:
    labels = RNG.integers(0, 7, size=len(IMAGES))
    result = evaluate_ensemble([Member(DEFAULT_MODEL, "face")], IMAGES, labels, against=DEFAULT_MODEL)
    assert result["within_budget"] is True
    assert result["against"]["only_first_right"] == result["against"]["only_second_right"] == 0
    assert result["against"]["mcnemar_p"] == 1.0
