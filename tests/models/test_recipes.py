"""Recipes: those compared with each other differ only where they say, and weight decay does what
their comments say it does."""

import dataclasses

import numpy as np
import pytest

pytest.importorskip("keras", reason="the training stack is the 'train' extra")

import keras

from models.recipes import RECIPES
from models.train import _optimizer


def test_the_weight_decay_recipe_changes_only_the_served_recipes_weight_decay() -> None:
    served, decayed = RECIPES["vggbn-wide-kd"], RECIPES["vggbn-wide-kd-wd"]
    assert decayed == dataclasses.replace(served, weight_decay=0.05)
    assert served.weight_decay == 1e-4


@pytest.mark.parametrize("name", ["vggbn-wide-kd", "vggbn-wide-kd-wd"])
def test_weight_decay_is_scaled_by_the_learning_rate(name: str) -> None:
    """The recipe comment's arithmetic: where the gradient is zero, one step multiplies a weight
    by 1 - learning rate x weight decay (Keras' AdamW), not by 1 - weight decay."""
    recipe = dataclasses.replace(RECIPES[name], schedule="constant")
    optimizer = _optimizer(recipe, steps_per_epoch=10)
    weight = keras.Variable(np.ones((3, 3), dtype="float32"))
    optimizer.apply_gradients([(keras.ops.zeros((3, 3)), weight)])
    expected = 1.0 - recipe.learning_rate * recipe.weight_decay
    np.testing.assert_allclose(keras.ops.convert_to_numpy(weight), expected, rtol=0, atol=1e-7)
