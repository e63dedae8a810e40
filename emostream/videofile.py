"""Reading a video file as players show it: upright, each frame at its own presentation time.

The producer (``producer.source``) and the render (``aggregator.render``) both read the source
video, and a render's boxes land on the right frames only if both read it the same way.

- Phones store portrait video as sideways frames plus a display rotation; frames come turned
  upright (OpenCV's default today, set so that no version or build changes it).
- Times are the container's timestamps, not index / fps: phones and screen recorders write
  variable frame rates, where frame 60 of a clip averaging 15 fps may be shown at 2 s rather
  than at 4.
- A damaged stretch does not end the video: each packet the decoder rejects is counted and read
  past. What was lost is a ``DecodeReport``.
- Pixels are made square: a video stored anamorphically (AVCHD and HDV's 1440x1080 shown at
  16:9, DV and DVD's 720x576) is shown by players at its sample aspect ratio, and read here at
  that size. Read as stored, faces came out squeezed: on the stage clip stored at 1440x1080, 152
  faces were found where its square-pixel copy gives 211, and 23 % of the faces matched had
  another emotion.
- Frames are decoded and converted by PyAV. OpenCV opens the file to say what it holds (size,
  rate, rotation, pixel shape), but its conversion refuses frames coded as fields (1080i
  camcorders, DV, TV captures) and hands back a black picture, or the last one it converted, as if
  it had read it; a broadcast recording may switch to fields at any frame, so no check of its
  first frames is enough. On progressive videos PyAV gives OpenCV's times and pixels.
- A frame the caller will not use (the producer keeps one in three of a 30 fps video) is decoded,
  for its time, but not converted to BGR (1.2 ms of CPU less a skipped 1080p frame, a third of its
  cost).
"""

import contextlib
import logging
import math
import tempfile
from collections.abc import Callable, Iterator
from fractions import Fraction
from pathlib import Path
from typing import TYPE_CHECKING, NamedTuple

import cv2
import numpy as np
import numpy.typing as npt

from emostream.decoding import DecodeReport
from emostream.errors import SourceError
from emostream.hdr import SdrPictures, is_hdr, shrunk_size
from emostream.mediafiles import display_name

if TYPE_CHECKING:
    import av

log = logging.getLogger(__name__)


def open_upright(path: str | Path) -> "cv2.VideoCapture":
    with _utf8_path(Path(path)) as readable:  # FFmpeg has the file open once the capture is made
        capture = cv2.VideoCapture(readable, cv2.CAP_FFMPEG)
    capture.set(cv2.CAP_PROP_ORIENTATION_AUTO, 1)
    return capture


@contextlib.contextmanager
def _utf8_path(path: Path) -> Iterator[str]:
    """``path`` as a str OpenCV can take. A file whose name is not UTF-8 (a Latin-1 name out of an
    old zip: ``R\\xe9union.mp4``) reaches Python with lone surrogates, on which OpenCV's binding
    crashes the process (SIGSEGV); such a file is opened through a symlink of a UTF-8 name."""
    if _is_utf8(str(path)):
        yield str(path)
        return
    with tempfile.TemporaryDirectory(prefix="emostream-open-") as folder:
        link = Path(folder) / ("video" + (path.suffix if _is_utf8(path.suffix) else ""))  # FFmpeg's hint
        link.symlink_to(path.resolve())
        yield str(link)


