"""Consistent teaching: the teachers predict the very faces each training batch holds, as augmented."""

from pathlib import Path

import numpy as np
import numpy.typing as npt
import pytest

pytest.importorskip("keras", reason="the training stack is the 'train' extra")

from models.training.augment import Augmentation
from models.training.data import Split
from models.training.distill import Teachers, teacher_probabilities
from models.training.targets import one_hot, with_teacher
from models.training.train import ConsistentTeaching, FerBatches
from tests.models.training.test_distill import saved_teacher

RNG = np.random.default_rng(5)
SPLIT = Split(RNG.integers(0, 256, size=(20, 48, 48), dtype=np.uint8), RNG.integers(0, 7, size=20, dtype=np.uint8))
BATCH = 8


def as_uint8(faces: npt.NDArray[np.float32]) -> npt.NDArray[np.uint8]:
    """The uint8 faces a prepared batch was made from (prepare_faces divides by 255)."""
    return np.asarray(np.rint(faces[..., 0] * 255), dtype=np.uint8)


def test_each_batch_mixes_the_label_with_the_teachers_on_its_augmented_faces(tmp_path: Path) -> None:
    teachers = Teachers([saved_teacher(tmp_path / "t.keras", 1)])
    batches = FerBatches(
        SPLIT, one_hot(SPLIT.y), BATCH, Augmentation(), seed=3, teaching=ConsistentTeaching(teachers, 0.7)
    )
    rows = batches.order[:BATCH]
    faces, targets = batches[0]
    seen = as_uint8(faces)
    assert not np.array_equal(seen, SPLIT.x[rows])  # augmented, so the teachers' view matters
    expected = with_teacher(one_hot(SPLIT.y[rows]), teachers.predict(seen), 0.7)
    assert np.allclose(targets, expected, atol=1e-6)
    fixed = with_teacher(one_hot(SPLIT.y[rows]), teacher_probabilities(teachers.paths, SPLIT.x[rows]), 0.7)
    assert not np.allclose(targets, fixed, atol=1e-4)


def test_teaching_leaves_the_batches_and_their_augmentation_as_they_were(tmp_path: Path) -> None:
    """So a consistent run and a fixed-target run of one seed differ only in the teachers' view."""
    teaching = ConsistentTeaching(Teachers([saved_teacher(tmp_path / "t.keras", 2)]), 0.5)
    taught = FerBatches(SPLIT, one_hot(SPLIT.y), BATCH, Augmentation(), seed=4, teaching=teaching)
    plain = FerBatches(SPLIT, one_hot(SPLIT.y), BATCH, Augmentation(), seed=4)
    for index in range(len(plain)):
        assert np.array_equal(taught[index][0], plain[index][0])
    taught.on_epoch_end()
    plain.on_epoch_end()
    assert np.array_equal(taught.order, plain.order)


def test_mixup_blends_the_batch_that_would_have_been_seen_with_a_shuffle_of_itself() -> None:
    """The batch is augmented exactly as without mixup; then one weight mixes faces and targets."""
    plain = FerBatches(SPLIT, one_hot(SPLIT.y), BATCH, Augmentation(), seed=4)
    mixed = FerBatches(SPLIT, one_hot(SPLIT.y), BATCH, Augmentation(), seed=4, mixup=0.4)
    faces, targets = plain[0]
    mixed_faces, mixed_targets = mixed[0]
    # plain's generator now stands where mixed's stood after augmenting: draw the same mix from it.
    weight, partner = plain.rng.beta(0.4, 0.4), plain.rng.permutation(len(faces))
    assert np.allclose(mixed_faces, weight * faces + (1 - weight) * faces[partner], atol=1e-6)
    assert np.allclose(mixed_targets, weight * targets + (1 - weight) * targets[partner], atol=1e-6)
    assert not np.allclose(mixed_targets, targets)
    assert np.allclose(mixed_targets.sum(axis=1), 1.0, atol=1e-6)


def test_an_onnx_teacher_predicts_each_batch_as_well() -> None:
    from models.classifier import DEFAULT_MODEL, load_classifier

    teachers = Teachers([DEFAULT_MODEL])
    faces, targets = FerBatches(
        SPLIT, one_hot(SPLIT.y), BATCH, Augmentation(), seed=6, teaching=ConsistentTeaching(teachers, 1.0)
    )[1]
    network, seen = load_classifier(DEFAULT_MODEL), as_uint8(faces)
    mirrored = np.ascontiguousarray(seen[:, :, ::-1])
    expected = (network.predict_uncalibrated(seen) + network.predict_uncalibrated(mirrored)) / 2
    assert np.allclose(targets, expected, atol=1e-6)


@pytest.mark.slow
def test_a_consistently_taught_run_records_its_teachers_and_caches_nothing(tmp_path: Path) -> None:
    import dataclasses
    import json

    from emostream.modelstore import file_sha256
    from models.training.recipes import all_recipes
    from models.training.runfolder import TEACHER_CACHE, epochs_done
    from models.training.train import train
    from tests.conftest import FER2013, FERPLUS, require_shared

    teacher = saved_teacher(tmp_path / "t.keras", 3)
    run = tmp_path / "run"
    recipe = dataclasses.replace(all_recipes()["vggbn-narrow-kd-consistent"], epochs=1, cycle_epochs=(), batch_size=32)
    train(recipe, require_shared(FER2013), run, limit=320, ferplus_dir=FERPLUS, teachers=[teacher])
    assert epochs_done(run) == 1
    assert json.loads((run / "run.json").read_text())["teachers"] == [
        {"path": str(teacher), "sha256": file_sha256(teacher)}
    ]
    assert not (run / TEACHER_CACHE).exists()
