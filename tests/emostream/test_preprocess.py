import numpy as np
import pytest

from emostream.preprocess import FACE_SIZE_PX, face_crop, prepare_faces, to_gray


def test_prepare_faces_resizes_scales_and_adds_a_channel() -> None:
    faces = [np.full((100, 80), 255, dtype=np.uint8), np.zeros((48, 48), dtype=np.uint8)]
    batch = prepare_faces(faces)
    assert batch.shape == (2, FACE_SIZE_PX, FACE_SIZE_PX, 1)
    assert batch.dtype == np.float32
    assert batch[0].min() == pytest.approx(1.0)
    assert batch[1].max() == 0.0


def test_small_crops_are_enlarged_smoothly_and_large_ones_averaged_down() -> None:
    import cv2

    rng = np.random.default_rng(4)
    small = rng.integers(0, 256, (24, 24), dtype=np.uint8)
    large = rng.integers(0, 256, (96, 120), dtype=np.uint8)
    enlarged, shrunk = prepare_faces([small, large])[..., 0] * 255.0
    bicubic = cv2.resize(small, (FACE_SIZE_PX, FACE_SIZE_PX), interpolation=cv2.INTER_CUBIC)
    area_up = cv2.resize(small, (FACE_SIZE_PX, FACE_SIZE_PX), interpolation=cv2.INTER_AREA)
    assert np.abs(enlarged - bicubic).max() < 1e-3
    # Enlarging with INTER_AREA would repeat each pixel in 2x2 blocks, as it did before.
    assert np.abs(enlarged - area_up).max() > 10
    area_down = cv2.resize(large, (FACE_SIZE_PX, FACE_SIZE_PX), interpolation=cv2.INTER_AREA)
    assert np.abs(shrunk - area_down).max() < 1e-3


def test_prepare_faces_of_nothing_is_an_empty_batch() -> None:
    assert prepare_faces([]).shape == (0, FACE_SIZE_PX, FACE_SIZE_PX, 1)


def test_colour_crops_are_rejected_instead_of_misread() -> None:
    with pytest.raises(ValueError, match="grayscale"):
        prepare_faces([np.zeros((48, 48, 3), dtype=np.uint8)])


def test_to_gray_uses_bgr_channel_order() -> None:
    blue = np.zeros((2, 2, 3), dtype=np.uint8)
    blue[..., 0] = 255  # OpenCV images are BGR: channel 0 is blue
    assert int(to_gray(blue)[0, 0]) == 29  # 0.114 * 255, not 0.299 * 255 (RGB misread)


def test_a_face_is_cut_as_a_square_of_the_framing_times_its_box_width_about_its_centre() -> None:
    image = np.random.default_rng(1).integers(0, 256, (200, 300, 3), dtype=np.uint8)
    crop = face_crop(image, (100, 50, 40, 52), 1.25)  # a YuNet-like box, taller than wide
    assert crop.shape == (50, 50)  # 1.25 x 40, centred on (120, 76)
    assert np.array_equal(crop, to_gray(image[51:101, 95:145]))
    assert np.array_equal(face_crop(image, (100, 50, 40, 52)), to_gray(image[56:96, 100:140]))  # framing 1: w x w


def test_past_the_frames_edge_a_crop_repeats_the_edge_pixels() -> None:
    image = np.random.default_rng(2).integers(0, 256, (100, 120), dtype=np.uint8)
    crop = face_crop(image, (0, 70, 30, 30), 2.0)  # a 60 px square about (15, 85): 15 px left and below out
    assert crop.shape == (60, 60)
    assert np.array_equal(crop[:45, 15:], image[55:100, 0:45])
    assert np.array_equal(crop[:45, 0], image[55:100, 0])  # the left edge repeated
    assert np.array_equal(crop[59, 15:], image[99, 0:45])  # the bottom edge repeated
