"""Continuing a run whose checkpoint carries no optimizer state (one rebuilt by models.experiments.recover)."""

import dataclasses
from pathlib import Path

import numpy as np
import pytest

from tests.conftest import FER2013, FERPLUS, require_shared

pytest.importorskip("keras", reason="the training stack is the 'train' extra")

import keras  # after the skip: the "train" extra may be absent


class SameBatch(keras.utils.PyDataset):  # type: ignore[misc]
    """One batch, every step: the gradient is the same at each step while the weights stay put."""

    def __init__(self, steps: int) -> None:
        super().__init__()
        rng = np.random.default_rng(0)
        self.x = rng.normal(size=(8, 3)).astype(np.float32)
        self.y = np.eye(2, dtype=np.float32)[rng.integers(0, 2, 8)]
        self.steps = steps

    def __len__(self) -> int:
        return self.steps

    def __getitem__(self, index: int) -> tuple[np.ndarray, np.ndarray]:
        return self.x, self.y


def small_model(optimizer: keras.optimizers.Optimizer) -> keras.Model:
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2, activation="softmax")])
    model.compile(optimizer=optimizer, loss=keras.losses.CategoricalCrossentropy())
    model.optimizer.build(model.trainable_variables)
    return model


def test_restart_sets_the_step_and_bias_corrected_moments_without_moving_the_weights() -> None:
    from models.training.train import _moments, restart_optimizer

    model = small_model(keras.optimizers.Adam(learning_rate=1e-3))
    before = model.get_weights()
    restart_optimizer(model, SameBatch(steps=50), epochs=3)
    assert int(model.optimizer.iterations) == 3 * 50
    for weights, kept in zip(model.get_weights(), before, strict=True):
        np.testing.assert_array_equal(weights, kept)
    moments = _moments(model.optimizer)
    assert [kind for kind, _ in moments] == ["momentum", "velocity"] * 2
    # A constant gradient g: bias-corrected, the first moment is g and the second g squared.
    for (_, momentum), (_, velocity) in zip(moments[::2], moments[1::2], strict=True):
        m, v = np.asarray(momentum), np.asarray(velocity)
        assert np.abs(m).max() > 1e-4
        np.testing.assert_allclose(v, m * m, rtol=1e-3, atol=1e-9)


def test_restart_refuses_an_optimizer_without_moments() -> None:
    from models.training.train import restart_optimizer

    with pytest.raises(ValueError, match="no optimizer state to restart for SGD"):
        restart_optimizer(small_model(keras.optimizers.SGD()), SameBatch(steps=5), epochs=1)


def test_a_recovered_run_continues_with_a_restarted_optimizer(tmp_path: Path) -> None:
    from models.experiments.recover import write_run
    from models.training.architectures import all_architectures
    from models.training.recipes import all_recipes
    from models.training.runfolder import epochs_done
    from models.training.train import train

    data_dir = require_shared(FER2013)
    recipe = dataclasses.replace(all_recipes()["vggbn"], epochs=1, cycle_epochs=(), batch_size=32)
    run = tmp_path / "recovered"
    write_run(all_architectures()["vggbn"](), recipe, run, tmp_path / "exported.onnx")
    assert epochs_done(run) == 1
    model = train(
        dataclasses.replace(recipe, epochs=2, cycle_epochs=(1, 1)), data_dir, run, limit=320, ferplus_dir=FERPLUS
    )
    assert epochs_done(run) == 2
    assert int(model.optimizer.iterations) == 2 * 10  # 320 faces at 32: the schedule's second cycle, not its first
    assert len((run / "history.csv").read_text().splitlines()) == 2  # the header and epoch 2
