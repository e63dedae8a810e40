"""Reading a live source frame by frame: a stream through PyAV, a local device through OpenCV.

OpenCV's FFmpeg reader cannot convert a frame coded as fields, and hands back a black picture, or
the last one it converted, as if it had read it (``emostream.videofile``, which reads files with
PyAV for that reason). A stream may be coded as fields from its start or switch at any frame (a TV
channel between programmes, an encoder reconfigured), so streams (RTSP, HTTP, UDP, SRT: analogue
CCTV through an encoder, a 1080i broadcast) are read with PyAV too, and each camera gets its own
RTSP transport, where OpenCV reads one option for the whole process. A device index (a webcam, a
capture card) stays with OpenCV, whose V4L2 reader converts raw frames itself.

A source of known length (a file, or a recording served over HTTP, standing in for a camera) is
read at its own rate, as a camera sends: read as fast as it decodes, a 9 s clip went by in 0.4 s,
and its end was a dropped stream twice a second.
"""

import logging
import time
from collections import deque
from pathlib import Path
from typing import TYPE_CHECKING, Literal, Protocol

import cv2
import numpy as np
import numpy.typing as npt

from emostream.hdr import SdrPictures
from emostream.videofile import as_shown, ffmpeg_reason, shown_size

if TYPE_CHECKING:
    import av

log = logging.getLogger(__name__)

# Protocols that deliver at the sender's own pace even where FFmpeg knows a length (a VOD session).
REAL_TIME_FORMATS = frozenset({"rtsp", "rtp", "sdp"})
# A jump ahead in a source's times longer than this (a gap, a new clock) is not waited out: the
# camera's watchdog would take the wait for a dropped stream.
MAX_PACING_WAIT_S = 2.0


class LiveCapture(Protocol):
    """``grab()`` decodes the next frame (False: a packet the decoder rejected, a read that timed
    out, or the end); ``retrieve()`` gives it in BGR, upright and with square pixels; ``decoded()``
    gives it as decoded where PyAV decodes it (for the shot cut finder), else None; ``ended``
    says no frame will follow; ``finite``, that the source has an end of its own (a file);
    ``rate``, its frames a second as it states them (0: unknown)."""

    @property
    def ended(self) -> bool: ...

    @property
    def finite(self) -> bool: ...

    @property
    def rate(self) -> float: ...

    def grab(self) -> bool: ...

    def retrieve(self) -> npt.NDArray[np.uint8] | None: ...

    def decoded(self) -> "av.VideoFrame | None": ...

    def release(self) -> None: ...


