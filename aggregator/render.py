"""``annotated.mp4``: the source video with each person's box, track, label and emotion bars.

A step of its own (``emostream render``, or ``analyze --render``) that re-reads the source video
beside the timeline already written; never done by workers. The source is read as the producer
read it (``emostream.videofile``: upright, each frame at its own time, past damaged stretches).
Every source frame is drawn: the faces of the nearest sampled frame in time are carried to the
frames between samples, up to one sampling interval away, also where the frame rate varies.
Encoded as H.264 (libx264, yuv420p, ``+faststart``) with PyAV's bundled FFmpeg, so browsers play
and seek it; each frame at its source time, and the same size (odd sizes gain one black pixel row
or column, which yuv420p needs). ``blur_faces`` blurs every face and keeps its label: the render
then shows no face. A file that is not the one analysed (another length or frame size than the
analysis recorded, such as another ``VID_0001.mp4``) is refused rather than drawn with the wrong
faces. ``timeline.json`` is read a frame at a time beside the source (``aggregator.streamedjson``):
loaded whole, an hour of a crowd took 1.4 GB.
"""

import bisect
import json
import logging
import time
from collections.abc import Iterator
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any

import av
import cv2
import numpy as np
import numpy.typing as npt
from av.video.reformatter import VideoReformatter

from aggregator import streamedjson
from aggregator.report import report_html
from aggregator.segments import Segment
from aggregator.writers import write_atomic
from emostream.errors import SourceError
from emostream.hdr import BT709, LIMITED_RANGE
from emostream.labels import EMOTION_COLORS, EMOTIONS
from emostream.videofile import Announced, FrameReader, announced_length, open_upright

log = logging.getLogger(__name__)

Image = npt.NDArray[np.uint8]
CRF = 23  # x264's default quality: faces and text stay sharp at a few Mbit/s
BAR_W_PX, BAR_H_PX = 6, 24  # one small bar per emotion under the box
TIME_BASE = Fraction(1, 90_000)  # MPEG's clock: 29.97 fps frames (33.3667 ms) fall on whole ticks
TIME_SLACK_MS = 0.5  # timeline times are whole ms, the source's may not be


@dataclass(frozen=True)
class RenderStats:
    frames: int
    seconds: float
    path: Path

    @property
    def fps(self) -> float:
        return self.frames / self.seconds if self.seconds > 0 else 0.0


def render_video(source: Path, folder: Path, blur_faces: bool = False) -> RenderStats:
    """Write ``folder/annotated.mp4`` from ``source`` and ``folder/timeline.json``; refresh report.html."""
    timeline = folder / "timeline.json"
    head, times = _head_and_times(timeline)
    stated = announced_length(source)  # also the exact frame rate, so the render keeps its timing
    _refuse_another_video(source, folder, _length_differs(stated, _read_json(folder / "summary.json")))
    capture = open_upright(str(source))
    if not capture.isOpened():
        raise SourceError(f"cannot open {source} to render it")
    fps = stated.rate or Fraction(capture.get(cv2.CAP_PROP_FPS) or head.get("source_fps") or 25)
    sampled = SampledFaces(timeline, times, 1000 / float(fps), float(head.get("box_scale", 1.0)))
    reader = FrameReader(source, capture, float(fps))
    target = folder / "annotated.mp4"
    partial = folder / ".annotated.mp4.tmp"
    started, pts = time.perf_counter(), -1
    to_yuv = VideoReformatter()  # one for the video: each frame's own would set its conversion up anew
    try:
        with av.open(str(partial), mode="w", format="mp4", options={"movflags": "+faststart"}) as container:
            stream: Any = None
            for t_ms, image in reader:
                if stream is None:
                    _refuse_another_video(source, folder, _size_differs(image, head))
                    stream = _video_stream(container, image, fps)
                annotate(image, sampled.faces_at(t_ms), sampled.scale, blur_faces)
                pts = max(pts + 1, round(t_ms * TIME_BASE.denominator / 1000))  # increasing, as muxers need
                _encode(container, stream, _yuv(to_yuv, _even(image)), pts)
            if stream is None:
                raise SourceError(f"{source}: no frame could be decoded to render")
            for packet in stream.encode(None):
                container.mux(packet)
        partial.replace(target)
    finally:
        capture.release()
        partial.unlink(missing_ok=True)
    _refresh_report(folder)
    stats = RenderStats(reader.frames, time.perf_counter() - started, target)
    log.info("rendered %s: %d frames in %.1f s (%.1f frames/s)", target, reader.frames, stats.seconds, stats.fps)
    return stats


