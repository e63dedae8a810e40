import numpy as np
import pytest

from emostream.preprocess import FACE_SIZE_PX, prepare_faces, to_gray


def test_prepare_faces_resizes_scales_and_adds_a_channel() -> None:
    faces = [np.full((100, 80), 255, dtype=np.uint8), np.zeros((48, 48), dtype=np.uint8)]
    batch = prepare_faces(faces)
    assert batch.shape == (2, FACE_SIZE_PX, FACE_SIZE_PX, 1)
    assert batch.dtype == np.float32
    assert batch[0].min() == pytest.approx(1.0)
    assert batch[1].max() == 0.0


def test_prepare_faces_of_nothing_is_an_empty_batch() -> None:
    assert prepare_faces([]).shape == (0, FACE_SIZE_PX, FACE_SIZE_PX, 1)


def test_colour_crops_are_rejected_instead_of_misread() -> None:
    with pytest.raises(ValueError, match="grayscale"):
        prepare_faces([np.zeros((48, 48, 3), dtype=np.uint8)])


def test_to_gray_uses_bgr_channel_order() -> None:
    blue = np.zeros((2, 2, 3), dtype=np.uint8)
    blue[..., 0] = 255  # OpenCV images are BGR: channel 0 is blue
    assert int(to_gray(blue)[0, 0]) == 29  # 0.114 * 255, not 0.299 * 255 (RGB misread)
