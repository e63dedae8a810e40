"""Static int8 quantization of the exported ONNX model (ONNX Runtime, QDQ, per-channel weights).

    python -m models quantize [--fp32 models/artifacts/emotion.onnx] [--out PATH] [--data DIR]

Weights stay within +-64 (``reduce_range``, about 7 of their 8 bits). On x86 CPUs without
VNNI (AVX2 only) ONNX Runtime multiplies uint8 activations by int8 weights with VPMADDUBSW,
which saturates the sum of each pair at 16 bits when weights span the full +-127: the
artifact quantized that way on an AVX-512 VNNI machine (69.30 %) scored 51.88 % on
PublicTest on an AVX2 AMD EPYC, silently. Within +-64 a pair sums to at most
255 x 64 x 2 = 32,640, so every CPU computes the same integers.

Calibration uses Training images only (never PublicTest). The int8 artifact is
written only if its PublicTest accuracy is within ``MAX_ACCURACY_DROP`` of the fp32
model's, measured through ``load_classifier`` like everything else; otherwise it is
refused with both figures.
"""

import argparse
import json
import logging
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from emostream.errors import ModelError
from emostream.modelstore import file_sha256
from emostream.preprocess import prepare_faces
from models.classifier import DEFAULT_MODEL, FP32_MODEL, load_classifier, metadata_path, record_reference
from models.training.data import Fer2013, add_data_argument, load_fer2013
from models.training.metrics import evaluate, headline

log = logging.getLogger(__name__)

MAX_ACCURACY_DROP = 0.005  # half a point of PublicTest accuracy
CALIBRATION_IMAGES = 1000
CALIBRATION_BATCH = 50


def quantize(fp32: Path, out: Path, data: Fer2013, seed: int = 0) -> dict[str, Any]:
    """Write ``out`` (int8) and its metadata next to it; returns the metadata."""
    rng = np.random.default_rng(seed)
    rows = rng.choice(len(data.train), size=min(CALIBRATION_IMAGES, len(data.train)), replace=False)
    quantize_graph(fp32, out, prepare_faces(data.train.x[rows], load_classifier(fp32).input_size))
    fp32_meta = json.loads(metadata_path(fp32).read_text())
    metadata = {
        **{key: value for key, value in fp32_meta.items() if key != "reference"},  # the fp32 network's, not ours
        # Its own hash too: results name the model that made them, and a quantization
        # with other settings is another model (the fp32 part names the network).
        "version": f"{fp32_meta['version']}-int8-{file_sha256(out)[:8]}",
        "quantization": {
            "method": "onnxruntime static QDQ, per-channel int8 weights within +-64 (reduce_range), uint8 activations",
            "calibration": f"{len(rows)} Training images (seed {seed})",
            "fp32_model": fp32.name,
            "fp32_publictest_accuracy": fp32_meta["publictest"]["accuracy"],
        },
    }
    metadata_path(out).write_text(json.dumps(metadata, indent=1) + "\n")
    result = evaluate(data.val.y, load_classifier(out).predict(data.val.x))
    metadata["publictest"] = result.as_dict()
    drop = fp32_meta["publictest"]["accuracy"] - result.accuracy
    if drop > MAX_ACCURACY_DROP:
        out.unlink()
        metadata_path(out).unlink()
        raise ModelError(
            f"int8 PublicTest accuracy {result.accuracy:.4f} is {drop * 100:.2f} points below fp32 "
            f"({fp32_meta['publictest']['accuracy']:.4f}); not written"
        )
    metadata_path(out).write_text(json.dumps(metadata, indent=1) + "\n")
    metadata = record_reference(out)
    log.info("int8: PublicTest accuracy %.4f (fp32 %.4f)", result.accuracy, fp32_meta["publictest"]["accuracy"])
    return metadata


def quantize_graph(fp32: Path, out: Path, calibration: npt.NDArray[np.float32]) -> None:
    """The served int8 form of an fp32 graph: QDQ, per-channel int8 weights within +-64, uint8
    activations calibrated on ``calibration`` (faces as ``prepare_faces`` makes them), softmax float."""
    from onnxruntime.quantization import CalibrationDataReader, QuantFormat, QuantType, quantize_static
    from onnxruntime.quantization.shape_inference import quant_pre_process

    input_name = _input_name(fp32)

    class Batches(CalibrationDataReader):  # type: ignore[misc]
        def __init__(self, images: npt.NDArray[np.float32]) -> None:
            self._batches = iter(
                [{input_name: images[i : i + CALIBRATION_BATCH]} for i in range(0, len(images), CALIBRATION_BATCH)]
            )

        def get_next(self) -> dict[str, npt.NDArray[np.float32]] | None:
            return next(self._batches, None)

    with tempfile.TemporaryDirectory() as tmp:
        prepared = Path(tmp) / "prepared.onnx"
        quant_pre_process(str(fp32), str(prepared), skip_symbolic_shape=True)
        quantize_static(
            str(prepared), str(out), Batches(calibration), quant_format=QuantFormat.QDQ, per_channel=True,
            activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8, reduce_range=True,
            nodes_to_exclude=_softmax_nodes(prepared),
        )  # fmt: skip


def _softmax_nodes(model: Path) -> list[str]:
    """The output softmax stays float: quantized to 1/255 steps, probabilities would not sum to 1."""
    import onnx

    return [node.name for node in onnx.load(str(model)).graph.node if node.op_type == "Softmax"]


def _input_name(model: Path) -> str:
    import onnxruntime as ort

    return str(ort.InferenceSession(str(model), providers=["CPUExecutionProvider"]).get_inputs()[0].name)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--fp32", type=Path, default=FP32_MODEL)
    parser.add_argument("--out", type=Path, default=DEFAULT_MODEL)
    add_data_argument(parser)


def run(args: argparse.Namespace) -> None:
    metadata = quantize(args.fp32, args.out, load_fer2013(args.data))
    print("int8", headline(metadata["publictest"]))
