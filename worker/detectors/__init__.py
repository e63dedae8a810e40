"""Face detectors, one module per backend, chosen by name."""

from emostream.errors import ConfigError
from emostream.settings import WorkerSettings
from worker.detectors.base import Detection, FaceDetector
from worker.detectors.haar import HaarDetector
from worker.detectors.yunet import YuNetDetector

__all__ = ["Detection", "FaceDetector", "create_detector"]


def create_detector(settings: WorkerSettings) -> FaceDetector:
    """YuNet when asked for, or when its model is configured (faster and finds more faces); else Haar."""
    detector = settings.detector or ("yunet" if settings.yunet_model is not None else "haar")
    if detector == "haar":
        return HaarDetector(settings.detect_max_side_px)
    if settings.yunet_model is None:
        raise ConfigError("the yunet detector needs --yunet-model PATH (see README: Face detectors)")
    return YuNetDetector(settings.yunet_model, settings.detect_max_side_px)
