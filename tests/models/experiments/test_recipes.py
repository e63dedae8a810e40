"""Recipes: those compared with each other differ only where they say, and weight decay does what
their comments say it does."""

import dataclasses

import numpy as np
import pytest

pytest.importorskip("keras", reason="the training stack is the 'train' extra")

import keras

from models.training.recipes import all_recipes
from models.training.train import _optimizer


def test_the_weight_decay_recipe_changes_only_the_served_recipes_weight_decay() -> None:
    served, decayed = all_recipes()["vggbn-wide-kd"], all_recipes()["vggbn-wide-kd-wd"]
    assert decayed == dataclasses.replace(served, weight_decay=0.05)
    assert served.weight_decay == 1e-4


def test_the_sgd_recipe_changes_only_the_served_recipes_optimizer() -> None:
    served, sgd = all_recipes()["vggbn-wide-kd"], all_recipes()["vggbn-wide-kd-sgd"]
    assert sgd == dataclasses.replace(served, optimizer="sgd", learning_rate=0.05, weight_decay=5e-4)
    assert served.optimizer == "adam"


def test_an_unknown_optimizer_is_refused() -> None:
    with pytest.raises(ValueError, match="optimizer 'rmsprop'"):
        dataclasses.replace(all_recipes()["vggbn-wide-kd"], optimizer="rmsprop")


def test_the_sgd_recipe_trains_with_nesterov_momentum() -> None:
    optimizer = _optimizer(all_recipes()["vggbn-wide-kd-sgd"], steps_per_epoch=10)
    assert isinstance(optimizer, keras.optimizers.SGD)
    assert (optimizer.momentum, optimizer.nesterov) == (0.9, True)


@pytest.mark.parametrize("name", ["vggbn-wide-kd", "vggbn-wide-kd-wd", "vggbn-wide-kd-sgd"])
def test_weight_decay_is_scaled_by_the_learning_rate(name: str) -> None:
    """The recipe comment's arithmetic: where the gradient is zero, one step multiplies a weight
    by 1 - learning rate x weight decay (Keras' AdamW and SGD), not by 1 - weight decay."""
    recipe = dataclasses.replace(all_recipes()[name], schedule="constant")
    optimizer = _optimizer(recipe, steps_per_epoch=10)
    weight = keras.Variable(np.ones((3, 3), dtype="float32"))
    optimizer.apply_gradients([(keras.ops.zeros((3, 3)), weight)])
    expected = 1.0 - recipe.learning_rate * recipe.weight_decay
    np.testing.assert_allclose(keras.ops.convert_to_numpy(weight), expected, rtol=0, atol=1e-7)


def test_the_squeeze_excite_recipe_changes_only_the_served_recipes_network() -> None:
    served, excited = all_recipes()["vggbn-wide-kd"], all_recipes()["vggbn-wide-se-kd"]
    assert excited == dataclasses.replace(served, arch="vggbn-wide-se")


def test_the_quarter_student_recipe_is_the_served_recipe_on_the_quarter_network() -> None:
    served, student = all_recipes()["vggbn-wide-kd-jitter-cycle3"], all_recipes()["vggbn-quarter-kd-jitter"]
    assert student == dataclasses.replace(served, arch="vggbn-quarter")
    assert served.arch == "vggbn-wide"
