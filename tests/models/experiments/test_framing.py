"""The framing probe: FER2013 faces found by YuNet as a worker finds them, cut out as workers cut them."""

import cv2
import numpy as np

from emostream.settings import WorkerSettings
from models.classifier import DEFAULT_MODEL
from models.experiments.framing import accuracy, geometry, staged
from models.training.data import load_fer2013
from tests.conftest import FER2013, YUNET, require_shared
from worker.detectors import YuNetDetector
from worker.detectors.yunet import FRAMING


def test_a_staged_face_is_the_face_enlarged_in_a_border_of_its_own_gray() -> None:
    face = np.random.default_rng(3).integers(0, 256, (48, 48), dtype=np.uint8)
    picture = staged(face, 2)
    assert picture.shape == (288, 288, 3)
    assert (picture[:96, :, 0] == int(face.mean())).all()
    assert np.array_equal(picture[96:192, 96:192, 0], cv2.resize(face, (96, 96), interpolation=cv2.INTER_CUBIC))


def test_yunets_framing_is_where_fer2013s_squares_lie_and_beats_the_squeezed_box() -> None:
    """The served FRAMING agrees with the geometry of training faces, and on PublicTest faces the
    square scores more than the box squeezed square (on all of PublicTest: 68.4 against 65.2 %)."""
    data = load_fer2013(require_shared(FER2013))
    detector = YuNetDetector(require_shared(YUNET), None, WorkerSettings().detect_min_face_px)
    found = geometry(detector, data.train.x[:300], 4)
    assert abs(found["square_side_per_box_width"] - FRAMING) < 0.05
    assert found["box_height_per_width"] > 1.2
    scored = accuracy(detector, DEFAULT_MODEL, data.val.subset(500, seed=1), 4, threads=1)
    assert scored["found"] > 400
    framed, squeezed = scored["framed square"], scored["box squeezed square"]
    assert framed["accuracy_percent"] > squeezed["accuracy_percent"] + 1.5
    assert framed["right_only_here"] > framed["right_only_squeezed"]
