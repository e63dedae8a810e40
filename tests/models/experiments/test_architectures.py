"""The research architectures' shapes and cost per face, measured on the built Keras models."""

import pytest

pytest.importorskip("keras", reason="the training stack is the 'train' extra")

import keras
import numpy as np

from models.classifier import BUDGET_MULTIPLY_ADDS
from models.experiments.architectures import TEACHER_ONLY, basic_block, resbn
from models.training.architectures import WIDE, all_architectures, multiply_adds


@pytest.mark.parametrize("name", sorted(TEACHER_ONLY))
def test_teacher_only_networks_are_the_ones_over_the_budget(name: str) -> None:
    model = all_architectures()[name]()
    assert model.output.shape[1:] == (7,)
    assert multiply_adds(model) > BUDGET_MULTIPLY_ADDS


def test_residual_stages_project_the_shortcut_only_where_the_width_grows() -> None:
    model = resbn(widths=(8, 16), blocks=2, stem=8)
    projections = [layer.name for layer in model.layers if layer.name.endswith("proj")]
    assert projections == ["s1b0proj"]  # the stem already gives stage 0 its 8 channels
    assert model.get_layer("s1b1c1").output.shape[1:] == (12, 12, 16)
    stem = 48 * 48 * 8 * 9
    stage0 = 4 * 24 * 24 * 8 * 9 * 8
    stage1 = 12 * 12 * 16 * 9 * 8 + 3 * 12 * 12 * 16 * 9 * 16 + 12 * 12 * 16 * 8
    assert multiply_adds(model) == stem + stage0 + stage1 + 16 * 7


def test_an_untrained_residual_block_is_the_identity_on_non_negative_input() -> None:
    inputs = keras.Input((6, 6, 4))
    block = keras.Model(inputs, basic_block(inputs, 4, name="b"))
    x = np.random.default_rng(4).random((2, 6, 6, 4), dtype=np.float32)  # as after a ReLU
    np.testing.assert_allclose(block.predict(x, verbose=0), x, atol=1e-5)
    # Its last BatchNorm starts at zero; once trained away from zero the block adds its own part.
    gamma, beta, mean, variance = block.get_layer("bbn1").get_weights()
    block.get_layer("bbn1").set_weights([np.ones_like(gamma), beta, mean, variance])
    assert not np.allclose(block.predict(x, verbose=0), x, atol=1e-3)


def test_only_the_narrow_network_fits_the_budget_with_its_mirror() -> None:
    # models.training.export --tta flip runs the network twice a face.
    assert 2 * multiply_adds(all_architectures()["vggbn-narrow"]()) <= BUDGET_MULTIPLY_ADDS
    assert 2 * multiply_adds(all_architectures()["vggbn-wide"]()) > BUDGET_MULTIPLY_ADDS


def test_the_gated_network_costs_the_wide_network_plus_its_gates() -> None:
    gates = sum(2 * width * (width // 16) for width in WIDE)
    assert (
        multiply_adds(all_architectures()["vggbn-wide-se"]())
        == multiply_adds(all_architectures()["vggbn-wide"]()) + gates
    )


def test_the_quarter_network_costs_at_most_a_quarter_of_the_served_network() -> None:
    # Issue 42's student for CPUs without VNNI: a quarter of the cost or less.
    quarter, wide = (all_architectures()[name]() for name in ("vggbn-quarter", "vggbn-wide"))
    assert 4 * multiply_adds(quarter) <= multiply_adds(wide)
    assert quarter.output.shape[1:] == (7,)
    assert [quarter.get_layer(f"s{stage}c1").filters for stage in range(4)] == [width // 2 for width in WIDE]
