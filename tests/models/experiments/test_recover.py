"""A run rebuilt from an exported network: same predictions, BatchNorms that train again."""

from pathlib import Path
from typing import Any

import numpy as np
import pytest

pytest.importorskip("keras", reason="the training stack is the 'train' extra")


def exported_network(tmp_path: Path) -> tuple[Path, Any]:
    """A small vggbn (no dropout) with BatchNorm statistics far from the identity, exported."""
    from models.training.architectures import vggbn

    model = vggbn(widths=(4, 8), dropout=0.0)
    rng = np.random.default_rng(0)
    model.set_weights([rng.normal(0.5, 0.3, w.shape).astype(np.float32) for w in model.get_weights()])
    for layer in model.layers:
        if layer.__class__.__name__ == "BatchNormalization":
            gamma, beta, mean, variance = layer.get_weights()
            layer.set_weights([gamma, beta, mean, np.abs(variance) + 0.5])
    model(np.zeros((1, 48, 48, 1), dtype=np.float32))  # Keras exports only a network that has run
    path = tmp_path / "small.onnx"
    model.export(str(path), format="onnx", verbose=False)
    return path, model


def faces(count: int, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (count, 48, 48), dtype=np.uint8)


def test_rebuilt_network_predicts_what_the_export_predicts_and_trains_as_a_batchnorm_network(tmp_path: Path) -> None:
    from emostream.preprocess import prepare_faces
    from models.experiments.recover import rebuild
    from models.training.architectures import vggbn

    path, original = exported_network(tmp_path)
    images = faces(96, seed=1)
    rebuilt = rebuild(path, vggbn(widths=(4, 8), dropout=0.0), images, batch_size=32)
    x = prepare_faces(images)
    expected = original.predict(x, verbose=0)
    np.testing.assert_allclose(rebuilt.predict(x, verbose=0), expected, atol=1e-5)
    # In training, each BatchNorm normalises by the batch's own statistics; over the very faces
    # the statistics were taken from, that gives the exported network's predictions again.
    np.testing.assert_allclose(np.asarray(rebuilt(x, training=True)), expected, atol=1e-4)
    held_out = prepare_faces(faces(16, seed=2))
    np.testing.assert_allclose(rebuilt.predict(held_out, verbose=0), original.predict(held_out, verbose=0), atol=1e-5)


def test_an_export_of_another_architecture_is_refused(tmp_path: Path) -> None:
    from models.experiments.recover import rebuild
    from models.training.architectures import vggbn

    path, _ = exported_network(tmp_path)
    with pytest.raises(ValueError, match="do not match"):
        rebuild(path, vggbn(widths=(4, 16), dropout=0.0), faces(8, seed=1))
