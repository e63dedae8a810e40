"""HDR videos (what phones record by default) read as an SDR screen shows them, not grey or dark."""

from pathlib import Path
from typing import cast

import cv2
import numpy as np
import numpy.typing as npt
import pytest

from emostream.hdr import SdrPictures, is_hdr, shrunk_size
from emostream.videofile import FrameReader, open_upright
from testkit.hdrvideo import Transfer, write_hdr_video


@pytest.fixture(scope="module")
def face_frames(astronaut_video: Path) -> list[npt.NDArray[np.uint8]]:
    """Four SDR frames (640x480) of a real face."""
    return [image for _, image in FrameReader(astronaut_video, open_upright(astronaut_video), 15.0)][:4]


def mean_difference(a: npt.NDArray[np.uint8], b: npt.NDArray[np.uint8]) -> float:
    return float(np.abs(a.astype(np.int16) - b).mean())


def decoded_as_if_sdr(path: Path) -> list[npt.NDArray[np.uint8]]:
    """What the reader gave before tone mapping: PyAV's plain conversion."""
    import av

    with av.open(str(path)) as container:
        return [cast("npt.NDArray[np.uint8]", f.to_ndarray(format="bgr24")) for f in container.decode(video=0)]


@pytest.mark.parametrize("transfer", ["pq", "hlg"])
def test_an_hdr_video_is_read_as_its_sdr_picture(
    tmp_path: Path, face_frames: list[npt.NDArray[np.uint8]], transfer: Transfer
) -> None:
    """Read as SDR, a PQ copy came out grey (37 levels off on average) and an HLG one dark (21);
    tone-mapped, 2 off, about what the 10-bit HEVC coding itself costs."""
    video = write_hdr_video(tmp_path / f"{transfer}.mp4", face_frames, transfer)
    read = [image for _, image in FrameReader(video, open_upright(video), 10.0)]

    assert len(read) == len(face_frames)
    assert all(image.shape == (480, 640, 3) for image in read)
    assert max(mean_difference(got, sdr) for got, sdr in zip(read, face_frames, strict=True)) < 5
    plain = decoded_as_if_sdr(video)  # the copy is far from SDR as it is stored
    assert min(mean_difference(got, sdr) for got, sdr in zip(plain, face_frames, strict=True)) > 15


def test_an_hdr_frame_larger_than_the_caller_sends_is_shrunk_before_its_tone_mapping(
    tmp_path: Path, face_frames: list[npt.NDArray[np.uint8]]
) -> None:
    """Tone mapping a 4K frame took 102 ms, shrinking it first 15: the producer sends at most
    1,280 px a side anyway. The frame comes at the size the producer's downscale makes."""
    import av

    video = write_hdr_video(tmp_path / "hlg.mp4", face_frames[:1], "hlg")
    with av.open(str(video)) as container:
        frame = next(container.decode(video=0))
    assert is_hdr(frame)

    shrunk = SdrPictures().bgr(frame, shrink_to=(320, 240))
    assert shrunk.shape == (240, 320, 3)
    expected = cast("npt.NDArray[np.uint8]", cv2.resize(face_frames[0], (320, 240), interpolation=cv2.INTER_AREA))
    assert mean_difference(shrunk, expected) < 5
    assert SdrPictures().bgr(frame).shape == (480, 640, 3)
    assert SdrPictures().bgr(frame, shrink_to=(800, 600)).shape == (480, 640, 3)  # never enlarged


def test_an_sdr_frame_is_converted_as_it_was_and_not_shrunk(astronaut_video: Path) -> None:
    import av

    with av.open(str(astronaut_video)) as container:
        frame = next(container.decode(video=0))
    assert not is_hdr(frame)
    assert np.array_equal(SdrPictures().bgr(frame, shrink_to=(320, 240)), frame.to_ndarray(format="bgr24"))


@pytest.mark.parametrize("rotation", [0, 90])
def test_the_reader_sends_hdr_frames_no_larger_than_asked_and_upright(
    tmp_path: Path, face_frames: list[npt.NDArray[np.uint8]], rotation: int
) -> None:
    """A phone's portrait HDR video: stored sideways, shrunk as stored, then turned upright."""
    video = write_hdr_video(tmp_path / "pq.mp4", face_frames[:2], "pq", rotation=rotation)
    full = [image for _, image in FrameReader(video, open_upright(video), 10.0)]
    read = [image for _, image in FrameReader(video, open_upright(video), 10.0, hdr_max_side_px=400)]
    assert [image.shape for image in read] == [(400, 300, 3) if rotation else (300, 400, 3)] * 2
    shrunk_full = cv2.resize(full[0], (read[0].shape[1], read[0].shape[0]), interpolation=cv2.INTER_AREA)
    assert mean_difference(read[0], cast("npt.NDArray[np.uint8]", shrunk_full)) < 3  # the same picture, upright


def test_the_shrunk_size_is_the_producers() -> None:
    from emostream.preprocess import downscale

    assert shrunk_size(3840, 2160, 1280) == (1280, 720)
    assert shrunk_size(1080, 1920, 1280) == (720, 1280)
    assert shrunk_size(1280, 720, 1280) is None
    assert shrunk_size(3840, 2160, None) is None
    image, _ = downscale(np.zeros((1081, 1919, 3), np.uint8), 1280)
    assert shrunk_size(1919, 1081, 1280) == (image.shape[1], image.shape[0])
