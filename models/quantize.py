"""Static int8 quantization of the exported ONNX model (ONNX Runtime, QDQ, per-channel weights).

Calibration uses Training images only (never PublicTest). The int8 artifact is
written only if its PublicTest accuracy is within ``MAX_ACCURACY_DROP`` of the fp32
model's, measured through ``load_classifier`` like everything else; otherwise it is
refused with both figures.
"""

import json
import logging
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from emostream.errors import ModelError
from emostream.preprocess import prepare_faces
from models.classifier import load_classifier, metadata_path
from models.data import Fer2013
from models.metrics import evaluate

log = logging.getLogger(__name__)

MAX_ACCURACY_DROP = 0.005  # half a point of PublicTest accuracy
CALIBRATION_IMAGES = 1000
CALIBRATION_BATCH = 50


def quantize(fp32: Path, out: Path, data: Fer2013, seed: int = 0) -> dict[str, Any]:
    """Write ``out`` (int8) and its metadata next to it; returns the metadata."""
    from onnxruntime.quantization import CalibrationDataReader, QuantFormat, QuantType, quantize_static
    from onnxruntime.quantization.shape_inference import quant_pre_process

    rng = np.random.default_rng(seed)
    rows = rng.choice(len(data.train), size=min(CALIBRATION_IMAGES, len(data.train)), replace=False)
    calibration = prepare_faces(data.train.x[rows], load_classifier(fp32).input_size)
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
            activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8,
            nodes_to_exclude=_softmax_nodes(prepared),
        )  # fmt: skip
    fp32_meta = json.loads(metadata_path(fp32).read_text())
    metadata = {
        **fp32_meta,
        "version": fp32_meta["version"] + "-int8",
        "quantization": {
            "method": "onnxruntime static QDQ, per-channel int8 weights, uint8 activations",
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
    log.info("int8: PublicTest accuracy %.4f (fp32 %.4f)", result.accuracy, fp32_meta["publictest"]["accuracy"])
    return metadata


def _softmax_nodes(model: Path) -> list[str]:
    """The output softmax stays float: quantized to 1/255 steps, probabilities would not sum to 1."""
    import onnx

    return [node.name for node in onnx.load(str(model)).graph.node if node.op_type == "Softmax"]


def _input_name(model: Path) -> str:
    import onnxruntime as ort

    return str(ort.InferenceSession(str(model), providers=["CPUExecutionProvider"]).get_inputs()[0].name)
