"""Face detectors, one module per backend, chosen by name.

YuNet is the default: found where the settings say, in the model cache, or downloaded once
(``emostream.modelstore``). If it cannot be had and the user did not ask for it by name, the
worker falls back to Haar with one warning that says how to fix it; every result and summary
names the detector that produced it.
"""

import logging

from emostream import keys
from emostream.modelstore import ModelStore, yunet_or_fallback
from emostream.settings import WorkerSettings
from worker.detectors.base import Detection, FaceDetector
from worker.detectors.haar import HaarDetector
from worker.detectors.yunet import YuNetDetector

__all__ = ["Detection", "FaceDetector", "HaarDetector", "YuNetDetector", "create_detector"]

log = logging.getLogger(__name__)


def create_detector(settings: WorkerSettings) -> FaceDetector:
    path, warning = yunet_or_fallback(settings)
    if path is None:
        if warning:
            log.warning("%s", warning)
        return HaarDetector(settings.detect_max_side_px or keys.HAAR_MAX_SIDE_PX)
    cache = ModelStore.default(settings.model_dir).folder
    return YuNetDetector(path, settings.detect_max_side_px, settings.detect_min_face_px, settings.threads, cache)
