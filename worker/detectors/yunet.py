"""YuNet face detection on ONNX Runtime: the 2023mar model, at each frame's own size.

The model file is OpenCV Zoo's ``face_detection_yunet_2023mar.onnx`` (found, or fetched with its
SHA-256 checked, by ``emostream.modelstore``). OpenCV's ``cv2.FaceDetectorYN`` runs the same file
with its DNN module; ONNX Runtime runs it 2.3 to 2.7 times faster on one core (``bench/detector.py``),
so the worker runs it there and does what ``FaceDetectorYN`` does around the network itself: pad
the frame to a multiple of 32, decode the three strides' outputs, non-maximum suppression. The
boxes agree with ``FaceDetectorYN``'s (``tests/worker/detectors/test_yunet.py``).

The file declares a fixed 640x640 input, which ONNX Runtime enforces; a copy with the input's size
left free is derived once into the model cache (``emostream.modelstore.any_size_copy``).
"""

from pathlib import Path

import cv2
import numpy as np
import numpy.typing as npt
import onnxruntime as ort

from emostream.cpus import session_options
from emostream.errors import ConfigError
from emostream.modelstore import YUNET_SHA256, any_size_copy, file_sha256
from emostream.preprocess import downscale
from worker.detectors.base import Detection, clip_box

KNOWN_SHA256 = {YUNET_SHA256: "yunet-2023mar"}  # OpenCV Zoo face_detection_yunet_2023mar.onnx, pinned once
# Other YuNet files, recognised so the error says what they are rather than "not a known model".
OTHER_SHA256 = {
    # libfacedetection.train yunet_n with a dynamic input size
    "104ee26c71d5c270ce79a6b3dced91c91013260d29a6bf18f9296c5b8c4c2b12": "the yunet_n variant "
    "with a dynamic input size, not the 2023mar model emostream is tested with",
}
# The smallest face YuNet finds for sure, in pixels of its input (tests/worker/test_batch.py: 12 px
# faces are missed, 14 to 15 px ones found).
SMALLEST_FACE_PX = 15
# A coarse detection (as every detection was until 2026-12-07) shrinks frames to at most this:
# where it finds what the full one does, the batch uses it (worker.batch). A 1080p talking head
# detected at 800x450 cost 13 % more than at 640x360, for the same faces (docs/measurements.md).
COARSE_SIDE_PX = 640
SCORE_THRESHOLD = 0.7
NMS_THRESHOLD = 0.3
# Candidates NMS considers, best first, as FaceDetectorYN's default. Each face has several anchors
# above the threshold, so 50 (as here until 2026-12-06) kept 9 of 18 faces on a crowded frame.
CANDIDATES_TOP_K = 5000
STRIDES = (8, 16, 32)  # the network's three output scales; its input must be a multiple of the largest
# The square that frames a face as FER2013 does, per YuNet box width: FER2013's squares are 1.17 to
# 1.26 box widths (0.91 to 0.99 box heights) about the box's centre, medians over the training faces
# YuNet finds at 48, 96 and 192 px. Cut so, PublicTest's faces score 68.4 % as YuNet finds them at
# 192 px, against 65.2 % with the box squeezed square as before (python -m models framing; docs/model/results.md).
FRAMING = 1.23


class YuNetDetector:
    framing = FRAMING

    def __init__(
        self,
        model_path: Path,
        max_side_px: int | None = None,
        min_face_px: int = 0,
        threads: int = 1,
        cache: Path | None = None,
    ) -> None:
        if not model_path.is_file():
            raise ConfigError(f"YuNet model not found at {model_path}")
        digest = file_sha256(model_path)
        if digest in OTHER_SHA256:
            raise ConfigError(f"{model_path} is {OTHER_SHA256[digest]}; use face_detection_yunet_2023mar.onnx")
        if digest not in KNOWN_SHA256:
            raise ConfigError(f"{model_path} has SHA-256 {digest}, not a known YuNet model")
        self.name = KNOWN_SHA256[digest]
        self.max_side_px = max_side_px
        # Detection cost grows with the pixels it sees: shrink a frame as far as keeps a face of
        # min_face_px frame pixels at SMALLEST_FACE_PX (and within max_side_px where one is set).
        # Crops stay full size. Capped at 640 px as until 2026-12-07, a 1280x720 frame lost its
        # faces under 30 px: on the stage clip tiled to 1080p, half of the faces the clip's own
        # size gives (bench/small_faces.py).
        self.min_scale = SMALLEST_FACE_PX / min_face_px if min_face_px > SMALLEST_FACE_PX else 1.0
        # The network alone, as ONNX Runtime runs it (bench/detector.py times it without the rest).
        self.network = _session(model_path, f"{self.name}-{digest[:12]}", threads, cache)
        self._input = self.network.get_inputs()[0].name
        self._outputs = [output.name for output in self.network.get_outputs()]
        self.input_size = (0, 0)  # width, height of the last frame the network saw, before padding
        self._blob = InputBlob()

    def detect(self, image_bgr: npt.NDArray[np.uint8], coarse: bool = False) -> list[Detection]:
        if image_bgr.ndim == 2:
            image_bgr = cv2.cvtColor(image_bgr, cv2.COLOR_GRAY2BGR)  # type: ignore[assignment]
        height, width = image_bgr.shape[:2]
        small, scale = self.shrink(image_bgr, coarse)
        self.input_size = (small.shape[1], small.shape[0])
        outputs = self.network.run(None, {self._input: self._blob.fill(small)})
        boxes, scores = decode(dict(zip(self._outputs, outputs, strict=True)), _padded(small.shape[1]))
        found = []
        for i in cv2.dnn.NMSBoxes(boxes, scores, SCORE_THRESHOLD, NMS_THRESHOLD, top_k=CANDIDATES_TOP_K):
            clipped = clip_box(tuple(boxes[i]), scale, width, height)  # type: ignore[arg-type]
            if clipped is not None:
                found.append(Detection(clipped, round(float(scores[i]), 4)))
        return found

    def shrink(self, image: npt.NDArray[np.uint8], coarse: bool = False) -> tuple[npt.NDArray[np.uint8], float]:
        """The frame as the network sees it, before padding, and the factor back to full size."""
        return downscale(image, self.side_for(image.shape[0], image.shape[1], coarse))

    def side_for(self, height: int, width: int, coarse: bool = False) -> int:
        """The longest side a frame of this size is shrunk to (or kept at, where it is smaller)."""
        side = round(max(height, width) * self.min_scale)
        side = min(side, COARSE_SIDE_PX) if coarse else side
        return side if self.max_side_px is None else min(self.max_side_px, side)

    def has_coarse_scale(self, height: int, width: int) -> bool:
        return self.side_for(height, width, coarse=True) < self.side_for(height, width)  # over 1,024 px


