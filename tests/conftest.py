"""Shared fixtures: the test data folder, a real redis-server per test session, small videos."""

import fractions
import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import cv2
import numpy as np
import numpy.typing as npt
import pytest
import redis

from emostream.localserver import LocalServer, system_server_binary
from producer.sampling import Sampler, SamplingPlan

# The test data (videos, FER2013, YuNet) is where EMO_SHARED_DIR says: scripts/check names
# ../shared beside the checkout; nothing here guesses it from where the source lies.
SHARED_SETTING = "EMO_SHARED_DIR"
SHARED = Path(os.environ[SHARED_SETTING]) if os.environ.get(SHARED_SETTING) else None
_DATA = SHARED or Path("/EMO_SHARED_DIR-is-not-set")  # only ever passed to require_shared, which skips
VIDEOS = _DATA / "data" / "videos"
FER2013 = _DATA / "data" / "fer2013"
FERPLUS = _DATA / "data" / "ferplus"
YUNET = _DATA / "models" / "yunet" / "yunet_s_640_640.onnx"


def require_shared(path: Path) -> Path:
    """``path`` inside the test data folder, or a skip with the reason (a user's machine has none)."""
    if SHARED is None:
        reason = f"{SHARED_SETTING} is not set: scripts/check sets it to ../shared (the test data) beside the checkout"
    elif not path.exists():
        reason = f"{path} not found: {SHARED} ({SHARED_SETTING}) does not hold the test data"
    else:
        return path
    if os.environ.get("CI"):
        pytest.fail(f"{reason}; CI must run beside ../shared")
    pytest.skip(reason)


UNREACHABLE_URL = "http://127.0.0.1:9/yunet.onnx"  # the discard port: refused at once, never the network