def _head_and_times(timeline: Path) -> tuple[dict[str, Any], list[float]]:
    """The timeline's fields but its frames, and the times of its analysed frames (a first pass over it)."""
    head: dict[str, Any] = {}
    times: list[float] = []
    for name, value in _timeline_fields(timeline):
        if name != "frames":
            head[name] = value
        elif value["status"] == "ok":
            times.append(float(value["t_ms"]))
    return head, times


def _timeline_fields(timeline: Path) -> Iterator[tuple[str, Any]]:
    try:
        yield from streamedjson.fields(timeline, "frames")
    except (OSError, ValueError) as exc:
        raise SourceError(f"cannot read {timeline} (analyse the video first): {exc}") from exc


class SampledFaces:
    """Faces of the sampled frames, looked up for the source frames in time order. The timeline is read
    again alongside, a frame at a time: an hour of a crowd is 290 MB of them."""

    def __init__(self, timeline: Path, times: list[float], frame_ms: float, scale: float) -> None:
        self.timeline, self.times, self.scale = timeline, times, scale
        # Carry a sample's faces up to one sampling interval (a frame's, with a single sample);
        # in time, since where the frame rate varies an interval spans more frames or fewer.
        self.reach_ms = float(np.median(np.diff(self.times))) if len(self.times) > 1 else frame_ms
        self._read = self._analysed_faces()
        self._held: tuple[int, list[dict[str, Any]]] = (-1, [])  # the last read: its position, its faces

    def faces_at(self, t_ms: float) -> list[dict[str, Any]]:
        if not self.times:
            return []
        position = bisect.bisect_left(self.times, t_ms)
        nearby = [p for p in (position - 1, position) if 0 <= p < len(self.times)]
        nearest = min(nearby, key=lambda p: abs(self.times[p] - t_ms))
        return self._faces(nearest) if abs(self.times[nearest] - t_ms) <= self.reach_ms + TIME_SLACK_MS else []

    def _faces(self, position: int) -> list[dict[str, Any]]:
        if position < self._held[0]:  # a source whose times go back: read the timeline again
            self._read, self._held = self._analysed_faces(), (-1, [])
        while self._held[0] < position:
            faces = next(self._read, None)
            if faces is None:
                raise SourceError(f"{self.timeline} changed while the video was rendered: render it again")
            self._held = (self._held[0] + 1, faces)
        return self._held[1]

    def _analysed_faces(self) -> Iterator[list[dict[str, Any]]]:
        for name, frame in _timeline_fields(self.timeline):
            if name == "frames" and frame["status"] == "ok":
                yield list(frame["faces"])


def annotate(image: Image, faces: list[dict[str, Any]], scale: float, blur_faces: bool) -> None:
    """Draw (in place) each face's box, ``P<track> <label>`` and its smoothed probabilities."""
    height, width = image.shape[:2]
    for face in faces:
        x, y, w, h = (round(v * scale) for v in face["box"])
        x, y = max(0, x), max(0, y)
        w, h = min(w, width - x), min(h, height - y)
        if w < 2 or h < 2:
            continue
        if blur_faces:
            _blur(image, x, y, w, h)
        if face.get("track") is None:  # a phantom: left out of the people, so not labelled
            continue
        color = _bgr(EMOTION_COLORS[face["label"]])
        cv2.rectangle(image, (x, y), (x + w, y + h), color, 2)
        _label(image, f"P{face['track']} {face['label']}", x, y, color)
        _bars(image, face["smoothed"], x, y + h + 4)


