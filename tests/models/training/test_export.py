"""Export with test-time flip averaging: the served graph averages each face and its mirror."""

import json
from pathlib import Path

import numpy as np
import pytest

from tests.conftest import FER2013, require_shared

pytest.importorskip("keras", reason="the training stack is the 'train' extra")


def fake_run(folder: Path, arch: str) -> None:
    """A run folder as models.training.train leaves it: a small untrained vggbn, ``arch``'s recipe recorded."""
    from models.training.architectures import vggbn
    from models.training.recipes import all_recipes
    from models.training.runfolder import STATE

    folder.mkdir()
    vggbn(widths=(4, 8)).save(folder / "averaged.keras")
    recipe = all_recipes()[arch].as_dict()
    run = {"recipe": recipe, "backend": "tensorflow", "data_sha256": "0" * 64, "teachers": []}
    (folder / "run.json").write_text(json.dumps(run))
    (folder / STATE).write_text(json.dumps({"epochs_done": 40}))


def test_flip_export_serves_the_mean_of_face_and_mirror(tmp_path: Path) -> None:
    import keras

    from models import load_classifier
    from models.training.export import export

    data_dir = require_shared(FER2013)
    fake_run(tmp_path / "run", "vggbn-narrow-kd")
    plain = export(tmp_path / "run", "averaged.keras", tmp_path / "plain.onnx", data_dir)
    flipped = export(tmp_path / "run", "averaged.keras", tmp_path / "flip.onnx", data_dir, tta="flip")
    assert (plain["tta"], flipped["tta"]) == ("none", "flip")
    assert flipped["multiply_adds"] == 2 * plain["multiply_adds"]
    assert plain["reference"] != flipped["reference"]  # each records its own graph's probabilities

    faces = np.random.default_rng(3).integers(0, 256, (5, 48, 48), dtype=np.uint8)
    network = keras.models.load_model(tmp_path / "run" / "averaged.keras", compile=False)
    x = faces[..., None].astype(np.float32) / 255.0
    expected = (network.predict(x, verbose=0) + network.predict(x[:, :, ::-1], verbose=0)) / 2
    served = load_classifier(tmp_path / "flip.onnx").predict_uncalibrated(faces)
    np.testing.assert_allclose(served, expected, atol=1e-5)
    unflipped = load_classifier(tmp_path / "plain.onnx").predict_uncalibrated(faces)
    assert not np.allclose(served, unflipped, atol=1e-5)  # the mirror really changes the answer
