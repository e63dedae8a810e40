"""A tiny training run through the real training, resume and export code (TensorFlow on the CPU)."""

import json
from pathlib import Path

import pytest

from tests.conftest import FER2013, FERPLUS, require_shared

pytestmark = pytest.mark.slow


def assert_trained_in_bfloat16(run: Path) -> None:
    import keras

    assert json.loads((run / "run.json").read_text())["recipe"]["precision"] == "mixed_bfloat16"
    assert keras.mixed_precision.dtype_policy().name == "float32"  # the training policy does not leak


def assert_exported_in_float32(model: Path) -> None:
    import onnx

    casts = [node for node in onnx.load(model).graph.node if node.op_type == "Cast"]
    cast_to = {attribute.i for node in casts for attribute in node.attribute if attribute.name == "to"}
    # Exported as trained, the graph casts to 16-bit types, which ONNX Runtime's Conv refuses.
    assert cast_to.isdisjoint({onnx.TensorProto.BFLOAT16, onnx.TensorProto.FLOAT16})


def plant_history(run: Path) -> bytes:
    """After one epoch: as if that epoch had scored 99 % on PublicTest, and the run had been killed
    after logging its second epoch but before recording it as done. Returns ``best.keras``."""
    header, first = (run / "history.csv").read_text().splitlines()
    columns = header.split(",")
    values = first.split(",")
    values[columns.index("val_accuracy")] = "0.99"
    (run / "history.csv").write_text(f"{header}\n{','.join(values)}\n1,0.5,1.2,0.6,1.1\n")
    return (run / "best.keras").read_bytes()


def assert_resumed_history(run: Path, best_before: bytes) -> None:
    logged = [line.split(",")[0] for line in (run / "history.csv").read_text().strip().splitlines()[1:]]
    assert logged == ["0", "1"], "the second epoch, trained again on resuming, is logged once"
    assert (run / "best.keras").read_bytes() == best_before, "the resumed epoch did not beat the 99 % one"


def test_train_one_epoch_resume_and_export(tmp_path: Path) -> None:
    pytest.importorskip("keras", reason="the training stack is the 'train' extra")
    import dataclasses

    from models import load_classifier
    from models.training.export import export
    from models.training.recipes import all_recipes
    from models.training.train import train

    data_dir = require_shared(FER2013)
    run = tmp_path / "run"
    recipe = dataclasses.replace(all_recipes()["vggbn"], epochs=1, cycle_epochs=(), batch_size=32)
    train(recipe, data_dir, run, limit=320, ferplus_dir=FERPLUS)
    assert json.loads((run / "state.json").read_text()) == {"epochs_done": 1}
    best_before = plant_history(run)
    # Resumes after epoch 1 into a recipe that adds a second cosine cycle (a warm restart).
    model = train(
        dataclasses.replace(recipe, epochs=2, cycle_epochs=(1, 1)), data_dir, run, limit=320, ferplus_dir=FERPLUS
    )
    assert float(model.optimizer.learning_rate) == 0.0  # the end of the second cycle, not the first
    assert_resumed_history(run, best_before)
    assert sorted(p.name for p in (run / "snapshots").iterdir()) == ["epoch-001.keras", "epoch-002.keras"]
    assert not list(run.rglob("tmp-*")), "every file written through a temporary one is renamed into place"

    # Another run continues this one's two epochs with a third cycle on targets mixing the
    # label, FER+ votes and a teacher's mirror-averaged predictions (here the run's own last epoch),
    # computing in bfloat16.
    from models.training.runfolder import epochs_done
    from models.training.train import continue_run

    continued = tmp_path / "continued"
    continue_run(run, continued)
    assert epochs_done(continued) == 2
    teacher = run / "checkpoint.keras"
    train(
        dataclasses.replace(
            recipe,
            epochs=3,
            cycle_epochs=(1, 1, 1),
            ferplus_weight=0.5,
            teacher_weight=0.5,
            precision="mixed_bfloat16",
        ),
        data_dir,
        continued,
        limit=320,
        ferplus_dir=FERPLUS,
        teachers=[teacher],
    )
    assert epochs_done(continued) == 3
    assert_trained_in_bfloat16(continued)
    assert epochs_done(run) == 2
    from emostream.modelstore import file_sha256

    recorded = [{"path": str(teacher), "sha256": file_sha256(teacher)}]
    assert json.loads((continued / "run.json").read_text())["teachers"] == recorded
    assert (continued / "teacher.npz").exists()
    with pytest.raises(ValueError, match="no teacher share"):
        train(recipe, data_dir, tmp_path / "ignored", limit=320, ferplus_dir=FERPLUS, teachers=[teacher])

    from models.__main__ import main

    average = ["average", "--run", str(run), "--last", "2", "--limit", "320"]
    main([*average, "--data", str(data_dir), "--ferplus", str(FERPLUS)])
    metadata = export(run, "averaged.keras", tmp_path / "m.onnx", data_dir)
    assert metadata["epochs_trained"] == 2
    assert 0.0 <= metadata["publictest"]["accuracy"] <= 1.0
    assert load_classifier(tmp_path / "m.onnx").predict([]).shape == (0, 7)
    assert metadata["teachers"] == []
    assert export(continued, "checkpoint.keras", tmp_path / "c.onnx", data_dir)["teachers"] == recorded
    assert_exported_in_float32(tmp_path / "c.onnx")

    report = tmp_path / "report"
    main(
        [
            "evaluate",
            "--model",
            str(tmp_path / "m.onnx"),
            "--data",
            str(data_dir),
            "--ferplus",
            str(FERPLUS),
            "--report",
            str(report),
            "--run",
            str(run),
            "--keras",
            str(run / "checkpoint.keras"),
        ]
    )
    written = {p.name for p in report.iterdir()}
    assert written == {
        "metrics.json",
        "confusion_counts.png",
        "confusion_normalised.png",
        "class_distribution.png",
        "best_and_worst_classes.png",
        "training_curves.png",
        "activation_maps.png",
    }
    metrics = json.loads((report / "metrics.json").read_text())
    assert metrics["fer2013"]["count"] == 3589
    assert metrics["fer2013_without_training_duplicates"]["count"] == 3589 - 280
