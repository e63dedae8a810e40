"""The architectures' shapes and cost per face, measured on the built Keras models."""

import pytest

pytest.importorskip("keras", reason="the training stack is the 'train' extra")

from pathlib import Path

import keras
import numpy as np

from models.classifier import BUDGET_MULTIPLY_ADDS
from models.experiments.architectures import TEACHER_ONLY
from models.training.architectures import (
    all_architectures,
    load_float32,
    multiply_adds,
    squeeze_excite,
    vggbn,
    with_flip_averaging,
)


@pytest.mark.parametrize("name", sorted(set(all_architectures()) - {"baseline"} - TEACHER_ONLY))
def test_production_candidates_fit_the_budget_and_output_seven_probabilities(name: str) -> None:
    model = all_architectures()[name]()
    assert model.output.shape[1:] == (7,)
    assert multiply_adds(model) <= BUDGET_MULTIPLY_ADDS


def test_stem_halves_the_face_before_the_first_stage() -> None:
    model = vggbn(widths=(8, 16), stem=4)
    assert model.get_layer("stem").output.shape[1:] == (48, 48, 4)
    assert model.get_layer("s0c0").output.shape[1:] == (24, 24, 8)
    assert model.get_layer("s1c0").output.shape[1:] == (12, 12, 16)
    stem = 48 * 48 * 4 * 9 * 1
    stage0 = 24 * 24 * 8 * 9 * 4 + 24 * 24 * 8 * 9 * 8
    stage1 = 12 * 12 * 16 * 9 * 8 + 12 * 12 * 16 * 9 * 16
    assert multiply_adds(model) == stem + stage0 + stage1 + 16 * 7


def test_multiply_adds_counts_convolutions_and_dense_layers() -> None:
    # vggbn with one stage of 2 filters: two 3x3 convolutions at 48x48 (1->2, 2->2), then dense 2->7.
    model = vggbn(widths=(2,))
    assert multiply_adds(model) == 48 * 48 * 2 * 9 * 1 + 48 * 48 * 2 * 9 * 2 + 2 * 7


def test_a_network_trained_in_bfloat16_is_loaded_computing_in_float32(tmp_path: Path) -> None:
    keras.mixed_precision.set_global_policy("mixed_bfloat16")
    try:
        mixed = vggbn(widths=(4, 8))
    finally:
        keras.mixed_precision.set_global_policy("float32")
    assert mixed.get_layer("s0c0").compute_dtype == "bfloat16"
    assert mixed.get_layer("probs").compute_dtype == "float32"  # the loss takes the log of these
    mixed.save(tmp_path / "mixed.keras")
    loaded = load_float32(tmp_path / "mixed.keras")
    assert {layer.dtype_policy.name for layer in loaded.layers} == {"float32"}
    faces = np.random.default_rng(0).random((4, 48, 48, 1), dtype=np.float32)
    in_float32, in_bfloat16 = loaded.predict(faces, verbose=0), mixed.predict(faces, verbose=0)
    assert in_float32.dtype == np.float32
    np.testing.assert_allclose(in_float32, in_bfloat16, atol=0.02)  # same weights; bfloat16 keeps 8 bits
    assert not np.array_equal(in_float32, in_bfloat16)  # and it really computes in float32 now


def test_a_float32_network_is_loaded_as_saved(tmp_path: Path) -> None:
    model = vggbn(widths=(4,))
    model.save(tmp_path / "float32.keras")
    loaded = load_float32(tmp_path / "float32.keras")
    faces = np.random.default_rng(1).random((2, 48, 48, 1), dtype=np.float32)
    np.testing.assert_array_equal(loaded.predict(faces, verbose=0), model.predict(faces, verbose=0))


def test_flip_averaging_computes_in_float32_while_a_bfloat16_run_trains(tmp_path: Path) -> None:
    vggbn(widths=(4,)).save(tmp_path / "teacher.keras")
    keras.mixed_precision.set_global_policy("mixed_bfloat16")  # as in models.training.train, where teachers are built
    try:
        teacher = with_flip_averaging(load_float32(tmp_path / "teacher.keras"))
    finally:
        keras.mixed_precision.set_global_policy("float32")
    assert {layer.compute_dtype for layer in teacher.layers} == {"float32"}
    assert keras.mixed_precision.dtype_policy().name == "float32"
    faces = np.random.default_rng(2).random((3, 48, 48, 1), dtype=np.float32)
    built_in_float32 = with_flip_averaging(load_float32(tmp_path / "teacher.keras"))
    np.testing.assert_array_equal(teacher.predict(faces, verbose=0), built_in_float32.predict(faces, verbose=0))


def test_squeeze_excite_scales_each_channel_by_a_gate_from_the_whole_face() -> None:
    inputs = keras.Input((6, 6, 32))
    gated = keras.Model(inputs, squeeze_excite(inputs, 16, name="se"))
    x = np.random.default_rng(5).random((2, 6, 6, 32), dtype=np.float32)
    squeeze, excite = gated.get_layer("sesqueeze"), gated.get_layer("seexcite")
    assert (squeeze.units, excite.units) == (2, 32)
    # By hand: mean over the face, ReLU bottleneck, sigmoid, one factor per face and channel.
    w1, b1 = squeeze.get_weights()
    w2, b2 = excite.get_weights()
    hidden = np.maximum(x.mean(axis=(1, 2)) @ w1 + b1, 0.0)
    gate = 1.0 / (1.0 + np.exp(-(hidden @ w2 + b2)))
    np.testing.assert_allclose(gated.predict(x, verbose=0), x * gate[:, None, None, :], rtol=1e-5, atol=1e-6)