def _blur(image: Image, x: int, y: int, w: int, h: int) -> None:
    kernel = max(3, (max(w, h) // 3) | 1)  # strong enough that no feature survives
    image[y : y + h, x : x + w] = cv2.GaussianBlur(image[y : y + h, x : x + w], (kernel, kernel), 0)


def _label(image: Image, text: str, x: int, y: int, color: tuple[int, int, int]) -> None:
    (tw, th), base = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, 0.5, 1)
    top = max(0, y - th - base - 4)
    cv2.rectangle(image, (x, top), (x + tw + 6, top + th + base + 4), color, -1)
    cv2.putText(image, text, (x + 3, top + th + 2), cv2.FONT_HERSHEY_SIMPLEX, 0.5, (0, 0, 0), 1, cv2.LINE_AA)


def _bars(image: Image, smoothed: dict[str, float], x: int, y: int) -> None:
    height, width = image.shape[:2]
    if y + BAR_H_PX >= height:
        return
    for n, emotion in enumerate(EMOTIONS):
        left = x + n * (BAR_W_PX + 1)
        if left + BAR_W_PX >= width:
            return
        cv2.rectangle(image, (left, y), (left + BAR_W_PX, y + BAR_H_PX), (40, 40, 40), -1)
        filled = round(BAR_H_PX * float(smoothed[emotion]))
        if filled:
            cv2.rectangle(
                image, (left, y + BAR_H_PX - filled), (left + BAR_W_PX, y + BAR_H_PX), _bgr(EMOTION_COLORS[emotion]), -1
            )


def _length_differs(now: Announced, summary: dict[str, Any]) -> str | None:
    """How the source's stated length differs from the analysed video's (None: alike, or unknown)."""
    analysed = summary.get("decoding") or {}
    was_ms, was_frames = analysed.get("announced_ms", 0), analysed.get("announced_frames", 0)
    if was_frames and now.frames and now.frames != was_frames:
        return f"{now.frames} frames long, not {was_frames}"
    if was_ms and now.ms and abs(round(now.ms) - was_ms) > 1:  # the summary keeps whole ms
        return f"{now.ms / 1000:.2f} s long, not {was_ms / 1000:.2f} s"
    return None


def _size_differs(image: Image, head: dict[str, Any]) -> str | None:
    height, width = image.shape[:2]
    was = (head.get("width"), head.get("height"))
    return f"{width}x{height}, not {was[0]}x{was[1]}" if None not in was and was != (width, height) else None


def _refuse_another_video(source: Path, folder: Path, difference: str | None) -> None:
    if difference:
        raise SourceError(
            f"{source} is not the video analysed as {folder.name}: it is {difference}. "
            "Render the file that was analysed, or analyse this one first"
        )


def _video_stream(container: Any, image: Image, fps: Fraction) -> Any:
    stream = container.add_stream("libx264", rate=fps.limit_denominator(1001))
    height, width = _even(image).shape[:2]
    stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
    stream.options = {"crf": str(CRF), "preset": "veryfast"}
    stream.codec_context.time_base = stream.time_base = TIME_BASE  # frames keep their source times
    # The tags x264 writes in the stream, for players. Untagged, a player guesses: Chrome takes BT.601
    # under 720 lines and BT.709 from 720 up, FFmpeg's conversion (and so our frames before) BT.601 at
    # any size, and an HD render showed shifted colours.
    context = stream.codec_context
    context.colorspace = context.color_primaries = context.color_trc = BT709
    context.color_range = LIMITED_RANGE
    return stream


def _yuv(to_yuv: VideoReformatter, image: Image) -> av.VideoFrame:
    """``image`` in the stream's YUV: BT.709's matrix, video range, tagged so."""
    frame = av.VideoFrame.from_ndarray(image, format="bgr24")
    frame.color_primaries = frame.color_trc = BT709  # what the pictures are (emostream.hdr makes HDR SDR)
    return to_yuv.reformat(frame, format="yuv420p", dst_colorspace=BT709, dst_color_range=LIMITED_RANGE)


def _encode(container: Any, stream: Any, frame: av.VideoFrame, pts: int) -> None:
    frame.pts, frame.time_base = pts, TIME_BASE
    for packet in stream.encode(frame):
        container.mux(packet)


def _even(image: Image) -> Image:
    height, width = image.shape[:2]
    if height % 2 == 0 and width % 2 == 0:
        return image
    return cv2.copyMakeBorder(image, 0, height % 2, 0, width % 2, cv2.BORDER_CONSTANT, value=0)  # type: ignore[return-value]


def _refresh_report(folder: Path) -> None:
    """report.html again, now with the video (its other inputs are the files already written)."""
    summary = _read_json(folder / "summary.json")
    segments = [
        Segment(**{k: v for k, v in s.items() if k != "video_id"}) for s in _read_json(folder / "segments.json")
    ]
    png = (folder / "timeline.png").read_bytes()
    write_atomic(folder / "report.html", report_html(summary, segments, png, has_video=True))


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise SourceError(f"cannot read {path} (analyse the video first): {exc}") from exc


def _bgr(hex_rgb: str) -> tuple[int, int, int]:
    r, g, b = (int(hex_rgb[i : i + 2], 16) for i in (1, 3, 5))
    return b, g, r
