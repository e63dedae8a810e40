"""Export a trained Keras model to the serving artifact: ONNX plus a metadata file.

    python -m models export --run runs/vggbn [--checkpoint averaged.keras] [--out models/artifacts/emotion.onnx]
                            [--tta flip] [--no-int8]

Also writes the int8 variant that workers serve (``emotion-int8.onnx``, see
``models/training/quantize.py``) unless ``--no-int8``; it is refused if it loses more than
half a point of PublicTest accuracy.

``--tta flip`` exports a graph that averages the predictions for each face and its
mirror image (test-time augmentation: twice the compute, decided by measurement).

The exported file is evaluated on PublicTest through the same ``load_classifier``
path the workers use, and those figures go into the metadata.
"""

import argparse
import json
import logging
import subprocess
import time
from pathlib import Path
from typing import Any

import numpy as np

from emostream.labels import EMOTIONS
from emostream.modelstore import file_sha256
from emostream.preprocess import FACE_SIZE_PX
from models.classifier import FP32_MODEL, load_classifier, metadata_path, record_reference
from models.training.architectures import load_float32, multiply_adds, with_flip_averaging
from models.training.data import add_data_argument, load_fer2013
from models.training.metrics import evaluate, headline
from models.training.runfolder import epochs_done

log = logging.getLogger(__name__)


def export(run_dir: Path, checkpoint: str, out: Path, data_dir: Path, tta: str = "none") -> dict[str, Any]:
    model = load_float32(run_dir / checkpoint)
    multiplies = multiply_adds(model)
    if tta == "flip":
        model = with_flip_averaging(model)
        multiplies *= 2
    model(np.zeros((1, FACE_SIZE_PX, FACE_SIZE_PX, 1), dtype=np.float32))  # build before export
    out.parent.mkdir(parents=True, exist_ok=True)
    model.export(str(out), format="onnx", verbose=False)
    run = json.loads((run_dir / "run.json").read_text())
    epochs = epochs_done(run_dir)
    arch = run["recipe"]["arch"]  # not model.name: vggbn-wide builds a model named vggbn
    metadata = {
        "version": f"{arch}-e{epochs}-{file_sha256(out)[:8]}",
        "labels": list(EMOTIONS),
        "input_size": FACE_SIZE_PX,
        "preprocessing": "gray-uint8/255",
        "format": "onnx",
        "architecture": arch,
        "parameters": int(model.count_params()),
        "multiply_adds": multiplies,
        "tta": tta,
        "recipe": run["recipe"],
        "epochs_trained": epochs,
        "checkpoint": checkpoint,
        "training_backend": run["backend"],
        "data_sha256": run["data_sha256"],
        "teachers": run.get("teachers", []),  # distillation's teacher networks, as the run recorded them
        "training_commit": _git_commit(),
        "exported_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    metadata_path(out).write_text(json.dumps(metadata, indent=1) + "\n")
    data = load_fer2013(data_dir)
    probs = load_classifier(out).predict(data.val.x)
    metadata["publictest"] = evaluate(data.val.y, probs).as_dict()
    metadata_path(out).write_text(json.dumps(metadata, indent=1) + "\n")
    return record_reference(out)


def _git_commit() -> str:
    try:
        done = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True, check=True)  # noqa: S607
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return done.stdout.strip()


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--run", type=Path, required=True, help="training run folder")
    parser.add_argument("--checkpoint", default="best.keras")
    parser.add_argument("--out", type=Path, default=FP32_MODEL)
    add_data_argument(parser)
    parser.add_argument("--tta", choices=["none", "flip"], default="none", help="test-time augmentation")
    parser.add_argument("--no-int8", action="store_true", help="skip the int8 variant")


def run(args: argparse.Namespace) -> None:
    metadata = export(args.run, args.checkpoint, args.out, args.data, args.tta)
    print("fp32", headline(metadata["publictest"]))
    if not args.no_int8:
        from models.training.quantize import quantize

        int8 = quantize(args.out, args.out.with_name(f"{args.out.stem}-int8.onnx"), load_fer2013(args.data))
        print("int8", headline(int8["publictest"]))
