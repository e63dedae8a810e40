"""Third-party model files the product fetches itself: found locally, or downloaded once, hash checked.

The YuNet face detector (OpenCV Zoo's ``face_detection_yunet_2023mar.onnx``) is not in any wheel
and is never committed. A worker looks for it in this order: the path it was given
(``--yunet-model`` / ``EMO_WORKER_YUNET_MODEL``); the model cache ``EMO_MODEL_DIR`` (default: the
user's cache directory, ``~/.cache/emostream`` on Linux); and if it is not there, it downloads it
once into that cache from its public address with ``pooch``, which checks the pinned SHA-256.
``emostream models fetch`` does the same ahead of time (the Docker image runs it at build time).

The file declares a fixed 640x640 input; workers run it at each frame's size on ONNX Runtime, from
a copy with the input size left free, derived once into the same cache (``any_size_copy``).
"""

import contextlib
import hashlib
import logging
import os
from dataclasses import dataclass
from pathlib import Path

import platformdirs

from emostream.errors import ConfigError
from emostream.settings import WorkerSettings

log = logging.getLogger(__name__)

YUNET_FILE = "face_detection_yunet_2023mar.onnx"
YUNET_SHA256 = "8f2383e4dd3cfbb4553ea8718107fc0423210dc964f9f4280604804ed2552fa4"
YUNET_URL = f"https://github.com/opencv/opencv_zoo/raw/main/models/face_detection_yunet/{YUNET_FILE}"
DOWNLOAD_TIMEOUT_S = 30  # a 228 KB file; an unreachable network fails far sooner (DNS)


@dataclass(frozen=True)
class ModelStore:
    folder: Path
    yunet_url: str = YUNET_URL

    @classmethod
    def default(cls, folder: Path | None = None, yunet_url: str | None = None) -> "ModelStore":
        return cls(folder or Path(platformdirs.user_cache_dir("emostream")), yunet_url or YUNET_URL)

    @property
    def yunet_path(self) -> Path:
        return self.folder / YUNET_FILE

    def fetch_yunet(self) -> Path:
        """The cached file, downloaded first if needed; ConfigError (with the reason) if it cannot be had."""
        import pooch  # imported here: a worker given its model file never needs it

        pooch.get_logger().setLevel(logging.WARNING)  # our own line says what is downloaded, once
        self.folder.mkdir(parents=True, exist_ok=True)
        try:
            fetched = pooch.retrieve(
                self.yunet_url, known_hash=f"sha256:{YUNET_SHA256}", fname=YUNET_FILE, path=self.folder,
                downloader=pooch.HTTPDownloader(timeout=DOWNLOAD_TIMEOUT_S, progressbar=False), progressbar=False,
            )  # fmt: skip
        except Exception as exc:  # requests' and pooch's own errors: network, HTTP status, hash mismatch
            raise ConfigError(f"cannot download the YuNet model from {self.yunet_url} ({_reason(exc)})") from exc
        return Path(fetched)


def file_sha256(path: Path) -> str:
    """Hash of a file's bytes: pins third-party models, and identifies our artifacts in their metadata."""
    with path.open("rb") as fh:
        return hashlib.file_digest(fh, "sha256").hexdigest()


def any_size_copy(model: Path, name: str, folder: Path | None = None, refresh: bool = False) -> Path | bytes:
    """``model`` with its input's batch, height and width left free: ``NAME-any-size.onnx`` in the model
    cache, derived once (``onnx`` is imported only then: about a second). Where the cache cannot be
    written, the copy is returned in memory and derived again by the next process, with a warning."""
    folder = folder or ModelStore.default().folder
    target = folder / f"{name}-any-size.onnx"
    if target.is_file() and not refresh:
        return target
    derived = free_input_size(model.read_bytes())
    partial = target.with_name(f".{target.name}.{os.getpid()}")
    try:
        folder.mkdir(parents=True, exist_ok=True)
        partial.write_bytes(derived)
        partial.replace(target)  # atomic: workers starting together each write the same bytes
    except OSError as exc:
        with contextlib.suppress(OSError):  # a full disk leaves no half-written file behind
            partial.unlink(missing_ok=True)
        log.warning("cannot keep %s in %s (%s): each worker derives it again at start", target.name, folder, exc)
        return derived
    return target


def free_input_size(model_bytes: bytes) -> bytes:
    """The ONNX model with every input dimension but channels named instead of fixed, and the
    output and intermediate shapes (inferred for the fixed size) left for the runtime to infer."""
    import onnx  # a second of import: only when deriving, never at an ordinary start

    model = onnx.load_from_string(model_bytes)
    for value in model.graph.input:
        dims = value.type.tensor_type.shape.dim
        for index, name in ((0, "batch"), (2, "height"), (3, "width")):
            if index < len(dims):
                dims[index].dim_param = name
    for value in model.graph.output:
        value.type.tensor_type.ClearField("shape")
    del model.graph.value_info[:]
    data: bytes = model.SerializeToString()
    return data


def find_yunet(given: Path | None, store: ModelStore, download: bool = True) -> Path:
    """The YuNet file to use: the one given, else the cached one, else downloaded into the cache."""
    if given is not None:
        return given
    if store.yunet_path.is_file() or not download:
        if not store.yunet_path.is_file():
            raise ConfigError(f"no YuNet model in {store.folder}")
        return store.yunet_path
    log.info("YuNet model not in %s: downloading it once from %s", store.folder, store.yunet_url)
    return store.fetch_yunet()


def yunet_or_fallback(settings: WorkerSettings) -> tuple[Path | None, str]:
    """The YuNet file the settings lead to; or None, with the warning that says why Haar is used
    and how to fix it. Asking for YuNet by name makes a missing model an error instead."""
    if settings.detector == "haar":
        return None, ""
    store = ModelStore.default(settings.model_dir, settings.yunet_url)
    try:
        return find_yunet(settings.yunet_model, store), ""
    except ConfigError as exc:
        if settings.detector == "yunet":
            raise ConfigError(f"{exc}; run `emostream models fetch`, or pass --yunet-model PATH") from exc
        return None, (
            f"{exc}. Using the Haar face detector instead (several times slower, and it finds faces that are "
            f"not there); run `emostream models fetch` with network access, put {YUNET_FILE} in {store.folder} "
            "(EMO_MODEL_DIR), or pass --yunet-model PATH"
        )


def _reason(exc: BaseException) -> str:
    """A short reason: requests' own messages run to several hundred characters."""
    import requests

    if isinstance(exc, requests.ConnectionError):
        return "no network connection to its host"
    if isinstance(exc, requests.HTTPError) and exc.response is not None:
        return f"HTTP {exc.response.status_code}"
    if isinstance(exc, requests.Timeout):
        return f"no answer within {DOWNLOAD_TIMEOUT_S} s"
    if "hash" in str(exc).lower():
        return "the file's SHA-256 is not the pinned one; it was not kept"
    text = str(exc).strip().splitlines()
    return text[0][:200] if text else type(exc).__name__
