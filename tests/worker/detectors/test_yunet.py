"""YuNet on ONNX Runtime against OpenCV's own FaceDetectorYN on the same model file and frames."""

import logging
from pathlib import Path

import cv2
import numpy as np
import numpy.typing as npt
import pytest

from emostream import modelstore
from emostream.preprocess import downscale
from tests.conftest import VIDEOS, YUNET, require_shared
from worker.detectors.base import clip_box
from worker.detectors.yunet import CANDIDATES_TOP_K, NMS_THRESHOLD, SCORE_THRESHOLD, InputBlob, YuNetDetector


def frames(video: Path, every: int) -> list[npt.NDArray[np.uint8]]:
    capture = cv2.VideoCapture(str(video))
    found: list[npt.NDArray[np.uint8]] = []
    index = 0
    while True:
        ok, frame = capture.read()
        if not ok:
            return found
        if index % every == 0:
            found.append(np.asarray(frame, dtype=np.uint8))
        index += 1


def opencv_faces(
    reference: cv2.FaceDetectorYN, frame: npt.NDArray[np.uint8], side: int
) -> list[tuple[tuple[int, int, int, int], float]]:
    """FaceDetectorYN's boxes (full-frame pixels) and scores on the frame shrunk as the detector shrinks it."""
    small, scale = downscale(frame, side)
    reference.setInputSize((small.shape[1], small.shape[0]))
    _, rows = reference.detect(small)
    faces = []
    for row in rows if rows is not None else ():
        box = clip_box((float(row[0]), float(row[1]), float(row[2]), float(row[3])), scale, *frame.shape[1::-1])
        if box is not None:
            faces.append((box, float(row[14])))
    return sorted(faces)


@pytest.mark.parametrize(("clip", "every"), [("fer_woman2.mp4", 8), ("short_hamilton_clip.mp4", 5)])
def test_boxes_and_scores_are_those_of_opencvs_face_detector_on_the_same_model(
    clip: str, every: int, tmp_path: Path
) -> None:
    model = require_shared(YUNET)
    detector = YuNetDetector(model, 640, 24, cache=tmp_path)
    reference = cv2.FaceDetectorYN.create(str(model), "", (320, 320), SCORE_THRESHOLD, NMS_THRESHOLD, CANDIDATES_TOP_K)
    found = 0
    for frame in frames(require_shared(VIDEOS / clip), every):
        ours = sorted((d.box, d.score) for d in detector.detect(frame))
        theirs = opencv_faces(reference, frame, max(detector.input_size))
        assert len(ours) == len(theirs)
        for (box, score), (other_box, other_score) in zip(ours, theirs, strict=True):
            assert max(abs(a - b) for a, b in zip(box, other_box, strict=True)) <= 1
            assert score == pytest.approx(other_score, abs=1e-3)
        found += len(ours)
    assert found >= len(frames(VIDEOS / clip, every))  # every frame of both clips shows a face or more


def test_every_face_of_a_crowded_frame_is_found(tmp_path: Path) -> None:
    """Each face has several candidate boxes before NMS: a cap on candidates is a cap on faces."""
    model = require_shared(YUNET)
    frame = frames(require_shared(VIDEOS / "short_hamilton_clip.mp4"), 100)[0]
    alone = len(YuNetDetector(model, 640, 24, cache=tmp_path).detect(frame))
    crowd = np.ascontiguousarray(np.tile(frame, (4, 4, 1)))  # 16 copies of the stage, kept at 1600x900
    found = YuNetDetector(model, 1600, 24, cache=tmp_path).detect(crowd)
    assert alone >= 2
    assert len(found) >= 0.9 * 16 * alone


def test_the_any_size_copy_is_derived_once_into_the_cache_and_reused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    model = require_shared(YUNET)
    YuNetDetector(model, 640, cache=tmp_path)
    (copy,) = tmp_path.glob("*-any-size.onnx")

    def no_second_derivation(data: bytes) -> bytes:
        raise AssertionError("derived again")

    monkeypatch.setattr(modelstore, "free_input_size", no_second_derivation)
    assert len(YuNetDetector(model, 640, cache=tmp_path).detect(np.zeros((90, 160, 3), np.uint8))) == 0
    assert copy.stat().st_size > 100_000


def test_a_damaged_cached_copy_is_derived_again(tmp_path: Path) -> None:
    model = require_shared(YUNET)
    YuNetDetector(model, 640, cache=tmp_path)
    (copy,) = tmp_path.glob("*-any-size.onnx")
    copy.write_bytes(b"\x08\x07 damaged")
    assert YuNetDetector(model, 640, cache=tmp_path).name == "yunet-2023mar"
    assert copy.stat().st_size > 100_000


def test_an_unwritable_cache_keeps_the_copy_in_memory_with_a_warning(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    model = require_shared(YUNET)
    blocked = tmp_path / "a-file-not-a-folder"
    blocked.write_text("")
    with caplog.at_level(logging.WARNING):
        detector = YuNetDetector(model, 640, cache=blocked / "cache")
    assert "each worker derives it again" in caplog.text
    frame = cv2.resize(frames(require_shared(VIDEOS / "fer_woman2.mp4"), 200)[0], (640, 360))
    assert len(detector.detect(frame.astype(np.uint8))) == 1


def test_the_kept_input_buffer_never_shows_an_earlier_frame_in_its_padding() -> None:
    blob = InputBlob()
    blob.fill(np.full((230, 410, 3), 255, np.uint8))
    filled = blob.fill(np.zeros((225, 400, 3), np.uint8))  # padded to the same 256x416
    assert filled.shape == (1, 3, 256, 416)
    assert not filled.any()


def test_one_detector_over_frames_of_changing_sizes_finds_what_fresh_ones_find(tmp_path: Path) -> None:
    model = require_shared(YUNET)
    frame = frames(require_shared(VIDEOS / "short_hamilton_clip.mp4"), 100)[1]
    sizes = [frame, cv2.resize(frame, (656, 372)), frame, cv2.resize(frame, (1280, 720)), frame]
    kept = YuNetDetector(model, 640, 24, cache=tmp_path)
    for image in sizes:
        fresh = YuNetDetector(model, 640, 24, cache=tmp_path).detect(np.asarray(image, dtype=np.uint8))
        assert kept.detect(np.asarray(image, dtype=np.uint8)) == fresh
        assert fresh  # the stage clip's frame 100 shows faces


def test_its_session_runs_the_threads_asked_for_without_spinning(tmp_path: Path) -> None:
    options = YuNetDetector(require_shared(YUNET), 640, 24, threads=1, cache=tmp_path).network.get_session_options()
    assert options.intra_op_num_threads == 1
    assert options.get_session_config_entry("session.intra_op.allow_spinning") == "0"
