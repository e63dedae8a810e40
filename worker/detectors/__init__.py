"""Face detectors, one module per backend, chosen by name.

YuNet is the default: found where the settings say, in the model cache, or downloaded once
(``emostream.modelstore``). If it cannot be had and the user did not ask for it by name, the
worker falls back to Haar with one warning that says how to fix it; every result and summary
names the detector that produced it.
"""

import logging

from emostream.errors import ConfigError
from emostream.modelstore import YUNET_FILE, ModelStore, find_yunet
from emostream.settings import WorkerSettings
from worker.detectors.base import Detection, FaceDetector
from worker.detectors.haar import HaarDetector
from worker.detectors.yunet import YuNetDetector

__all__ = ["Detection", "FaceDetector", "HaarDetector", "YuNetDetector", "create_detector"]

log = logging.getLogger(__name__)


def create_detector(settings: WorkerSettings) -> FaceDetector:
    if settings.detector == "haar":
        return HaarDetector(settings.detect_max_side_px)
    store = ModelStore.default(settings.model_dir, settings.yunet_url)
    try:
        path = find_yunet(settings.yunet_model, store)
    except ConfigError as exc:
        if settings.detector == "yunet":
            raise ConfigError(f"{exc}; run `emostream models fetch`, or pass --yunet-model PATH") from exc
        log.warning(
            "the YuNet face detector is not available (%s): using Haar instead, which is several times slower "
            "and finds faces that are not there. To fix it, run `emostream models fetch` where the network is "
            "reachable, put %s in %s (EMO_MODEL_DIR), or pass --yunet-model PATH",
            exc, YUNET_FILE, store.folder,
        )  # fmt: skip
        return HaarDetector(settings.detect_max_side_px)
    return YuNetDetector(path, settings.detect_max_side_px)
