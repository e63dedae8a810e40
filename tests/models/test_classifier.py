import json
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

from emostream.errors import ModelError
from models import load_classifier
from models.classifier import ARTIFACT_DIR, BUDGET_MULTIPLY_ADDS, DEFAULT_MODEL, FP32_MODEL, metadata_path
from models.training.data import load_fer2013
from models.training.metrics import evaluate
from tests.conftest import FER2013, require_shared


def test_predict_returns_one_probability_row_per_face_in_label_order() -> None:
    classifier = load_classifier()
    faces = np.random.default_rng(0).integers(0, 256, (5, 64, 50), dtype=np.uint8)
    probs = classifier.predict(faces)
    assert probs.shape == (5, 7)
    assert probs.dtype == np.float32
    assert np.allclose(probs.sum(axis=1), 1.0, atol=1e-4)
    assert classifier.predict(np.zeros((0, 48, 48), np.uint8)).shape == (0, 7)


def test_batched_and_single_predictions_agree() -> None:
    classifier = load_classifier()
    faces = np.random.default_rng(1).integers(0, 256, (4, 48, 48), dtype=np.uint8)
    one_by_one = np.concatenate([classifier.predict(faces[i : i + 1]) for i in range(4)])
    assert np.allclose(classifier.predict(faces), one_by_one, atol=1e-5)


def test_inputs_larger_than_one_session_batch_run_in_chunks_with_the_same_results() -> None:
    from models.classifier import SESSION_BATCH

    classifier = load_classifier()
    faces = np.random.default_rng(2).integers(0, 256, (SESSION_BATCH + 3, 48, 48), dtype=np.uint8)
    whole = classifier.predict(faces)
    assert whole.shape == (SESSION_BATCH + 3, 7)
    assert np.allclose(whole[-3:], classifier.predict(faces[-3:]), atol=1e-5)


def copy_artifact(tmp_path: Path) -> Path:
    target = tmp_path / "emotion.onnx"
    shutil.copy(DEFAULT_MODEL, target)
    shutil.copy(metadata_path(DEFAULT_MODEL), metadata_path(target))
    return target


def test_an_artifact_with_another_label_order_is_refused(tmp_path: Path) -> None:
    model = copy_artifact(tmp_path)
    meta = json.loads(metadata_path(model).read_text())
    meta["labels"] = list(reversed(meta["labels"]))
    metadata_path(model).write_text(json.dumps(meta))
    with pytest.raises(ModelError, match="labels"):
        load_classifier(model)


def test_a_missing_artifact_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ModelError, match="not found"):
        load_classifier(tmp_path / "nope.onnx")


def test_the_reference_faces_are_the_same_every_time_and_not_blank() -> None:
    from models.classifier import REFERENCE_FACES, reference_faces

    faces = reference_faces(48)
    assert faces.shape == (REFERENCE_FACES, 48, 48)
    assert np.array_equal(faces, reference_faces(48))
    assert all(face.std() > 10 for face in faces)
    assert len({face.tobytes() for face in faces}) == REFERENCE_FACES


def test_git_tracks_only_the_served_network_and_its_fp32_source() -> None:
    """Teachers and candidates live in git history (docs/model/retired-artifacts.md), not in the tree."""
    repo = ARTIFACT_DIR.parents[1]
    if not (repo / ".git").exists():
        pytest.skip("not a git checkout")
    listed = subprocess.run(["git", "ls-files", "*.onnx"], cwd=repo, capture_output=True, text=True, check=True)
    assert sorted(listed.stdout.split()) == ["models/artifacts/emotion-int8.onnx", "models/artifacts/emotion.onnx"]


@pytest.mark.parametrize("artifact", [DEFAULT_MODEL, FP32_MODEL], ids=lambda path: path.name)
def test_every_committed_artifact_reproduces_its_reference_probabilities_here(artifact: Path) -> None:
    """Loading compares; this machine's runtime and CPU must compute what the writer's did."""
    assert "reference" in json.loads(metadata_path(artifact).read_text())
    load_classifier(artifact)


def test_an_artifact_computed_differently_from_its_reference_is_refused(tmp_path: Path) -> None:
    from models.classifier import REFERENCE_TOLERANCE

    model = copy_artifact(tmp_path)
    meta = json.loads(metadata_path(model).read_text())
    meta["reference"]["probabilities"][3][2] += 2 * REFERENCE_TOLERANCE  # as if this CPU computed that
    metadata_path(model).write_text(json.dumps(meta))
    with pytest.raises(ModelError, match="reference faces"):
        load_classifier(model)


def test_an_artifact_written_before_the_reference_check_still_loads(tmp_path: Path) -> None:
    model = copy_artifact(tmp_path)
    meta = json.loads(metadata_path(model).read_text())
    del meta["reference"]
    metadata_path(model).write_text(json.dumps(meta))
    assert load_classifier(model).predict(np.zeros((1, 48, 48), np.uint8)).shape == (1, 7)


