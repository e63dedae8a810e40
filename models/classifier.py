"""Serving: the exported emotion model on ONNX Runtime (no training stack needed).

The artifact's metadata repeats the label order and input size; loading checks
they agree with this build, so a model trained with another label order can never
be served silently. It also records the network's probabilities on a few synthetic
faces when it is written (``reference``); loading computes them again and refuses an
artifact that this runtime and CPU compute differently, rather than serve wrong emotions.
"""

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from emostream.cpus import session_options
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
# The reference check. An int8 artifact with weights up to +-127 scored 51.88 % instead of 69.30 %
# on an AVX2 CPU without VNNI (models/training/quantize.py), with no error. There, on these smooth synthetic
# faces, its probabilities were up to 0.34 away from the re-quantized artifact's (0.19 to 0.37 over
# four seeds of such faces), while one artifact computed twice differs by nothing and an int8
# artifact from its fp32 network by 0.02.
REFERENCE_FACES = 8
REFERENCE_SEED = 0
REFERENCE_TOLERANCE = 0.05


def metadata_path(model_path: Path) -> Path:
    return model_path.with_suffix(".json")


class EmotionClassifier:
    """``predict`` takes uint8 grayscale crops (N, H, W) and returns probabilities (N, 7)."""

    def __init__(self, model_path: Path, threads: int = 2) -> None:
        self.metadata = _load_metadata(model_path)
        self.input_size = int(self.metadata["input_size"])
        self.version = str(self.metadata["version"])
        # Temperature scaling chosen by models.training.calibrate; 1 leaves the network's probabilities as they are.
        self.temperature = float(self.metadata.get("temperature", 1.0))
        self._session = _session(model_path, threads)
        self._input_name = self._session.get_inputs()[0].name
        self._check_reference(model_path)

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

    def reference(self) -> dict[str, Any]:
        """This network's probabilities on the reference faces, as ``record_reference`` writes them."""
        import onnxruntime as ort

        probabilities = self._reference_probabilities()
        return {
            "faces": f"{REFERENCE_FACES} synthetic faces, models.classifier.reference_faces (seed {REFERENCE_SEED})",
            "onnxruntime": ort.__version__,
            "probabilities": [[round(float(p), 6) for p in row] for row in probabilities],
        }

    def _reference_probabilities(self) -> npt.NDArray[np.float32]:
        return self.predict_uncalibrated(reference_faces(self.input_size))

    def _check_reference(self, model_path: Path) -> None:
        recorded = self.metadata.get("reference")
        if recorded is None:  # written before the check existed; nothing to compare with
            return
        expected = np.asarray(recorded["probabilities"], dtype=np.float32)
        measured = self._reference_probabilities()
        gap = float(np.abs(measured - expected).max()) if measured.shape == expected.shape else float("inf")
        if gap > REFERENCE_TOLERANCE:
            import onnxruntime as ort

            remedy = (
                "quantize it again on this machine (python -m models quantize) or serve the fp32 artifact it came from"
                if "quantization" in self.metadata
                else "try the onnxruntime it was written with"
            )
            raise ModelError(
                f"{model_path} computes other probabilities on this machine than when it was written "
                f"(up to {gap:.3f} apart on its reference faces, tolerance {REFERENCE_TOLERANCE}; onnxruntime "
                f"{ort.__version__} here, {recorded.get('onnxruntime', 'unknown')} then); refusing to serve "
                f"wrong emotions: {remedy}"
            )


def reference_faces(size_px: int) -> npt.NDArray[np.uint8]:
    """Smooth synthetic faces, the same on every machine: a few Gaussian blobs each, light and dark.

    Smooth rather than noise, because convolutions trained on faces respond to smooth shapes: under
    the int8 fault described above ``REFERENCE_FACES``, random noise moved the probabilities by
    only 0.04 and these faces by 0.34.
    """
    rng = np.random.default_rng(REFERENCE_SEED)
    rows, cols = np.mgrid[0:size_px, 0:size_px]
    faces = np.full((REFERENCE_FACES, size_px, size_px), 128.0)
    for index in range(REFERENCE_FACES):
        for _ in range(6):
            row, col = rng.uniform(0, size_px, 2)
            width, strength = rng.uniform(4, 14) * size_px / 48, rng.uniform(-120, 120)
            faces[index] += strength * np.exp(-((rows - row) ** 2 + (cols - col) ** 2) / (2 * width**2))
    rounded: npt.NDArray[np.uint8] = np.clip(faces, 0, 255).round().astype(np.uint8)
    return rounded


def record_reference(model_path: Path) -> dict[str, Any]:
    """Write the artifact's probabilities on the reference faces into its metadata; returns the metadata."""
    meta_file = metadata_path(model_path)
    metadata: dict[str, Any] = json.loads(meta_file.read_text())
    metadata.pop("reference", None)  # a metadata copied from another artifact carries that one's
    meta_file.write_text(json.dumps(metadata, indent=1) + "\n")
    metadata["reference"] = load_classifier(model_path).reference()
    meta_file.write_text(json.dumps(metadata, indent=1) + "\n")
    return metadata


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

    options = session_options(threads)
    options.log_severity_level = 3
    try:
        return ort.InferenceSession(str(model_path), options, providers=["CPUExecutionProvider"])
    except Exception as exc:  # ORT raises its own untyped errors for damaged files
        raise ModelError(f"cannot load {model_path}: {exc}") from exc
