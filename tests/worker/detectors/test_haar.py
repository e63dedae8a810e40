import cv2
import numpy as np

from emostream.framecodec import decode_i420, encode_i420
from emostream.sample import astronaut_image
from models import load_classifier
from worker.detectors.haar import HaarDetector


def test_the_same_frame_gives_the_same_faces_in_the_same_order() -> None:
    """OpenCV's threads list Haar's faces in a varying order once ONNX Runtime's threads share the
    cores, as in a worker (on this frame, two faces, swapped in a third to two thirds of the calls
    before the order was fixed)."""
    cv2.setNumThreads(2)
    picture = np.asarray(cv2.resize(astronaut_image(), (640, 640))[:, :-1], dtype=np.uint8)
    frame = decode_i420(*encode_i420(picture))
    assert frame is not None
    detector, classifier = HaarDetector(640), load_classifier()
    first = detector.detect(frame)
    assert len(first) >= 2
    assert [face.score for face in first] == sorted((face.score for face in first), reverse=True)
    for _ in range(20):
        classifier.predict(np.zeros((2, 48, 48), np.uint8))
        assert detector.detect(frame) == first
