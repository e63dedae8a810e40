"""Teacher targets for distillation, from tiny real Keras models saved to disk."""

from pathlib import Path
from typing import Any

import numpy as np
import pytest

keras = pytest.importorskip("keras", reason="the training stack is the 'train' extra")

from emostream.modelstore import file_sha256  # noqa: E402
from emostream.preprocess import prepare_faces  # noqa: E402
from models.training.distill import (  # noqa: E402
    cached_teacher_probabilities,
    extend_teacher_cache,
    teacher_probabilities,
    write_teacher_cache,
)
from models.training.runfolder import TEACHER_CACHE  # noqa: E402

RNG = np.random.default_rng(0)
IMAGES = RNG.integers(0, 256, size=(6, 48, 48), dtype=np.uint8)


def saved_teacher(path: Path, seed: int) -> Path:
    """A small network that is not mirror-symmetric (a dense layer over the flattened image)."""
    keras.utils.set_random_seed(seed)
    inputs = keras.Input((48, 48, 1))
    x = keras.layers.Conv2D(2, 3)(inputs)
    x = keras.layers.Flatten()(x)
    model: Any = keras.Model(inputs, keras.layers.Dense(7, activation="softmax")(x))
    model.save(path)
    return path


def test_targets_are_the_mean_over_teachers_and_mirrors(tmp_path: Path) -> None:
    teachers = [saved_teacher(tmp_path / f"t{seed}.keras", seed) for seed in (1, 2)]
    faces = prepare_faces(IMAGES)
    expected = np.mean(
        [
            keras.models.load_model(path, compile=False).predict(view, verbose=0)
            for path in teachers
            for view in (faces, faces[:, :, ::-1])
        ],
        axis=0,
    )
    got = teacher_probabilities(teachers, IMAGES)
    assert got.shape == (6, 7)
    assert np.allclose(got, expected, atol=1e-6)
    assert np.allclose(got.sum(axis=1), 1.0, atol=1e-5)


def test_a_face_and_its_mirror_get_the_same_targets_though_each_teacher_differs(tmp_path: Path) -> None:
    teacher = saved_teacher(tmp_path / "t.keras", 3)
    mirrored = np.ascontiguousarray(IMAGES[:, :, ::-1])
    model = keras.models.load_model(teacher, compile=False)
    one_view = model.predict(prepare_faces(IMAGES), verbose=0)
    assert not np.allclose(one_view, model.predict(prepare_faces(mirrored), verbose=0), atol=1e-4)
    assert np.allclose(teacher_probabilities([teacher], IMAGES), teacher_probabilities([teacher], mirrored), atol=1e-6)


def test_cache_is_reused_for_the_same_teachers_and_remade_for_others(tmp_path: Path) -> None:
    first, second = saved_teacher(tmp_path / "a.keras", 1), saved_teacher(tmp_path / "b.keras", 2)
    run = tmp_path / "run"
    made = cached_teacher_probabilities(run, [first], IMAGES)
    assert (run / TEACHER_CACHE).exists()
    assert made.teachers == [{"path": str(first), "sha256": file_sha256(first)}]
    recorded = made.teachers
    first.unlink()  # a cache hit must not need the teacher again, and still knows which one it was
    hit = cached_teacher_probabilities(run, [first], IMAGES)
    assert np.array_equal(hit.probabilities, made.probabilities)
    assert hit.teachers == recorded
    other = cached_teacher_probabilities(run, [second], IMAGES).probabilities
    assert not np.allclose(other, made.probabilities)
    fewer = cached_teacher_probabilities(run, [second], IMAGES[:3])  # other images: remade, not reused
    assert np.allclose(fewer.probabilities, other[:3], atol=1e-6)
    changed = IMAGES.copy()
    changed[0] = 255 - changed[0]  # same count, other pixels
    assert not np.allclose(cached_teacher_probabilities(run, [second], changed).probabilities[0], other[0])


def test_a_teacher_retrained_in_place_is_noticed(tmp_path: Path) -> None:
    teacher, run = tmp_path / "t.keras", tmp_path / "run"
    before = cached_teacher_probabilities(run, [saved_teacher(teacher, 1)], IMAGES)
    after = cached_teacher_probabilities(run, [saved_teacher(teacher, 2)], IMAGES)  # same path, other network
    assert not np.allclose(after.probabilities, before.probabilities)
    assert after.teachers[0]["sha256"] == file_sha256(teacher) != before.teachers[0]["sha256"]