def decode(outputs: dict[str, npt.NDArray[np.float32]], padded_width: int) -> tuple[list[list[float]], list[float]]:
    """Boxes (x, y, w, h in input pixels) and scores of every anchor at or above the threshold,
    as ``FaceDetectorYN`` decodes them: score sqrt(cls * obj), centre offset and log size per stride."""
    boxes: list[npt.NDArray[np.float32]] = []
    scores: list[npt.NDArray[np.float32]] = []
    for stride in STRIDES:
        cls = np.clip(outputs[f"cls_{stride}"].reshape(-1), 0, 1)
        obj = np.clip(outputs[f"obj_{stride}"].reshape(-1), 0, 1)
        score = np.sqrt(cls * obj)
        (kept,) = np.nonzero(score >= SCORE_THRESHOLD)
        if not kept.size:
            continue
        delta = outputs[f"bbox_{stride}"].reshape(-1, 4)[kept]
        cols = padded_width // stride
        centre_x = (kept % cols + delta[:, 0]) * stride
        centre_y = (kept // cols + delta[:, 1]) * stride
        size_w, size_h = np.exp(delta[:, 2]) * stride, np.exp(delta[:, 3]) * stride
        boxes.append(np.stack([centre_x - size_w / 2, centre_y - size_h / 2, size_w, size_h], axis=1))
        scores.append(score[kept])
    if not boxes:
        return [], []
    return np.concatenate(boxes).tolist(), np.concatenate(scores).tolist()


def _padded(side: int) -> int:
    return -(-side // STRIDES[-1]) * STRIDES[-1]


class InputBlob:
    """The network's input, NCHW float32, BGR as it is, padded with black at the right and bottom
    (as FaceDetectorYN does). One buffer is kept while frames keep their size, and filled plane by
    plane: at the stage clip's 400x225, 0.28 ms instead of 0.49 for a fresh buffer filled through a
    transposed view; a whole detection, 2.25 -> 2.1 ms. A new size gets a new buffer, so no pixel of
    a larger earlier frame stays in the padding."""

    def __init__(self) -> None:
        self._size = (0, 0)
        self._buffer: npt.NDArray[np.float32] = np.zeros((1, 3, 0, 0), np.float32)

    def fill(self, image: npt.NDArray[np.uint8]) -> npt.NDArray[np.float32]:
        height, width = image.shape[:2]
        if self._size != (height, width):  # a new size: new padding, so a fresh (zeroed) buffer
            self._buffer = np.zeros((1, 3, _padded(height), _padded(width)), np.float32)
            self._size = (height, width)
        for channel, plane in enumerate(cv2.split(image)):
            self._buffer[0, channel, :height, :width] = plane
        return self._buffer


def _session(model_path: Path, copy_name: str, threads: int, cache: Path | None) -> ort.InferenceSession:
    options = session_options(threads)
    error: Exception | None = None
    for refresh in (False, True):  # a cached copy that does not load (damaged on disk) is derived again
        try:
            model = any_size_copy(model_path, copy_name, cache, refresh)
            source = model if isinstance(model, bytes) else str(model)
            return ort.InferenceSession(source, options, providers=["CPUExecutionProvider"])
        except Exception as exc:  # onnx's and ONNX Runtime's own errors: a damaged or foreign file
            error = exc
    first_line = (str(error).strip().splitlines() or [type(error).__name__])[0]
    raise ConfigError(f"ONNX Runtime cannot load {model_path}: {first_line[:300]}") from error
