"""YuNet face detection via ``cv2.FaceDetectorYN``: faster and finds profile faces.

The model file is not in any wheel: the user downloads it (README) and configures
its path; the SHA-256 is checked so a wrong or damaged file fails at start-up.
"""

import hashlib
from pathlib import Path

import cv2
import numpy as np
import numpy.typing as npt

from emostream.errors import ConfigError
from worker.detectors.base import Detection, clip_box, downscale

KNOWN_SHA256 = {
    # OpenCV Zoo face_detection_yunet_2023mar.onnx
    "8f2383e4dd3cfbb4553ea8718107fc0423210dc964f9f4280604804ed2552fa4": "yunet-2023mar",
}
# YuNet files that OpenCV 4 cannot load, and why: recognised so the error says so, rather than
# "not a known YuNet model" or an OpenCV traceback from the worker.
UNLOADABLE_SHA256 = {
    # libfacedetection.train yunet_n with a dynamic input size: OpenCV's ONNX importer refuses its
    # dynamic Shape node (seen with OpenCV 4.10 and 4.14).
    "104ee26c71d5c270ce79a6b3dced91c91013260d29a6bf18f9296c5b8c4c2b12": "yunet_n with a dynamic input size, "
    "which OpenCV's ONNX importer cannot load",
}
# The smallest face YuNet finds for sure, in pixels of its input (tests/worker/test_batch.py: 12 px
# faces are missed, 14 to 15 px ones found).
SMALLEST_FACE_PX = 15
SCORE_THRESHOLD = 0.7
NMS_THRESHOLD = 0.3
TOP_K = 50


def file_sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


class YuNetDetector:
    def __init__(self, model_path: Path, max_side_px: int, min_face_px: int = 0) -> None:
        if not model_path.is_file():
            raise ConfigError(f"YuNet model not found at {model_path}")
        digest = file_sha256(model_path)
        if digest in UNLOADABLE_SHA256:
            raise ConfigError(f"{model_path} is {UNLOADABLE_SHA256[digest]}; use face_detection_yunet_2023mar.onnx")
        if digest not in KNOWN_SHA256:
            raise ConfigError(f"{model_path} has SHA-256 {digest}, not a known YuNet model")
        self.name = KNOWN_SHA256[digest]
        self.max_side_px = max_side_px
        # Detection cost grows with the pixels it sees: shrink a frame as far as keeps a face of
        # min_face_px source pixels at SMALLEST_FACE_PX, within max_side_px. Crops stay full size.
        self.min_scale = SMALLEST_FACE_PX / min_face_px if min_face_px > SMALLEST_FACE_PX else 1.0
        try:
            self._net = cv2.FaceDetectorYN.create(
                str(model_path), "", (320, 320), SCORE_THRESHOLD, NMS_THRESHOLD, TOP_K
            )
        except cv2.error as exc:  # a known file this OpenCV build cannot load: say so, not a traceback
            first_line = str(exc).strip().splitlines()[0]
            raise ConfigError(f"OpenCV {cv2.__version__} cannot load {model_path}: {first_line}") from exc
        self._size = (320, 320)

    def detect(self, image_bgr: npt.NDArray[np.uint8]) -> list[Detection]:
        if image_bgr.ndim == 2:
            image_bgr = cv2.cvtColor(image_bgr, cv2.COLOR_GRAY2BGR)  # type: ignore[assignment]
        longest = max(image_bgr.shape[:2])
        small, scale = downscale(image_bgr, min(self.max_side_px, round(longest * self.min_scale)))
        size = (small.shape[1], small.shape[0])
        if size != self._size:
            self._net.setInputSize(size)
            self._size = size
        _, rows = self._net.detect(small)
        height, width = image_bgr.shape[:2]
        found = []
        for row in rows if rows is not None else ():
            clipped = clip_box((float(row[0]), float(row[1]), float(row[2]), float(row[3])), scale, width, height)
            if clipped is not None:
                found.append(Detection(clipped, round(float(row[14]), 4)))
        return found
