"""Serving: the exported emotion model on ONNX Runtime (no training stack needed).

The artifact's metadata repeats the label order and input size; loading checks
they agree with this build, so a model trained with another label order can never
be served silently.
"""

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from emostream.errors import ModelError
from emostream.labels import EMOTIONS, NUM_EMOTIONS
from emostream.preprocess import prepare_faces
from models.calibration import apply_temperature

ARTIFACT_DIR = Path(__file__).resolve().parent / "artifacts"
FP32_MODEL = ARTIFACT_DIR / "emotion.onnx"  # the exported network
DEFAULT_MODEL = ARTIFACT_DIR / "emotion-int8.onnx"  # what workers serve: within 0.5 points of fp32, 2x faster
# Issue 3: what serving one face may cost, in multiply-adds, all networks and views together.
BUDGET_MULTIPLY_ADDS = 150_000_000
# ONNX Runtime holds every layer's activations for all faces of one call: scoring all of
# Training in one call took 24 GB for vggbn-wide, so large inputs run in chunks.
SESSION_BATCH = 256


def metadata_path(model_path: Path) -> Path:
    return model_path.with_suffix(".json")


class EmotionClassifier:
    """``predict`` takes uint8 grayscale crops (N, H, W) and returns probabilities (N, 7)."""

    def __init__(self, model_path: Path, threads: int = 2) -> None:
        self.metadata = _load_metadata(model_path)
        self.input_size = int(self.metadata["input_size"])
        self.version = str(self.metadata["version"])
        # Temperature scaling chosen by models.calibrate; 1 leaves the network's probabilities as they are.
        self.temperature = float(self.metadata.get("temperature", 1.0))
        self._session = _session(model_path, threads)
        self._input_name = self._session.get_inputs()[0].name

    def predict(self, faces: npt.NDArray[np.uint8] | Sequence[npt.NDArray[np.uint8]]) -> npt.NDArray[np.float32]:
        return apply_temperature(self.predict_uncalibrated(faces), self.temperature)

    def predict_uncalibrated(
        self, faces: npt.NDArray[np.uint8] | Sequence[npt.NDArray[np.uint8]]
    ) -> npt.NDArray[np.float32]:
        """The network's own probabilities, before the metadata's temperature (for fitting one)."""
        batch = prepare_faces(faces, self.input_size)
        chunks = [
            self._session.run(None, {self._input_name: batch[start : start + SESSION_BATCH]})[0]
            for start in range(0, len(batch), SESSION_BATCH)
        ]
        if not chunks:
            return np.zeros((0, NUM_EMOTIONS), dtype=np.float32)
        return np.concatenate(chunks).astype(np.float32)


def load_classifier(path: Path | None = None, threads: int = 2) -> EmotionClassifier:
    """The committed model, or the artifact at ``path``."""
    return EmotionClassifier(path or DEFAULT_MODEL, threads)


def _load_metadata(model_path: Path) -> dict[str, Any]:
    if not model_path.is_file():
        raise ModelError(f"emotion model not found at {model_path}")
    meta_file = metadata_path(model_path)
    try:
        metadata: dict[str, Any] = json.loads(meta_file.read_text())
    except (OSError, ValueError) as exc:
        raise ModelError(f"cannot read model metadata {meta_file}: {exc}") from exc
    if tuple(metadata.get("labels", ())) != EMOTIONS:
        raise ModelError(f"{meta_file}: labels {metadata.get('labels')} differ from {list(EMOTIONS)}")
    if metadata.get("preprocessing") != "gray-uint8/255":
        raise ModelError(f"{meta_file}: unknown preprocessing {metadata.get('preprocessing')!r}")
    temperature = metadata.get("temperature", 1.0)
    if isinstance(temperature, bool) or not isinstance(temperature, int | float) or not temperature > 0:
        raise ModelError(f"{meta_file}: temperature must be a positive number, got {temperature!r}")
    return metadata


def _session(model_path: Path, threads: int) -> Any:
    import onnxruntime as ort  # imported here: a metadata check should not pay its start-up

    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.log_severity_level = 3
    try:
        return ort.InferenceSession(str(model_path), options, providers=["CPUExecutionProvider"])
    except Exception as exc:  # ORT raises its own untyped errors for damaged files
        raise ModelError(f"cannot load {model_path}: {exc}") from exc
