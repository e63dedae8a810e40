import json
from pathlib import Path

import cv2
import numpy as np
import numpy.typing as npt
import pytest

from emostream.errors import ConfigError
from emostream.framecodec import decode_i420, encode_i420
from emostream.modelstore import file_sha256
from emostream.preprocess import to_gray
from emostream.schema import Fields, Frame, FrameMeta, decode_frame, encode_frame
from emostream.settings import WorkerSettings
from models import load_classifier
from models.classifier import EmotionClassifier
from tests.conftest import VIDEOS, YUNET, require_shared
from worker.batch import BatchProcessor
from worker.detectors import FaceDetector, create_detector
from worker.detectors.base import Detection
from worker.detectors.haar import HaarDetector
from worker.detectors.yunet import FRAMING as YUNET_FRAMING
from worker.keyframes import iou

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
    return f"{index}-0".encode(), encode_frame(Frame(meta=meta, payload=data))


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


def raw_entry(image: npt.NDArray[np.uint8], index: int) -> tuple[bytes, Fields]:
    pixels, size = encode_i420(image)
    meta = FrameMeta(video_id="v", frame_index=index, t_ms=index * 100, captured_at=1.0, source_kind="file", i420=size)
    return f"{index}-0".encode(), encode_frame(Frame(meta=meta, payload=pixels))


def test_a_raw_frame_finds_the_face_its_jpeg_finds(processor: tuple[BatchProcessor, CountingClassifier]) -> None:
    batch, _ = processor
    face = astronaut_frame()[:, :-1]  # an odd width: padded on the way, cut on arrival
    raw, jpeg = (outcome.result for outcome in batch.process([raw_entry(face, 0), entry(face, 1)]))
    assert raw is not None
    assert jpeg is not None
    assert raw.status == "ok"
    assert len(raw.faces) == len(jpeg.faces) >= 1
    for ours in raw.faces:  # Haar's threads may list the same faces in another order
        theirs = min(jpeg.faces, key=lambda face: np.abs(np.subtract(ours.box, face.box)).max())
        assert np.abs(np.subtract(ours.box, theirs.box)).max() <= 8
        assert ours.emotion == theirs.emotion


def test_raw_pixels_that_do_not_fit_become_a_failed_result_and_a_dead_letter(
    processor: tuple[BatchProcessor, CountingClassifier],
) -> None:
    batch, _ = processor
    entry_id, fields = raw_entry(np.zeros((4, 4, 3), np.uint8), 2)
    (outcome,) = batch.process([(entry_id, fields | {b"i420": b"\x00" * 5})])
    assert outcome.result is not None
    assert outcome.result.status == "failed"
    assert "i420 field has 5 bytes" in (outcome.dead_reason or "")
    assert (outcome.frame_field, outcome.frame_bytes) == (b"i420", b"\x00" * 5)


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


