import json
from pathlib import Path

import cv2
import numpy as np
import numpy.typing as npt
import pytest

from emostream.errors import ConfigError
from emostream.schema import Fields, Frame, FrameMeta, encode_frame
from emostream.settings import WorkerSettings
from models import load_classifier
from models.classifier import EmotionClassifier
from tests.conftest import YUNET, require_shared
from worker.batch import BatchProcessor
from worker.detectors import create_detector
from worker.detectors.haar import HaarDetector

YUNET_DYNAMIC = YUNET.parent / "yunet_n_dynamic.onnx"


class CountingClassifier:
    """The real classifier, counting its calls: inference must be one call per batch."""

    def __init__(self) -> None:
        self.inner = load_classifier()
        self.version = self.inner.version
        self.calls: list[int] = []

    def predict(self, faces: list[npt.NDArray[np.uint8]]) -> npt.NDArray[np.float32]:
        self.calls.append(len(faces))
        return self.inner.predict(faces)


def astronaut_frame() -> npt.NDArray[np.uint8]:
    from emostream.sample import astronaut_image

    return cv2.resize(astronaut_image(), (640, 640))  # type: ignore[return-value]


def entry(image: npt.NDArray[np.uint8] | None, index: int, jpeg: bytes | None = None) -> tuple[bytes, Fields]:
    data = jpeg if jpeg is not None else bytes(cv2.imencode(".jpg", np.asarray(image))[1])
    meta = FrameMeta(
        video_id="v", frame_index=index, t_ms=index * 100, captured_at=1.0, source_kind="file", jpeg_size=len(data)
    )
    return f"{index}-0".encode(), encode_frame(Frame(meta=meta, jpeg=data))


@pytest.fixture
def processor() -> tuple[BatchProcessor, CountingClassifier]:
    classifier = CountingClassifier()
    return BatchProcessor(HaarDetector(640), classifier, "w1"), classifier  # type: ignore[arg-type]


def test_each_frame_yields_one_result_and_all_faces_go_through_one_inference_call(
    processor: tuple[BatchProcessor, CountingClassifier],
) -> None:
    batch, classifier = processor
    face = astronaut_frame()
    blank = np.full((240, 320, 3), 128, dtype=np.uint8)
    outcomes = batch.process([entry(face, 0), entry(blank, 1), entry(face, 2)])
    assert [o.result.frame_index for o in outcomes if o.result] == [0, 1, 2]
    assert classifier.calls == [2]  # both faces, one call
    faces = [len(o.result.faces) for o in outcomes if o.result]
    assert faces == [1, 0, 1]
    first = outcomes[0].result
    assert first is not None
    assert sum(first.faces[0].probs) == pytest.approx(1.0, abs=1e-3)
    x, _, w, _ = first.faces[0].box
    assert 150 < x + w / 2 < 450  # the face is in the upper middle of the portrait
    assert w > 80


def test_garbage_jpeg_becomes_a_failed_result_and_a_dead_letter(
    processor: tuple[BatchProcessor, CountingClassifier],
) -> None:
    batch, _ = processor
    (outcome,) = batch.process([entry(None, 7, jpeg=b"\x00garbage\xff" * 10)])
    assert outcome.result is not None
    assert outcome.result.status == "failed"
    assert outcome.result.frame_index == 7
    assert outcome.dead_reason == "jpeg field cannot be decoded"


def test_entry_without_identity_is_only_a_dead_letter(processor: tuple[BatchProcessor, CountingClassifier]) -> None:
    batch, _ = processor
    (outcome,) = batch.process([(b"1-0", {b"v": b"1", b"meta": b"{oops"})])
    assert outcome.result is None
    assert outcome.dead_reason is not None
    assert "invalid FrameMeta" in outcome.dead_reason


def test_wrong_schema_version_is_a_failure_not_a_crash(processor: tuple[BatchProcessor, CountingClassifier]) -> None:
    batch, _ = processor
    entry_id, fields = entry(np.zeros((10, 10, 3), np.uint8), 4)
    (outcome,) = batch.process([(entry_id, fields | {b"v": b"9"})])
    assert outcome.result is not None
    assert outcome.result.status == "failed"
    assert "schema version" in (outcome.dead_reason or "")


def test_yunet_detector_finds_the_face_and_checks_the_model_hash(tmp_path: Path) -> None:
    model = require_shared(YUNET)
    detector = create_detector(WorkerSettings(detector="yunet", yunet_model=model))
    (found,) = detector.detect(astronaut_frame())
    assert found.score > 0.7
    fake = tmp_path / "yunet.onnx"
    fake.write_bytes(b"not a model")
    with pytest.raises(ConfigError, match="SHA-256"):
        create_detector(WorkerSettings(detector="yunet", yunet_model=fake))


def test_the_dynamic_yunet_n_model_is_refused_with_its_reason() -> None:
    """OpenCV 4 cannot load it (its ONNX importer refuses the dynamic Shape node)."""
    with pytest.raises(ConfigError, match="dynamic input size"):
        create_detector(WorkerSettings(detector="yunet", yunet_model=require_shared(YUNET_DYNAMIC)))


def test_a_known_yunet_file_that_opencv_cannot_load_is_a_config_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from worker.detectors import yunet

    damaged = tmp_path / "yunet.onnx"
    damaged.write_bytes(b"\x08\x07 not an onnx graph")
    monkeypatch.setitem(yunet.KNOWN_SHA256, yunet.file_sha256(damaged), "test-entry")
    with pytest.raises(ConfigError, match="cannot load"):
        create_detector(WorkerSettings(detector="yunet", yunet_model=damaged))


def test_the_detector_follows_the_configured_model() -> None:
    require_shared(YUNET)  # the test session's model cache holds a copy of it
    assert create_detector(WorkerSettings()).name.startswith("yunet")
    assert create_detector(WorkerSettings(yunet_model=YUNET)).name.startswith("yunet")
    assert create_detector(WorkerSettings(detector="haar", yunet_model=YUNET)).name.startswith("haar")


def test_classifier_type_is_the_served_one() -> None:
    assert isinstance(load_classifier(), EmotionClassifier)


def test_a_failed_camera_frame_keeps_its_camera_and_capture_time() -> None:
    processor = BatchProcessor(HaarDetector(640), load_classifier(), "w")
    meta = {"video_id": "lobby", "frame_index": 7, "t_ms": 12.5, "captured_at": 1_800_000_000.5, "source_kind": "rtsp"}
    outcome = processor.failure(b"1-1", {b"v": b"1", b"meta": json.dumps(meta).encode()}, "poison")
    assert outcome.result is not None
    assert (outcome.result.source_kind, outcome.result.captured_at, outcome.result.t_ms) == (
        "rtsp",
        1_800_000_000.5,
        12,
    )
    odd = {**meta, "captured_at": "soon", "source_kind": "carrier-pigeon", "t_ms": -3}
    outcome = processor.failure(b"1-2", {b"v": b"1", b"meta": json.dumps(odd).encode()}, "poison")
    assert outcome.result is not None
    assert outcome.result.source_kind == "file"
    assert outcome.result.captured_at > 1_700_000_000  # now, not 1970
    assert outcome.result.t_ms == 0