def test_recording_a_reference_replaces_one_copied_from_another_artifact(tmp_path: Path) -> None:
    from models.classifier import record_reference, reference_faces

    model = copy_artifact(tmp_path)  # the int8 network, given the fp32 network's reference
    meta = json.loads(metadata_path(model).read_text())
    meta["reference"] = json.loads(metadata_path(FP32_MODEL).read_text())["reference"]
    metadata_path(model).write_text(json.dumps(meta))
    recorded = np.asarray(record_reference(model)["reference"]["probabilities"])
    here = load_classifier(model).predict_uncalibrated(reference_faces(48))
    np.testing.assert_allclose(recorded, here, atol=1e-6)
    assert np.abs(recorded - np.asarray(meta["reference"]["probabilities"])).max() > 1e-3


def test_committed_model_keeps_its_model_card_accuracy_on_publictest() -> None:
    """CI's guard: the served artifact, scored now, within 1 point of the figure it was shipped with."""
    data = load_fer2013(require_shared(FER2013))
    classifier = load_classifier()
    measured = evaluate(data.val.y, classifier.predict(data.val.x))
    shipped = json.loads(metadata_path(DEFAULT_MODEL).read_text())["publictest"]["accuracy"]
    assert measured.count == 3589
    assert measured.accuracy >= shipped - 0.01


def test_the_served_int8_model_is_within_half_a_point_of_the_fp32_model() -> None:
    served = json.loads(metadata_path(DEFAULT_MODEL).read_text())
    fp32 = json.loads(metadata_path(FP32_MODEL).read_text())
    assert served["quantization"]["fp32_model"] == FP32_MODEL.name
    assert served["publictest"]["accuracy"] >= fp32["publictest"]["accuracy"] - 0.005
    data = load_fer2013(require_shared(FER2013))
    measured = evaluate(data.val.y, load_classifier(FP32_MODEL).predict(data.val.x))
    assert measured.accuracy >= fp32["publictest"]["accuracy"] - 0.01


def test_the_metadata_temperature_rescales_the_probabilities_but_not_the_classes(tmp_path: Path) -> None:
    from models.calibration import apply_temperature

    model = copy_artifact(tmp_path)
    meta = json.loads(metadata_path(model).read_text())
    meta["temperature"] = 2.0
    metadata_path(model).write_text(json.dumps(meta))
    faces = np.random.default_rng(3).integers(0, 256, (8, 48, 48), dtype=np.uint8)
    scaled = load_classifier(model).predict(faces)
    raw = load_classifier(model).predict_uncalibrated(faces)
    assert np.allclose(scaled, apply_temperature(raw, 2.0), atol=1e-6)
    assert not np.allclose(scaled, raw, atol=1e-3)
    assert np.array_equal(scaled.argmax(axis=1), raw.argmax(axis=1))


@pytest.mark.parametrize("temperature", [0, -1.5, "hot", True])
def test_a_temperature_that_is_not_a_positive_number_is_refused(tmp_path: Path, temperature: object) -> None:
    model = copy_artifact(tmp_path)
    meta = json.loads(metadata_path(model).read_text())
    meta["temperature"] = temperature
    metadata_path(model).write_text(json.dumps(meta))
    with pytest.raises(ModelError, match="temperature"):
        load_classifier(model)


def graph_multiply_adds(path: Path) -> int:
    """Multiply-adds per face of an fp32 ONNX graph's Conv and MatMul/Gemm nodes, from its inferred shapes."""
    onnx = pytest.importorskip("onnx", reason="onnx comes with the 'train' extra")
    model = onnx.shape_inference.infer_shapes(onnx.load(path))
    values = [*model.graph.input, *model.graph.value_info, *model.graph.output]
    shapes = {v.name: [d.dim_value for d in v.type.tensor_type.shape.dim] for v in values}
    weights = {init.name: list(init.dims) for init in model.graph.initializer}
    total = 0
    for node in model.graph.node:
        if node.op_type == "Conv":  # NCHW output; weights (out, in, kh, kw): per output value in x kh x kw
            total += int(np.prod(shapes[node.output[0]][1:])) * int(np.prod(weights[node.input[1]][1:]))
        elif node.op_type in ("MatMul", "Gemm"):
            total += int(np.prod(weights[node.input[1]]))
    return total


def test_the_served_network_fits_the_budget_counted_in_its_own_graph() -> None:
    """Issue 3: about 150 M multiply-adds per face. Counted in the exported graph, not taken from
    the training side, so a network over the budget (a teacher) cannot be promoted by mistake."""
    counted = graph_multiply_adds(FP32_MODEL)
    assert counted == json.loads(metadata_path(FP32_MODEL).read_text())["multiply_adds"]
    assert counted <= BUDGET_MULTIPLY_ADDS


def test_the_served_session_runs_the_threads_asked_for_without_spinning() -> None:
    session = load_classifier(threads=1)._session
    assert session.get_session_options().intra_op_num_threads == 1
    assert session.get_session_options().get_session_config_entry("session.intra_op.allow_spinning") == "0"