def test_a_cache_without_teacher_hashes_is_remade(tmp_path: Path) -> None:
    teacher, run = saved_teacher(tmp_path / "t.keras", 1), tmp_path / "run"
    made = cached_teacher_probabilities(run, [teacher], IMAGES)
    with np.load(run / TEACHER_CACHE) as saved:  # as written before the hashes were kept
        np.savez(run / TEACHER_CACHE, key=saved["key"], probabilities=np.zeros_like(saved["probabilities"]))
    again = cached_teacher_probabilities(run, [teacher], IMAGES)
    assert np.allclose(again.probabilities, made.probabilities)
    assert again.teachers == made.teachers


def test_no_teacher_is_a_clear_error() -> None:
    with pytest.raises(ValueError, match="--teacher"):
        teacher_probabilities([], IMAGES)


def test_an_exported_onnx_artifact_is_a_teacher_through_the_serving_path_without_its_temperature(
    tmp_path: Path,
) -> None:
    import json
    import shutil

    from models import load_classifier
    from models.classifier import DEFAULT_MODEL, metadata_path

    teacher = tmp_path / "teacher.onnx"
    shutil.copy(DEFAULT_MODEL, teacher)
    metadata = json.loads(metadata_path(DEFAULT_MODEL).read_text())
    metadata_path(teacher).write_text(json.dumps({**metadata, "temperature": 2.0}))
    network = load_classifier(teacher)
    mirrored = np.ascontiguousarray(IMAGES[:, :, ::-1])
    expected = (network.predict_uncalibrated(IMAGES) + network.predict_uncalibrated(mirrored)) / 2
    got = teacher_probabilities([teacher], IMAGES)
    assert np.allclose(got, expected, atol=1e-6)
    assert not np.allclose(got, (network.predict(IMAGES) + network.predict(mirrored)) / 2, atol=1e-3)
    assert teacher_probabilities([teacher], IMAGES[:0]).shape == (0, 7)
    assert np.allclose(got, teacher_probabilities([teacher], mirrored), atol=1e-6)


def test_an_extended_cache_is_what_all_the_teachers_make_and_needs_none_of_the_cached_ones(tmp_path: Path) -> None:
    first, second, third = (saved_teacher(tmp_path / f"t{seed}.keras", seed) for seed in (1, 2, 3))
    run = tmp_path / "run"
    cached_teacher_probabilities(run, [first, second], IMAGES)
    first.unlink()  # the cached teachers stay behind (on a GPU lease they cannot travel)
    second_hash = file_sha256(second)
    second.unlink()
    teachers, made = extend_teacher_cache(run / TEACHER_CACHE, [third], IMAGES, tmp_path / "extended.npz")
    assert teachers == [first, second, third]
    assert [record["path"] for record in made.teachers] == [str(p) for p in teachers]
    assert made.teachers[1]["sha256"] == second_hash
    saved_teacher(first, 1)  # the same networks again, to compute directly
    saved_teacher(second, 2)
    assert np.allclose(made.probabilities, teacher_probabilities(teachers, IMAGES), atol=1e-6)

    # A run naming all three, in that order, takes its targets from the extended cache.
    first.unlink()
    second.unlink()
    student = tmp_path / "student"
    student.mkdir()
    (student / TEACHER_CACHE).write_bytes((tmp_path / "extended.npz").read_bytes())
    hit = cached_teacher_probabilities(student, teachers, IMAGES)
    assert np.array_equal(hit.probabilities, made.probabilities)


def test_a_cache_is_extended_only_for_the_images_it_was_made_for(tmp_path: Path) -> None:
    run = tmp_path / "run"
    cached_teacher_probabilities(run, [saved_teacher(tmp_path / "a.keras", 1)], IMAGES)
    with pytest.raises(ValueError, match="other images"):
        extend_teacher_cache(run / TEACHER_CACHE, [saved_teacher(tmp_path / "b.keras", 2)], IMAGES[:3], tmp_path / "x")


def test_a_cache_made_ahead_serves_a_run_where_the_teachers_are_not(tmp_path: Path) -> None:
    # A GPU lease carries the data and this cache; the teachers' files stay behind.
    teachers = [saved_teacher(tmp_path / "a.keras", 1), saved_teacher(tmp_path / "b.keras", 2)]
    made = write_teacher_cache(teachers, IMAGES, tmp_path / "lease" / "teacher.npz")  # its folder made too
    hashes = [file_sha256(path) for path in teachers]
    for path in teachers:
        path.unlink()
    run = tmp_path / "lease-run"
    run.mkdir()
    (run / TEACHER_CACHE).write_bytes((tmp_path / "lease" / "teacher.npz").read_bytes())
    taken = cached_teacher_probabilities(run, teachers, IMAGES)
    np.testing.assert_array_equal(taken.probabilities, made.probabilities)
    assert [record["sha256"] for record in taken.teachers] == hashes
    with pytest.raises(ValueError, match="File not found"):  # other images need the teachers themselves
        cached_teacher_probabilities(run, teachers, IMAGES[:3])