def small_faces_frame(face_px: int, size: tuple[int, int] = (640, 360)) -> npt.NDArray[np.uint8]:
    """A grey frame of ``size`` (640x360) with the astronaut's face pasted at ``face_px`` wide,
    twice: at x 100 and 400 of 640, y 100 of 360."""
    face = astronaut_frame()[60:360, 200:440]  # her head and shoulders
    small = cv2.resize(face, (face_px * 2, face_px * 5 // 2), interpolation=cv2.INTER_AREA)
    width, height = size
    frame = np.full((height, width, 3), 128, np.uint8)
    top = 100 * height // 360
    for x in (100 * width // 640, 400 * width // 640):
        frame[top : top + small.shape[0], x : x + small.shape[1]] = small
    return frame


@pytest.mark.parametrize(("min_face_px", "input_side"), [(24, 400), (0, 640), (12, 640)])
def test_yunet_detects_on_a_frame_shrunk_only_as_far_as_the_smallest_wanted_face_allows(
    min_face_px: int, input_side: int
) -> None:
    detector = create_detector(
        WorkerSettings(detector="yunet", yunet_model=require_shared(YUNET), detect_min_face_px=min_face_px)
    )
    found = detector.detect(small_faces_frame(30))
    assert detector.input_size[0] == input_side  # type: ignore[attr-defined]
    assert len(found) == 2  # faces 24 px wide are found either way, boxes in full-frame pixels
    assert all(20 <= face.box[2] <= 28 for face in found)
    assert all(box.box[0] in range(90, 130) or box.box[0] in range(390, 430) for box in found)


def test_yunet_finds_the_smallest_wanted_faces_in_a_frame_of_hd_size_too() -> None:
    """A 1280x720 frame (what the producer sends of HD and 4K videos) is detected at 800 px, where
    faces of 24 px are 15. Capped at 640 px, as until 2026-12-07, they were 12 px and lost: on
    the stage clip tiled to 1080p, half of its faces (bench/small_faces.py)."""
    frame = small_faces_frame(30, (1280, 720))
    detector = create_detector(WorkerSettings(detector="yunet", yunet_model=require_shared(YUNET)))
    found = detector.detect(frame)
    assert detector.input_size == (800, 450)  # type: ignore[attr-defined]
    assert len(found) == 2
    assert all(20 <= face.box[2] <= 28 for face in found)
    capped = create_detector(WorkerSettings(detector="yunet", yunet_model=YUNET, detect_max_side_px=640))
    assert capped.detect(frame) == []
    assert capped.input_size == (640, 360)  # type: ignore[attr-defined]


def test_a_yunet_detection_is_coarse_only_where_asked_and_only_frames_over_1024_px_have_a_coarse_scale() -> None:
    detector = create_detector(WorkerSettings(detector="yunet", yunet_model=require_shared(YUNET)))
    detector.detect(small_faces_frame(60, (1280, 720)), coarse=True)
    assert detector.input_size == (640, 360)  # type: ignore[attr-defined]
    assert detector.has_coarse_scale(720, 1280)
    assert not detector.has_coarse_scale(576, 1024)  # 640 px either way
    assert not HaarDetector(640).has_coarse_scale(720, 1280)


def hd_batch(images: list[npt.NDArray[np.uint8]], video_id: str = "v") -> list[tuple[bytes, Fields]]:
    """``images`` as raw frames of a 10 fps video (none interpolated)."""
    batch = []
    for index, image in enumerate(images):
        pixels, size = encode_i420(image)
        meta = FrameMeta(
            video_id=video_id, frame_index=index, t_ms=index * 100, captured_at=1.0, source_kind="file", i420=size
        )
        batch.append((f"{video_id}-{index}".encode(), encode_frame(Frame(meta=meta, payload=pixels))))
    return batch


def test_a_video_whose_faces_the_coarse_scale_finds_is_detected_coarsely_after_its_first_frame() -> None:
    """A talking head in HD: its first frame in the batch both ways, the rest at 640 px only (the 13 %
    that detecting at 800 px cost on one core), the same faces. A crowd of 24 px faces, which the
    coarse scale misses, in full throughout; each video in a batch on its own."""
    yunet = create_detector(WorkerSettings(detector="yunet", yunet_model=require_shared(YUNET)))
    detector = CountingDetector(yunet)
    processor = BatchProcessor(detector, load_classifier(), "w")
    talk, crowd = small_faces_frame(100, (1280, 720)), small_faces_frame(30, (1280, 720))
    large = processor.process(hd_batch([talk] * 6))
    assert (detector.frames, detector.coarse) == (7, 6)  # 1 full, 6 coarse
    assert all(o.result is not None and len(o.result.faces) == 2 for o in large)
    detector.frames = detector.coarse = 0
    mixed = processor.process(hd_batch([crowd] * 4, "crowd") + hd_batch([talk] * 3, "talk"))
    assert (detector.frames, detector.coarse) == (5 + 4, 1 + 3)
    assert all(o.result is not None and len(o.result.faces) == 2 for o in mixed)


def test_a_coarse_detection_that_finds_fewer_faces_than_the_frame_before_is_done_again_in_full() -> None:
    """Faces shrinking as the camera zooms out: from the frame where the coarse scale loses them, the
    video's frames are detected in full, and none is lost."""
    yunet = create_detector(WorkerSettings(detector="yunet", yunet_model=require_shared(YUNET)))
    detector = CountingDetector(yunet)
    frames = hd_batch([small_faces_frame(size, (1280, 720)) for size in (100, 100, 30, 30, 100)])
    outcomes = BatchProcessor(detector, load_classifier(), "w").process(frames)
    assert [len(o.result.faces) for o in outcomes if o.result is not None] == [2] * 5
    assert (detector.frames, detector.coarse) == (2 + 1 + 2 + 1 + 1, 1 + 1 + 1)  # both; coarse; coarse, full; full


def test_the_dynamic_yunet_n_model_is_refused_with_its_reason() -> None:
    """Another YuNet variant: named in the error, not served untested."""
    with pytest.raises(ConfigError, match="yunet_n variant"):
        create_detector(WorkerSettings(detector="yunet", yunet_model=require_shared(YUNET_DYNAMIC)))


def test_a_known_yunet_file_that_onnx_runtime_cannot_load_is_a_config_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from worker.detectors import yunet

    damaged = tmp_path / "yunet.onnx"
    damaged.write_bytes(b"\x08\x07 not an onnx graph")
    monkeypatch.setitem(yunet.KNOWN_SHA256, file_sha256(damaged), "test-entry")
    with pytest.raises(ConfigError, match="ONNX Runtime cannot load"):
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


class CountingDetector:
    """The real detector, counting the frames it is given, and those it was asked to detect coarsely."""

    def __init__(self, inner: FaceDetector) -> None:
        self.inner, self.name, self.framing, self.frames, self.coarse = inner, inner.name, inner.framing, 0, 0

    def detect(self, image_bgr: npt.NDArray[np.uint8], coarse: bool = False) -> list[Detection]:
        self.frames += 1
        self.coarse += coarse
        return self.inner.detect(image_bgr, coarse)

    def has_coarse_scale(self, height: int, width: int) -> bool:
        return self.inner.has_coarse_scale(height, width)


def video_batch(video: Path, count: int) -> list[tuple[bytes, Fields]]:
    """The video's first frames as a worker reads them: raw, with their times at the video's rate."""
    capture = cv2.VideoCapture(str(video))
    fps = capture.get(cv2.CAP_PROP_FPS)
    batch = []
    for index in range(count):
        image = np.asarray(capture.read()[1], dtype=np.uint8)
        pixels, size = encode_i420(image)
        meta = FrameMeta(
            video_id="v", frame_index=index, t_ms=round(index * 1000 / fps), captured_at=1.0, source_kind="file",
            i420=size,
        )  # fmt: skip
        batch.append((f"{index}-0".encode(), encode_frame(Frame(meta=meta, payload=pixels))))
    return batch


def test_at_30_fps_every_other_frame_gets_its_face_interpolated_where_detection_puts_it() -> None:
    detector = CountingDetector(create_detector(WorkerSettings(detector="yunet", yunet_model=require_shared(YUNET))))
    batch = video_batch(require_shared(VIDEOS / "fer_woman2.mp4"), 16)  # 29.97 fps, one face throughout
    classifier = load_classifier()
    every = [o.result for o in BatchProcessor(detector, classifier, "w").process(batch)]
    assert detector.frames == 16
    some = [o.result for o in BatchProcessor(detector, classifier, "w", 50).process(batch)]
    assert detector.frames == 16 + 9  # frames 0, 2, ..., 14 and the last one
    interpolated = 0
    for full, mixed in zip(every, some, strict=True):
        assert full is not None
        assert mixed is not None
        assert (mixed.frame_index, mixed.status, len(mixed.faces)) == (full.frame_index, "ok", 1)
        if "interpolate" in mixed.timings_ms:
            interpolated += 1
            assert "detect" not in mixed.timings_ms
            assert iou(full.faces[0].box, mixed.faces[0].box) > 0.85
            # Classified from the frame's own pixels: close to what its detected box gives.
            assert np.abs(np.subtract(full.faces[0].probs, mixed.faces[0].probs)).max() < 0.25
        else:
            assert mixed.faces == full.faces
    assert interpolated == 7


class RecordingClassifier(CountingClassifier):
    """The real classifier, keeping the crops it is given."""

    def __init__(self) -> None:
        super().__init__()
        self.crops: list[npt.NDArray[np.uint8]] = []

    def predict(self, faces: list[npt.NDArray[np.uint8]]) -> npt.NDArray[np.float32]:
        self.crops += faces
        return super().predict(faces)


def test_the_network_gets_each_face_framed_as_its_training_faces_were() -> None:
    """YuNet's box (1.28 times as tall as wide) goes to the result as found; the network gets the
    square FER2013 frames faces in (emostream.preprocess.face_crop), detected and interpolated alike."""
    capture = cv2.VideoCapture(str(require_shared(VIDEOS / "fer_woman2.mp4")))
    images = [np.asarray(capture.read()[1], dtype=np.uint8) for _ in range(3)]
    yunet = create_detector(WorkerSettings(detector="yunet", yunet_model=require_shared(YUNET)))
    classifier = RecordingClassifier()
    batch = []
    for index, image in enumerate(images):  # 25 fps: the middle frame's face is interpolated
        pixels, size = encode_i420(image)
        meta = FrameMeta(
            video_id="v", frame_index=index, t_ms=index * 40, captured_at=1.0, source_kind="file", i420=size
        )
        batch.append((f"{index}-0".encode(), encode_frame(Frame(meta=meta, payload=pixels))))
    outcomes = BatchProcessor(yunet, classifier, "w", detect_interval_ms=50).process(batch)  # type: ignore[arg-type]
    assert ["interpolate" in o.result.timings_ms for o in outcomes if o.result is not None] == [False, True, False]
    for (_, fields), outcome, crop in zip(batch, outcomes, classifier.crops, strict=True):
        frame = decode_frame(fields)
        assert frame.meta.i420 is not None
        seen = decode_i420(frame.payload, frame.meta.i420)  # the frame as the worker sees it
        assert seen is not None
        assert outcome.result is not None
        (face,) = outcome.result.faces
        x, y, w, h = face.box
        assert h > 1.2 * w  # the box as YuNet draws it, taller than wide
        side = round(YUNET_FRAMING * w)
        assert crop.shape == (side, side)
        left, top = round(x + w / 2 - side / 2), round(y + h / 2 - side / 2)
        assert np.array_equal(crop, to_gray(seen[top : top + side, left : left + side]))
