"""Weight averaging and BatchNorm recalibration on tiny real Keras models."""

from pathlib import Path
from typing import Any

import numpy as np
import pytest

keras = pytest.importorskip("keras", reason="the training stack is the 'train' extra")

from emostream.preprocess import prepare_faces  # noqa: E402
from models.training.average import average_weights, last_snapshots, recalibrate_batchnorm, snapshot_name  # noqa: E402


def tiny_model() -> Any:
    inputs = keras.Input((48, 48, 1))
    x = keras.layers.Conv2D(2, 3, use_bias=False)(inputs)
    x = keras.layers.BatchNormalization(momentum=0.9)(x)
    x = keras.layers.GlobalAveragePooling2D()(x)
    return keras.Model(inputs, keras.layers.Dense(7, activation="softmax")(x))


def test_recalibration_sets_the_exact_mean_and_variance_of_the_inputs() -> None:
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, size=(64, 48, 48), dtype=np.uint8)
    model = tiny_model()
    recalibrate_batchnorm(model, images, batch_size=16)
    conv, norm = model.layers[1], model.layers[2]
    features = keras.ops.convert_to_numpy(conv(prepare_faces(images)))
    batches = features.reshape(4, -1, 2)  # four equal batches, per channel
    assert np.allclose(keras.ops.convert_to_numpy(norm.moving_mean), features.reshape(-1, 2).mean(axis=0), rtol=1e-4)
    assert np.allclose(keras.ops.convert_to_numpy(norm.moving_variance), batches.var(axis=1).mean(axis=0), rtol=1e-3)
    assert norm.momentum == 0.9  # restored for any later training


def test_average_of_snapshots_is_the_mean_of_their_weights(tmp_path: Path) -> None:
    folder = tmp_path / "snapshots"
    folder.mkdir()
    models = [tiny_model() for _ in range(3)]
    for epoch, model in enumerate(models, start=1):
        model.save(folder / snapshot_name(epoch))
    paths = last_snapshots(tmp_path, 2)
    assert [p.name for p in paths] == ["epoch-002.keras", "epoch-003.keras"]
    averaged = average_weights(paths)
    for mine, *theirs in zip(averaged.get_weights(), models[1].get_weights(), models[2].get_weights(), strict=True):
        assert np.allclose(mine, (theirs[0] + theirs[1]) / 2)
    with pytest.raises(FileNotFoundError, match="holds 3 snapshots, 4 wanted"):
        last_snapshots(tmp_path, 4)