class StreamCapture:
    """A stream read with PyAV: demuxed and decoded frame by frame, converted only when retrieved."""

    def __init__(
        self, container: "av.container.InputContainer", on_disk: bool = False, max_side_px: int | None = None
    ) -> None:
        import av

        self._av = av
        self._to_bgr = SdrPictures()  # one for the stream: each frame's own would set up its conversion anew
        self._container = container
        self._stream = container.streams.video[0]
        self._stream.thread_type = "AUTO"
        self._packets = container.demux(self._stream)
        self._decoded: deque[av.VideoFrame] = deque()
        self._frame: av.VideoFrame | None = None
        self._ended = False
        # A file on disk has an end, whether or not FFmpeg gives it a length (a JPEG read by its
        # jpeg_pipe demuxer has none); so has a recording served over HTTP, which gives one.
        self.finite = on_disk or (container.duration is not None and container.format.name not in REAL_TIME_FORMATS)
        self._clock: tuple[float, float] | None = None  # a frame's time and when it was due, paced sources
        self._size: tuple[int, int] | None = None  # (width, height) every frame comes at: the first one's
        self.max_side_px = max_side_px

    @property
    def ended(self) -> bool:
        return self._ended and not self._decoded

    @property
    def rate(self) -> float:
        return float(self._stream.average_rate or self._stream.guessed_rate or 0)

    def decoded(self) -> "av.VideoFrame | None":
        return self._frame

    def grab(self) -> bool:
        while not self._decoded:
            if self._ended:
                return False
            try:
                packet = next(self._packets)
            except StopIteration:
                self._ended = True
                return False
            except (self._av.FFmpegError, OSError) as exc:  # the connection lost, or no data for the read timeout
                log.debug("stream ended: %s", ffmpeg_reason(exc))
                self._ended = True
                return False
            try:
                self._decoded.extend(packet.decode())
            except self._av.FFmpegError:  # lost or damaged in transit: read past, as a file's damage is
                return False
        self._frame = self._decoded.popleft()
        if self.finite:
            self._wait_until_due(self._frame.time)
        return True

    def _wait_until_due(self, frame_s: float | None) -> None:
        """Read no faster than the source's own times say, as a camera would send it."""
        if frame_s is None:
            return
        now = time.monotonic()
        ahead = frame_s - self._clock[0] - (now - self._clock[1]) if self._clock is not None else 0.0
        if self._clock is None or not 0 <= ahead <= MAX_PACING_WAIT_S:  # the first, or a jump: a new clock
            self._clock = (frame_s, now)
        elif ahead > 0:
            time.sleep(ahead)

    def retrieve(self) -> npt.NDArray[np.uint8] | None:
        """The frame in BGR (frames coded as fields too), upright and with square pixels, at the
        size of the stream's first frame (a stream whose resolution changes is scaled to it, as a
        file is: ``emostream.videofile``); an HDR frame tone-mapped, shrunk first to at most
        ``max_side_px`` where that is set."""
        frame = self._frame
        if frame is None:
            return None
        rotation = round(-frame.rotation) % 360  # PyAV's angle is counter-clockwise; OpenCV's, clockwise
        quarter_turned = rotation % 180 == 90
        if self._size is None:
            shown = (frame.height, frame.width) if quarter_turned else (frame.width, frame.height)  # upright
            sample_aspect = float(self._stream.codec_context.sample_aspect_ratio or 0)
            self._size = shown_size(*shown, sample_aspect, quarter_turned) or shown
        return as_shown(self._to_bgr, frame, rotation, self._size, self.max_side_px)

    def release(self) -> None:
        self._container.close()


def open_stream(
    url: str,
    transport: Literal["tcp", "udp"],
    open_timeout_s: float,
    read_timeout_s: float,
    max_side_px: int | None = None,
) -> tuple[StreamCapture | None, str]:
    """The stream at ``url`` opened for reading, or None and why (never the URL: it may hold a
    password); each wait on the network ends after the timeouts. HDR frames come no larger than
    ``max_side_px`` (the size the camera sends)."""
    import av

    options: dict[str, str] = {"rtsp_transport": transport} if url.lower().startswith(("rtsp://", "rtsps://")) else {}
    started = time.monotonic()
    try:
        container = av.open(url, options=options, timeout=(open_timeout_s, read_timeout_s))
    except (av.FFmpegError, OSError) as exc:
        if time.monotonic() - started >= open_timeout_s:  # cut off: FFmpeg then says "invalid data"
            return None, f"no answer within {open_timeout_s:g} s"
        return None, ffmpeg_reason(exc)
    if not container.streams.video:
        container.close()
        return None, "it has no video stream"
    return StreamCapture(container, on_disk=_on_disk(url), max_side_px=max_side_px), ""


def _on_disk(url: str) -> bool:
    if "://" in url:  # a network URL: a long one may not even be a valid path
        return False
    try:
        return Path(url).is_file()
    except (OSError, ValueError):
        return False


class DeviceCapture:
    """A local device (``/dev/videoN`` by its index) read with OpenCV."""

    def __init__(self, capture: "cv2.VideoCapture") -> None:
        self._capture = capture

    finite = False

    @property
    def ended(self) -> bool:
        return False  # a device that stops fails each read, and the caller's rule for that applies

    @property
    def rate(self) -> float:
        return float(self._capture.get(cv2.CAP_PROP_FPS) or 0)

    def decoded(self) -> "av.VideoFrame | None":
        return None  # OpenCV's frames: a webcam does not cut

    def grab(self) -> bool:
        return bool(self._capture.grab())

    def retrieve(self) -> npt.NDArray[np.uint8] | None:
        ok, image = self._capture.retrieve()
        return np.asarray(image, dtype=np.uint8) if ok and image is not None else None

    def release(self) -> None:
        self._capture.release()


def open_device(index: int) -> tuple[DeviceCapture | None, str]:
    capture = cv2.VideoCapture(index)
    if capture.isOpened():
        return DeviceCapture(capture), ""
    capture.release()
    return None, f"no video device {index}"