def _is_utf8(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def square_pixel_size(capture: "cv2.VideoCapture") -> tuple[int, int] | None:
    """(width, height) at which the upright frames show with square pixels, as players show them;
    None where they already do (or the container does not say)."""
    numerator, denominator = capture.get(cv2.CAP_PROP_SAR_NUM), capture.get(cv2.CAP_PROP_SAR_DEN)
    if numerator <= 0 or denominator <= 0:
        return None
    width, height = int(capture.get(cv2.CAP_PROP_FRAME_WIDTH)), int(capture.get(cv2.CAP_PROP_FRAME_HEIGHT))
    quarter_turned = int(capture.get(cv2.CAP_PROP_ORIENTATION_META)) % 180 == 90
    return shown_size(width, height, numerator / denominator, quarter_turned)


def frame_size(capture: "cv2.VideoCapture") -> tuple[int, int] | None:
    """(width, height) of the frames as they are read: upright, with square pixels; None where
    OpenCV's probe does not say."""
    width, height = int(capture.get(cv2.CAP_PROP_FRAME_WIDTH)), int(capture.get(cv2.CAP_PROP_FRAME_HEIGHT))
    return square_pixel_size(capture) or ((width, height) if width > 0 and height > 0 else None)


def shown_size(width: int, height: int, sample_aspect: float, quarter_turned: bool) -> tuple[int, int] | None:
    """(width, height) at which upright frames of ``width`` x ``height``, whose stored pixels are
    ``sample_aspect`` as wide as they are tall, show with square pixels; None where they already do.
    Turned a quarter upright, a stored pixel's width is now its height."""
    if sample_aspect <= 0 or sample_aspect == 1:
        return None
    if quarter_turned:
        return width, max(1, round(height * sample_aspect))
    return max(1, round(width * sample_aspect)), height


def upright(image: "cv2.typing.MatLike", rotation: int, size: tuple[int, int] | None) -> npt.NDArray[np.uint8]:
    """``image`` turned ``rotation`` degrees clockwise (a display rotation), then shown at ``size``
    (width, height; None: as it is)."""
    if rotation in ROTATIONS:
        image = cv2.rotate(image, ROTATIONS[rotation])
    if size is not None and (image.shape[1], image.shape[0]) != size:
        image = resized(image, size)
    return np.ascontiguousarray(image, dtype=np.uint8)


ROTATIONS = {90: cv2.ROTATE_90_CLOCKWISE, 180: cv2.ROTATE_180, 270: cv2.ROTATE_90_COUNTERCLOCKWISE}


def as_shown(
    to_bgr: SdrPictures, frame: "av.VideoFrame", rotation: int, size: tuple[int, int], hdr_max_side_px: int | None
) -> npt.NDArray[np.uint8]:
    """``frame`` in BGR, turned ``rotation`` degrees clockwise and shown at ``size`` (width,
    height, upright); an HDR frame tone-mapped, and no larger than ``hdr_max_side_px``, reached by
    shrinking it before its tone mapping rather than after (``emostream.hdr``)."""
    if is_hdr(frame) and (smaller := shrunk_size(*size, hdr_max_side_px)):
        size = smaller
    stored = (size[1], size[0]) if rotation % 180 == 90 else size
    return upright(to_bgr.bgr(frame, shrink_to=stored), rotation, size)


def resized(image: "cv2.typing.MatLike", size: tuple[int, int]) -> "cv2.typing.MatLike":
    """``image`` at ``size`` (width, height): area-averaged when it shrinks, interpolated when it grows."""
    shrinking = size[0] * size[1] < image.shape[0] * image.shape[1]
    return cv2.resize(image, size, interpolation=cv2.INTER_AREA if shrinking else cv2.INTER_LINEAR)


class FrameClock:
    """The presentation time of each frame read, in ms from the stream's start.

    A frame without a time (none reported, or a negative or infinite one) is placed one frame at
    ``nominal_fps`` after the previous one. A frame whose time is not after the previous frame's
    is placed half a frame after it, and the stream's clock is taken to continue from there: files
    joined end to end (each clock starting again at 0) keep their own times, shifted to follow on,
    and a duplicated time shifts nothing after it. Before, every frame after such a step was not
    after the frame placed before it either, so all were placed, and counted, one by one: a
    one-frame step back in a joined recording gave "314 of 464 frames had no usable time". Where
    a later frame's own time is after the previous one's again (the old clock resumed past one
    stray time), it is taken as it is. Frames placed are counted in ``untimed``."""

    def __init__(self, nominal_fps: float) -> None:
        self.interval_ms = 1000.0 / nominal_fps
        self.previous_ms = -math.inf
        self.offset_ms = 0.0  # added to reported times since the clock last stepped back
        self.untimed = 0

    def time_of(self, reported: float) -> float:
        """The time of the next frame, which its stream gives as ``reported`` ms (NaN: none)."""
        if not (math.isfinite(reported) and reported >= 0):
            self.untimed += 1
            self.previous_ms = self.previous_ms + self.interval_ms if math.isfinite(self.previous_ms) else 0.0
        elif reported > self.previous_ms:  # the stream's own clock
            self.previous_ms, self.offset_ms = reported, 0.0
        elif reported + self.offset_ms > self.previous_ms:  # a clock that stepped back, followed on
            self.previous_ms = reported + self.offset_ms
        else:  # it steps back (again): it continues half a frame after the previous one
            self.untimed += 1
            self.previous_ms += self.interval_ms / 2
            self.offset_ms = self.previous_ms - reported
        return self.previous_ms


class RateWatch:
    """The longest interval between frames of a video, and whether the rest keep its nominal rate.

    A hole in a steady video is a stretch lost: MPEG-TS resyncs past damage without a decoding
    error. In a variable-rate one (phones, screen recorders) a long interval is ordinary."""

    STEADY_SHARE = 0.95  # of intervals within 10 % of the nominal one
    MIN_INTERVALS = 20
    HOLE_MIN_MS = 1000.0  # and at least HOLE_MIN_FRAMES frames' time
    HOLE_MIN_FRAMES = 10

    def __init__(self, nominal_fps: float) -> None:
        self.nominal_ms = 1000.0 / nominal_fps
        self.previous: float | None = None
        self.intervals = self.regular = 0
        self.longest = (0.0, 0.0)  # (the frame before it, its length)

    def observe(self, t_ms: float) -> None:
        if self.previous is not None:
            interval = t_ms - self.previous
            self.intervals += 1
            if abs(interval - self.nominal_ms) <= 0.1 * self.nominal_ms:
                self.regular += 1
            elif interval > self.longest[1]:
                self.longest = (self.previous, interval)
        self.previous = t_ms

    def hole(self) -> tuple[int, int]:
        """(start, length) in ms of the stretch without a frame, if the video is steady around it; (0, 0)."""
        before, interval = self.longest
        steady = self.intervals >= self.MIN_INTERVALS and self.regular >= self.STEADY_SHARE * self.intervals
        if not steady or interval < max(self.HOLE_MIN_MS, self.HOLE_MIN_FRAMES * self.nominal_ms):
            return 0, 0
        return round(before + self.nominal_ms), round(interval - self.nominal_ms)


class Announced(NamedTuple):
    """What a container states of its video stream; 0 (None) for what it does not."""

    ms: float
    frames: int
    rate: Fraction | None = None  # the exact average frame rate (30000/1001, not 29.97)


Glance = Callable[[int, float, "av.VideoFrame"], None]


class FrameReader:
    """The frames of the video at ``path``: ``(t_ms, BGR image)`` in presentation order, past any
    packet the decoder rejects; ``frames``, ``undecodable`` and ``clock.untimed`` count them.
    ``sampled(wanted)`` gives every frame's time but the image only of those ``wanted``.

    Turned upright and made square from what ``capture`` (OpenCV, open on the same file) says of
    the video, so the frames are the size its probe announced, all of them: a frame of another
    size (a recorded video call whose resolution followed the network, a broadcast switching to
    HD for a programme) is scaled to it, as a player's window shows it. Its boxes would otherwise
    be in other pixels than the timeline says, and each change of size started a new person.
    HDR frames are tone-mapped to SDR (``emostream.hdr``), and no larger than ``hdr_max_side_px``
    where a caller shrinks them anyway. Frames coded as fields are converted as they are (combing
    and all: on a 1080i copy of the stage clip, deinterlacing with bwdif or yadif matched the
    progressive analysis no better)."""

    def __init__(
        self, path: Path, capture: "cv2.VideoCapture", nominal_fps: float, hdr_max_side_px: int | None = None
    ) -> None:
        self.path = path
        self.clock = FrameClock(nominal_fps)
        self.frames = 0
        self.undecodable = 0  # packets of a damaged stretch
        self.last_ms: float | None = None
        self.rate = RateWatch(nominal_fps)
        self.rotation = round(capture.get(cv2.CAP_PROP_ORIENTATION_META)) % 360
        self.size = frame_size(capture)  # (width, height) every frame comes at
        self.hdr_max_side_px = hdr_max_side_px

    def __iter__(self) -> Iterator[tuple[float, npt.NDArray[np.uint8]]]:
        for t_ms, image in self.sampled(lambda _: True):
            assert image is not None  # every frame is wanted
            yield t_ms, image

    def sampled(
        self, wanted: Callable[[float], bool], glance: Glance | None = None
    ) -> Iterator[tuple[float, npt.NDArray[np.uint8] | None]]:
        """Each frame's time, with its image where ``wanted(t_ms)`` (called once a frame, in order).
        ``glance(index, t_ms, frame)`` is shown every decoded frame, as decoded (the producer's cut finder)."""
        import av

        to_bgr = SdrPictures()  # one for the video: each frame's own would set its conversions up anew
        name = display_name(self.path)
        try:
            container = av.open(str(self.path))
        except av.FFmpegError as exc:  # OpenCV's FFmpeg opened it; PyAV's is a build of its own
            raise SourceError(f"{name}: its video cannot be decoded ({ffmpeg_reason(exc)})") from None
        with container:
            if not container.streams.video:
                raise SourceError(f"{name}: its video cannot be decoded (no video stream)")
            stream = container.streams.video[0]  # the first, as OpenCV's probe reads
            stream.thread_type = "AUTO"  # frame threads, as OpenCV decodes
            start, unit_ms = stream.start_time or 0, float(stream.time_base or 0) * 1000
            for packet in _packets_until_unreadable(container, stream, name):
                try:
                    frames = packet.decode()
                except av.FFmpegError:  # a packet the decoder rejects
                    self.undecodable += 1
                    continue
                for frame in frames:
                    reported = (frame.pts - start) * unit_ms if frame.pts is not None and unit_ms else math.nan
                    t_ms = self.clock.time_of(reported)
                    image = self._picture(to_bgr, frame) if wanted(t_ms) else None
                    if glance is not None:
                        glance(self.frames, t_ms, frame)
                    self.last_ms = t_ms
                    self.rate.observe(t_ms)
                    yield t_ms, image
                    self.frames += 1

    def _picture(self, to_bgr: SdrPictures, frame: "av.VideoFrame") -> npt.NDArray[np.uint8]:
        quarter_turned = self.rotation % 180 == 90
        size = self.size or ((frame.height, frame.width) if quarter_turned else (frame.width, frame.height))
        return as_shown(to_bgr, frame, self.rotation, size, self.hdr_max_side_px)

    def report(self, announced: Announced) -> DecodeReport:
        decoded_ms = 0.0 if self.last_ms is None else self.last_ms + self.clock.interval_ms
        gap_start_ms, gap_ms = self.rate.hole()
        return DecodeReport(
            frames_decoded=self.frames,
            undecodable_packets=self.undecodable,
            untimed_frames=self.clock.untimed,
            decoded_ms=round(decoded_ms),
            announced_ms=round(announced.ms),
            announced_frames=announced.frames,
            gap_start_ms=gap_start_ms,
            gap_ms=gap_ms,
        )


def _packets_until_unreadable(
    container: "av.container.InputContainer", stream: "av.VideoStream", name: str
) -> "Iterator[av.Packet[av.VideoStream]]":
    """The stream's packets, the last, empty one flushing the decoder; a container that cannot be
    read further (an I/O error, damage its demuxer cannot resync past) ends them, as a file cut
    short does, and the report then says how much of the video was not decoded."""
    import av

    packets = container.demux(stream)
    while True:
        try:
            yield next(packets)
        except StopIteration:
            return
        except av.FFmpegError as exc:
            log.warning("%s: reading stopped: %s", name, ffmpeg_reason(exc))
            return


def ffmpeg_reason(exc: Exception) -> str:
    """What FFmpeg says went wrong, without its message's file name or URL (it may hold a password)."""
    return getattr(exc, "strerror", None) or type(exc).__name__


MAX_PLAUSIBLE_FPS = 300.0  # above this, a stated rate is a time base's (a raw DV file says 60000, MKV 1000)


def plausible_rate(average: Fraction | None, guessed: Fraction | None) -> Fraction | None:
    """The stream's frame rate: its average, unless that is a time base's rather than a rate (a raw DV
    file states 60000 fps, a screen recorder's MKV 1000) and FFmpeg's guess from its frames is not."""
    if average and average > MAX_PLAUSIBLE_FPS and guessed and 0 < guessed <= MAX_PLAUSIBLE_FPS:
        return guessed
    return average or guessed or None


def _fraction(rate: object) -> Fraction | None:
    return Fraction(rate) if isinstance(rate, (Fraction, int)) and rate else None  # PyAV gives Fractions


def announced_length(path: Path) -> Announced:
    """The video stream's duration, frame count and frame rate as the container states them.

    Only the video stream's own duration: a container's also covers an audio track that may run
    longer, which would read as a truncated video. Matroska and WebM state it in a per-track tag
    (FFmpeg, OBS and mkvmerge write ``DURATION``; mkvmerge also ``NUMBER_OF_FRAMES``), at the file's
    end, so a file cut short has lost it; FFmpeg fills their streams' own duration field from the
    container's, which is not the track's."""
    import av  # here, not at the top: 30 to 75 ms of import for processes that never call this

    try:
        with av.open(str(path)) as container:
            stream = container.streams.video[0]
            tags = {key.upper().split("-")[0]: value for key, value in stream.metadata.items()}
            frames = max(stream.frames, 0) or _whole_number(tags.get("NUMBER_OF_FRAMES", ""))
            if "matroska" in container.format.name:  # and WebM: a track states its length only in a tag
                ms = _clock_ms(tags.get("DURATION", ""))
            elif stream.duration is not None and stream.time_base is not None:
                ms = float(stream.duration * stream.time_base) * 1000
            else:
                ms = 0.0
            if not ms and container.duration is not None and len(container.streams) == 1:
                ms = container.duration / 1000  # microseconds
            return Announced(ms, frames, plausible_rate(_fraction(stream.average_rate), _fraction(stream.guessed_rate)))
    except (av.FFmpegError, IndexError) as exc:
        log.debug("%s: no duration from the container (%s)", path.name, exc)
    return Announced(0.0, 0)


def _clock_ms(text: str) -> float:
    """``00:01:02.500000000`` (Matroska's DURATION tag, as FFmpeg and mkvmerge write it) in ms; 0 if not."""
    hours, _, rest = text.partition(":")
    minutes, _, seconds = rest.partition(":")
    try:
        return (int(hours) * 3600 + int(minutes) * 60 + float(seconds)) * 1000
    except ValueError:
        return 0.0


def _whole_number(text: str) -> int:
    return int(text) if text.isdigit() else 0


def container_problem(path: Path) -> str | None:
    """Why FFmpeg cannot read ``path`` as a video (None: it can), asked quietly: OpenCV would print
    its warnings each time (the uploads watcher asks every poll while a copy may be arriving)."""
    import av

    try:
        with av.open(str(path)) as container:
            return None if container.streams.video else "it has no video stream"
    except av.FFmpegError as exc:
        return f"FFmpeg says: {ffmpeg_reason(exc)}"


def why_unopenable(path: Path) -> str:
    """What FFmpeg makes of a file OpenCV would not open: the reason a user can act on."""
    import av

    try:
        with av.open(str(path)) as container:
            kinds = sorted({stream.type for stream in container.streams})
            if "video" not in kinds:
                return f"it has no video stream, only {' and '.join(kinds)}" if kinds else "it has no stream at all"
            return f"its video ({container.streams.video[0].codec_context.name}) could not be opened"
    except av.FFmpegError as exc:
        return f"FFmpeg says: {ffmpeg_reason(exc)}"
