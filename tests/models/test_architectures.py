"""The architectures' shapes and cost per face, measured on the built Keras models."""

import pytest

pytest.importorskip("keras", reason="the training stack is the 'train' extra")

from models.architectures import ARCHITECTURES, multiply_adds, vggbn

BUDGET_MULTIPLY_ADDS = 150_000_000  # issue 3: about 150 M multiply-adds per face


@pytest.mark.parametrize("name", sorted(set(ARCHITECTURES) - {"baseline"}))
def test_production_candidates_fit_the_budget_and_output_seven_probabilities(name: str) -> None:
    model = ARCHITECTURES[name]()
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
