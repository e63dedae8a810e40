"""Which face detector a worker gets: YuNet by default, Haar with a warning when YuNet cannot be had."""

import logging
import shutil
from pathlib import Path

import pytest

from emostream.errors import ConfigError
from emostream.modelstore import YUNET_FILE
from emostream.settings import WorkerSettings
from tests.conftest import UNREACHABLE_URL, YUNET, require_shared
from worker.detectors import HaarDetector, YuNetDetector, create_detector


def test_yunet_from_the_model_cache_is_the_default(tmp_path: Path) -> None:
    shutil.copy(require_shared(YUNET), tmp_path / YUNET_FILE)
    detector = create_detector(WorkerSettings(model_dir=tmp_path, yunet_url=UNREACHABLE_URL))
    assert isinstance(detector, YuNetDetector)
    assert detector.name == "yunet-2023mar"


def test_without_yunet_the_default_falls_back_to_haar_with_one_warning_that_says_how_to_fix_it(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING):
        detector = create_detector(WorkerSettings(model_dir=tmp_path, yunet_url=UNREACHABLE_URL))
    assert isinstance(detector, HaarDetector)
    (warning,) = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert "emostream models fetch" in warning.getMessage()
    assert str(tmp_path) in warning.getMessage()


def test_asking_for_yunet_by_name_without_it_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="emostream models fetch"):
        create_detector(WorkerSettings(detector="yunet", model_dir=tmp_path, yunet_url=UNREACHABLE_URL))


def test_haar_by_name_needs_no_model_file(tmp_path: Path) -> None:
    assert isinstance(create_detector(WorkerSettings(detector="haar", model_dir=tmp_path)), HaarDetector)


def test_haar_detects_on_frames_shrunk_to_640_px_unless_told_otherwise(tmp_path: Path) -> None:
    """Haar's cost grows with the pixels it sees; YuNet's follows the smallest wanted face instead."""
    haar = create_detector(WorkerSettings(detector="haar", model_dir=tmp_path))
    assert isinstance(haar, HaarDetector)
    assert haar.max_side_px == 640
    wider = create_detector(WorkerSettings(detector="haar", model_dir=tmp_path, detect_max_side_px=960))
    assert isinstance(wider, HaarDetector)
    assert wider.max_side_px == 960
