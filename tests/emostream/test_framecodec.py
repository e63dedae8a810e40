import cv2
import numpy as np
import numpy.typing as npt
import pytest

from emostream.framecodec import decode_i420, encode_i420
from emostream.preprocess import to_gray
from emostream.sample import astronaut_image
from emostream.schema import PictureSize


def photo(width: int, height: int) -> npt.NDArray[np.uint8]:
    return cv2.resize(astronaut_image(), (width, height), interpolation=cv2.INTER_AREA)  # type: ignore[return-value]


@pytest.mark.parametrize(("width", "height"), [(640, 360), (597, 337), (63, 2)])
def test_a_frame_comes_back_the_same_size_and_the_same_gray_within_rounding(width: int, height: int) -> None:
    image = photo(width, height)
    data, size = encode_i420(image)
    assert (size.width, size.height) == (width, height)
    assert len(data) == size.i420_bytes
    back = decode_i420(data, size)
    assert back is not None
    assert back.shape == image.shape
    assert back.flags.c_contiguous
    # The emotion network sees gray faces: within rounding but where subsampled colour clips.
    error = np.abs(to_gray(back).astype(int) - to_gray(image).astype(int))
    assert error.mean() < 0.5
    assert np.percentile(error, 99) <= 3


def test_raw_frames_lose_less_than_the_jpeg_they_replace() -> None:
    image = photo(640, 360)
    data, size = encode_i420(image)
    raw = decode_i420(data, size)
    jpeg: npt.NDArray[np.uint8] = cv2.imdecode(  # type: ignore[assignment]
        cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, 90])[1], cv2.IMREAD_COLOR
    )
    assert raw is not None
    for view in (np.asarray, to_gray):  # colour, and the gray faces the emotion network sees
        raw_error = np.abs(view(raw).astype(int) - view(image).astype(int)).mean()
        jpeg_error = np.abs(view(jpeg).astype(int) - view(image).astype(int)).mean()
        assert raw_error < jpeg_error


@pytest.mark.parametrize("cut", [1, 100])
def test_bytes_of_the_wrong_length_are_refused_not_misread(cut: int) -> None:
    data, size = encode_i420(photo(64, 48))
    assert decode_i420(data[:-cut], size) is None
    assert decode_i420(data, PictureSize(width=64, height=50)) is None