@pytest.fixture(scope="session", autouse=True)
def model_cache(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """Every process the tests start finds YuNet in a temporary EMO_MODEL_DIR (copied from the test
    data) and never downloads; without the test data (a user's machine) they fall back to Haar."""
    from emostream.modelstore import YUNET_FILE

    folder = tmp_path_factory.mktemp("models")
    if YUNET.is_file():
        shutil.copy(YUNET, folder / YUNET_FILE)
    saved = {name: os.environ.get(name) for name in ("EMO_MODEL_DIR", "EMO_WORKER_YUNET_URL")}
    os.environ["EMO_MODEL_DIR"], os.environ["EMO_WORKER_YUNET_URL"] = str(folder), UNREACHABLE_URL
    yield folder
    for name, value in saved.items():
        if value is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = value


@pytest.fixture(scope="session")
def redis_binary() -> Path:
    """The Debian package's redis-server, for tests that start servers of their own."""
    binary = system_server_binary()
    if binary is None:
        if os.environ.get("CI"):
            pytest.fail("redis-server is not installed (apt-get install redis-server)")
        pytest.skip("redis-server is not installed (apt-get install redis-server)")
    return binary


@pytest.fixture(scope="session")
def redis_server(redis_binary: Path) -> Iterator[LocalServer]:
    with LocalServer(redis_binary) as server:
        yield server


@pytest.fixture
def redis_url(redis_server: LocalServer) -> str:
    """A real server, emptied for each test."""
    client: redis.Redis = redis.Redis.from_url(redis_server.url)
    client.flushall()
    client.close()
    return redis_server.url


@pytest.fixture
def real_redis(redis_url: str) -> Iterator["redis.Redis"]:
    client: redis.Redis = redis.Redis.from_url(redis_url)
    yield client
    client.close()


@pytest.fixture(scope="session")
def astronaut_video(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 4 s, 15 fps video of a real face (the astronaut portrait the package carries), made once per session."""
    from emostream.sample import make_sample_video

    path = tmp_path_factory.mktemp("videos") / "astronaut.mp4"
    make_sample_video(path)
    return path


def frame_time_ms(index: int, fps: float) -> float:
    return index * 1000.0 / fps


def kept_indices(plan: SamplingPlan, frame_count: int) -> list[int]:
    """The frames ``plan`` keeps of a video at a constant ``source_fps``, as the producer's sampler
    decides from each frame's time."""
    sampler = Sampler(plan)
    return [i for i in range(frame_count) if sampler.keep(frame_time_ms(i, plan.source_fps))]


def write_video(path: Path, frames: int, fps: float = 10.0, size: tuple[int, int] = (160, 120)) -> Path:
    """A small generated video without faces: moving gradient frames."""
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter.fourcc(*"mp4v"), fps, size)
    assert writer.isOpened()
    for i in range(frames):
        image = np.zeros((size[1], size[0], 3), dtype=np.uint8)
        image[:, :, 0] = (np.arange(size[0]) + i * 7) % 256
        image[:, :, 1] = i % 256
        writer.write(image)
    writer.release()
    return path


def write_variable_rate_video(path: Path, times_ms: list[int], size: tuple[int, int] = (160, 120)) -> Path:
    """An MPEG-4 video whose frames are shown at the given times, as phones and screen recorders write them:
    flat frames of changing gray."""
    import fractions

    import av

    with av.open(str(path), "w") as container:
        stream = container.add_stream("mpeg4", rate=30)
        stream.width, stream.height = size
        stream.codec_context.time_base = fractions.Fraction(1, 1000)
        for index, t_ms in enumerate(times_ms):
            image = np.full((size[1], size[0], 3), index * 5 % 256, np.uint8)
            frame = av.VideoFrame.from_ndarray(image, format="bgr24")
            frame.pts, frame.time_base = t_ms, fractions.Fraction(1, 1000)
            container.mux(stream.encode(frame))
        container.mux(stream.encode())
    return path


def write_anamorphic_video(path: Path, frames: int, stored: tuple[int, int] = (120, 90), fps: float = 10.0) -> Path:
    """An MPEG-4 video stored at ``stored`` with pixels 4:3 as wide as they are tall (HDV's 1440x1080
    shown at 16:9, in small): a white disc on black, which players show round at 4/3 the width."""
    import fractions

    import av

    width, height = stored
    image = np.zeros((height, width, 3), np.uint8)
    # Round as shown: an ellipse 3/4 as wide as tall in stored pixels.
    cv2.ellipse(image, (width // 2, height // 2), (round(height * 0.3 * 3 / 4), round(height * 0.3)), 0, 0, 360,
                (255, 255, 255), -1)  # fmt: skip
    with av.open(str(path), "w") as container:
        stream = container.add_stream("mpeg4", rate=fractions.Fraction(fps).limit_denominator(1001))
        stream.width, stream.height = stored
        stream.codec_context.sample_aspect_ratio = fractions.Fraction(4, 3)
        for _ in range(frames):
            container.mux(stream.encode(av.VideoFrame.from_ndarray(image, format="bgr24")))
        container.mux(stream.encode())
    return path


def write_interlaced_video(
    path: Path,
    images: list[npt.NDArray[np.uint8]],
    fps: float = 10.0,
    *,
    rotation: int = 0,
    pixel_aspect: "fractions.Fraction | None" = None,
    fields: bool = True,
) -> Path:
    """H.264 coded as fields, as 1080i camcorders and TV captures are (x264's interlaced mode; as
    frames where ``fields`` is False); shown turned by ``rotation`` degrees, with pixels
    ``pixel_aspect`` as wide as they are tall."""
    import av

    height, width = images[0].shape[:2]
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=fractions.Fraction(fps).limit_denominator(1001))
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        sar = f":sar={pixel_aspect.numerator}/{pixel_aspect.denominator}" if pixel_aspect is not None else ""
        coding = "interlaced=1:tff=1" if fields else "interlaced=0"
        stream.options = {"x264-params": f"{coding}{sar}", "crf": "18"}
        if rotation:
            stream.set_display_rotation(rotation)
        for image in images:
            container.mux(stream.encode(av.VideoFrame.from_ndarray(image, format="bgr24")))
        container.mux(stream.encode())
    return path


def write_damaged_video(path: Path, frames: int, damaged: range, fps: float = 10.0) -> Path:
    """An MJPEG AVI of moving gradient frames whose ``damaged`` packets are overwritten with bytes no
    decoder accepts, in place: the file's index and every other frame stay intact."""

    write_mjpeg = cv2.VideoWriter(str(path), cv2.VideoWriter.fourcc(*"MJPG"), fps, (160, 120))
    assert write_mjpeg.isOpened()
    for i in range(frames):
        image = np.zeros((120, 160, 3), dtype=np.uint8)
        image[:, :, 1] = (np.arange(160) + i * 7) % 256
        write_mjpeg.write(image)
    write_mjpeg.release()
    return damage_packets(path, damaged)


def damage_packets(path: Path, damaged: range) -> Path:
    """The video's ``damaged`` packets overwritten in place with bytes no decoder accepts (no JPEG
    start marker, no H.264 start code): the file's index and every other packet stay intact."""
    import av

    with av.open(str(path)) as container:
        packets = [(p.pos, p.size) for p in container.demux(video=0) if p.size and p.pos is not None]
    data = bytearray(path.read_bytes())
    for position, size in (packets[i] for i in damaged):
        data[position : position + size] = b"\xa5" * size
    path.write_bytes(bytes(data))
    return path


@pytest.fixture
def blank_video(tmp_path: Path) -> Path:
    return write_video(tmp_path / "blank.mp4", frames=30)
