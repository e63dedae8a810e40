"""Live cameras: RTSP (over TCP by default), any other stream FFmpeg opens (read with PyAV), or a local device index.

LIVE POLICY: a live source never waits for the workers. Each camera has its own
frames stream; after every push, frames that no worker has taken yet beyond
``backlog_frames`` are deleted, oldest first, and counted as dropped (frames in a
worker's hands are never dropped). Frames carry their capture wall-clock time.

Robustness, per camera and on its own thread (one dead camera never stalls
another): an open timeout and a read timeout; a watchdog that treats "no frame
for ``stall_s``" as a drop; reconnection with capped exponential back-off and
jitter; a restart budget of consecutive failed attempts after which the camera
is marked ``failed`` instead of spinning. States: connecting, running,
reconnecting, failed, stopped, kept in ``emo:camera:{id}`` for status and metrics.
Credentials in URLs are redacted everywhere they could be shown.
"""

import logging
import os
import threading
import time
import tomllib
from collections import Counter
from pathlib import Path
from typing import Literal

import cv2
import numpy as np
import numpy.typing as npt
import redis
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from emostream import keys
from emostream import metrics as m
from emostream.errors import ConfigError, ServiceError
from emostream.lifecycle import Backoff, consumer_name, describe_outage, recoverable, report_health
from emostream.redact import redact_text, redact_url
from emostream.redisconn import ensure_group, stream_entries
from emostream.schema import VIDEO_ID_PATTERN, Frame, FrameMeta, SourceKind, encode_frame
from emostream.smallfaces import sent_size
from producer.livecapture import LiveCapture, open_device, open_stream
from producer.producer import encode_jpeg
from producer.shots import CameraCuts

log = logging.getLogger(__name__)

# Consecutive failed reads taken as a dropped stream: a device that stops fails each read at once.
END_OF_STREAM_FAILED_READS = 1000
FILE_LOOP_MIN_S = 1.0  # a file standing in for a camera is read again at most this often (a still image)

CameraState = Literal["connecting", "running", "reconnecting", "failed", "stopped"]
STATES: tuple[CameraState, ...] = ("connecting", "running", "reconnecting", "failed", "stopped")


class CameraConfig(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    camera_id: str = Field(pattern=VIDEO_ID_PATTERN)
    url: str = Field(repr=False, description="rtsp://..., another URL FFmpeg opens, or a device index")
    fps: float = Field(keys.CAMERA_FPS, gt=0, le=30)
    backlog_frames: int = Field(keys.CAMERA_BACKLOG_FRAMES, ge=1)
    transport: Literal["tcp", "udp"] = "tcp"
    open_timeout_s: float = Field(10.0, gt=0)
    stall_s: float = Field(5.0, gt=0, description="watchdog: no frame for this long is a drop")
    backoff_base_s: float = Field(0.5, gt=0)
    backoff_cap_s: float = Field(15.0, gt=0)
    restart_budget: int = Field(8, ge=1, description="consecutive failed attempts before the camera is failed")
    jpeg_quality: int = Field(85, ge=10, le=100)
    max_frame_side_px: int = Field(keys.MAX_FRAME_SIDE_PX, ge=64)
    find_cuts: bool = Field(True, description="find shot cuts (a broadcast's): people's tracks start afresh at each")

    @property
    def url_redacted(self) -> str:
        return redact_url(self.url)

    @property
    def source_kind(self) -> SourceKind:
        if self.url.isdigit():
            return "device"
        return "rtsp" if self.url.lower().startswith(("rtsp://", "rtsps://")) else "url"


class CamerasFile(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    cameras: list[CameraConfig] = Field(min_length=1)


def load_cameras(path: Path) -> list[CameraConfig]:
    """Cameras from a TOML file: ``[[cameras]]`` tables with ``camera_id``, ``url`` and options."""
    try:
        data = tomllib.loads(path.read_text())
        cameras = CamerasFile.model_validate(data).cameras
    except OSError as exc:
        raise ConfigError(f"cannot read camera config {path}: {exc.strerror}") from None
    except (tomllib.TOMLDecodeError, ValidationError) as exc:
        raise ConfigError(f"invalid camera config {path}: {redact_text(str(exc).splitlines()[0])}") from None
    ids = [c.camera_id for c in cameras]
    if len(set(ids)) != len(ids):
        raise ConfigError(f"camera config {path}: camera ids must be unique")
    return cameras


def open_capture(config: CameraConfig) -> tuple[LiveCapture | None, str]:
    """The camera opened for reading, or None and why; blocks at most about ``open_timeout_s``."""
    if config.source_kind == "device":
        return open_device(int(config.url))
    return open_stream(config.url, config.transport, config.open_timeout_s, config.stall_s, config.max_frame_side_px)


class CameraRunner:
    """One camera on its own thread: connect, sample, push, reconnect, give up after the budget."""

    def __init__(self, config: CameraConfig, client: "redis.Redis") -> None:
        self.config = config
        self.client = client
        self.state: CameraState = "connecting"
        self.error = ""
        self.reconnects = 0
        self.frames_sent = 0
        self.frames_dropped = 0
        self.undecodable_packets = 0
        self._stopping = threading.Event()
        self._next_index = 0
        self._thread = threading.Thread(target=self._run, name=f"camera-{config.camera_id}", daemon=True)
        self._stream = keys.camera_frames_stream(config.camera_id)
        self._key = keys.camera_key(config.camera_id)
        self._drop_counter = m.CAMERA_FRAMES_DROPPED.labels(config.camera_id)
        self._registered = False
        self._redis_lost_at: float | None = None  # when frames began to be dropped for want of Redis
        self._dropped_since_lost = 0
        self._unrecorded: Counter[str] = Counter()  # counts not yet added to the camera's hash
        self._picture: tuple[int, int] | None = None  # (width, height) last recorded

    def start(self) -> None:
        """Its thread: registered first (``register``), or this registers it now."""
        if not self._registered:
            self.register()
        self._thread.start()

    def register(self) -> None:
        """Its entry, index and consumer group in Redis: each step idempotent, so this may be retried."""
        self._register()
        self._registered = True

    def request_stop(self) -> None:
        self._stopping.set()

    def join(self, timeout: float | None = None) -> None:
        self._thread.join(timeout)

    @property
    def alive(self) -> bool:
        return self._thread.is_alive()

    def _register(self) -> None:
        c = self.config
        ensure_group(self.client, self._stream, keys.WORKERS_GROUP)  # so frames wait for workers from the start
        self._next_index = int(self.client.hget(self._key, "next_index") or 0)  # indices continue across restarts
        self.client.sadd(keys.CAMERAS_INDEX, c.camera_id)
        fields = {"url": c.url_redacted, "source_kind": c.source_kind, "fps": c.fps, "backlog_frames": c.backlog_frames}
        self.client.hset(self._key, mapping=fields)  # type: ignore[arg-type]
        m.init_camera_labels(c.camera_id)

    def _run(self) -> None:
        backoff = Backoff(self.config.backoff_base_s, self.config.backoff_cap_s)
        failures = 0
        while not self._stopping.is_set():
            self._set_state("connecting" if self.reconnects == 0 and failures == 0 else "reconnecting")
            capture, why = open_capture(self.config)
            if capture is None:
                failures += 1
                self.error = f"cannot open {self.config.url_redacted}: {why} (attempt {failures})"
            else:
                opened = time.monotonic()
                frames = self._stream_frames(capture)
                capture.release()
                if self._stopping.is_set():
                    break
                if frames and capture.finite and capture.ended:  # a file standing in for a camera: not a drop
                    failures, self.error = 0, ""
                    backoff.reset()
                    log.info("camera %s: %s came to its end after %d frames; reading it again from its start",
                             self.config.camera_id, self.config.url_redacted, frames)  # fmt: skip
                    self._stopping.wait(FILE_LOOP_MIN_S - (time.monotonic() - opened))  # negative: no wait
                    continue
                if frames:
                    failures, self.error = 0, f"stream from {self.config.url_redacted} dropped after {frames} frames"
                    backoff.reset()
                else:
                    failures += 1
                    self.error = f"{self.config.url_redacted} opened but sent no frame (attempt {failures})"
                self.reconnects += 1
                m.CAMERA_RECONNECTS.labels(self.config.camera_id).inc()
                self._record({"reconnects": self.reconnects})
            if failures >= self.config.restart_budget:
                self._set_state("failed", f"gave up after {failures} failed attempts: {self.error}")
                log.error("camera %s failed: %s", self.config.camera_id, self.error)
                return
            delay = backoff.next_delay()
            log.warning("camera %s: %s; reconnecting in %.1f s", self.config.camera_id, self.error, delay)
            self._stopping.wait(delay)
        self._set_state("stopped")

    def _stream_frames(self, capture: LiveCapture) -> int:
        """Read until the stream drops or a stop is requested; returns the frames read.

        A failed read is a packet the decoder rejected (lost or damaged in transit: skipped and
        counted, as ``emostream.videofile`` does for files), the end of the stream, or the read
        timeout. The stream has dropped once it ended, after no frame for ``stall_s`` (the
        watchdog), or after a long run of failed reads."""
        self._set_state("running")
        period = 1.0 / self.config.fps
        next_due, frames, failed = time.monotonic(), 0, 0
        last_frame = time.monotonic()
        cuts = CameraCuts(capture.rate) if self.config.find_cuts else None  # each connection afresh
        while not self._stopping.is_set():
            ok = capture.grab()  # returns False after the read timeout (the watchdog's first line)
            now = time.monotonic()
            if now - last_frame > self.config.stall_s:
                return frames
            if not ok:
                failed += 1
                if capture.ended or failed >= END_OF_STREAM_FAILED_READS:
                    return frames
                continue
            if failed:
                self._count_undecodable(failed)
                failed = 0
            last_frame = now
            frames += 1
            m.FRAMES_READ.labels(self.config.source_kind).inc()
            if cuts is not None:
                self._record_cuts(cuts.observe(frames, capture.decoded(), self._next_index))
            if now < next_due:
                continue
            next_due = max(next_due + period, now)  # after a hiccup, resume the rate instead of bursting
            image = capture.retrieve()  # upright, with square pixels
            if image is not None and self._push(image) and cuts is not None:
                cuts.sent(frames, self._next_index - 1)
        return frames

    def _record_cuts(self, shot_starts: list[int]) -> None:
        """The frame indices at which new shots began, for the aggregator (``keys.camera_cuts_key``)."""
        if not shot_starts:
            return
        key = keys.camera_cuts_key(self.config.camera_id)
        try:
            with self.client.pipeline(transaction=True) as pipe:
                pipe.zadd(key, {str(index): index for index in shot_starts})
                pipe.zremrangebyrank(key, 0, -keys.CAMERA_CUTS_KEPT - 1)
                pipe.hincrby(self._key, "shot_cuts", len(shot_starts))  # for status
                pipe.execute()
        except redis.RedisError as exc:  # the frames go on; a cut unrecorded leaves a track across it
            log.warning("camera %s: shot cut not recorded: %s", self.config.camera_id, redact_text(str(exc)))

    def _push(self, image: npt.NDArray[np.uint8]) -> bool:
        """Send the picture as the next frame; False where it was dropped for want of Redis."""
        c = self.config
        captured_at = time.time()
        self._record_picture(image)
        m.FRAMES_SAMPLED.labels(c.source_kind).inc()
        started = time.perf_counter()
        jpeg = encode_jpeg(image, c.jpeg_quality, c.max_frame_side_px)
        m.STAGE_SECONDS.labels("encode").observe(time.perf_counter() - started)
        meta = FrameMeta(
            video_id=c.camera_id, frame_index=self._next_index, t_ms=0, captured_at=captured_at,
            source_kind=c.source_kind, jpeg_size=len(jpeg),
        )  # fmt: skip
        try:
            dropped = self._send(Frame(meta=meta, payload=jpeg))
        except redis.RedisError as exc:
            # LIVE POLICY: never wait; a frame that cannot be sent is dropped and counted.
            self._count_dropped(1, "redis")
            self._redis_lost(exc)
            return False
        self._redis_back()
        self._next_index += 1
        self.frames_sent += 1
        m.FRAMES_PRODUCED.labels(c.source_kind).inc()
        if dropped:
            self._count_dropped(dropped, "backlog")
        return True

    def _send(self, frame: Frame) -> int:
        """Push one frame, then drop the oldest frames no worker has taken yet beyond the limit.

        The stream holds waiting frames and frames in a worker's hands (workers delete
        what they finish), so waiting = length - pending. Frames already delivered are
        never dropped: they are being processed. Returns how many frames were dropped.
        """
        started = time.perf_counter()
        with self.client.pipeline(transaction=True) as pipe:
            pipe.xadd(self._stream, encode_frame(frame))  # type: ignore[arg-type]
            pipe.xlen(self._stream)
            pipe.xinfo_groups(self._stream)
            pipe.hset(self._key, mapping={"next_index": frame.meta.frame_index + 1, "updated_at": time.time()})
            pipe.hincrby(self._key, "frames_sent", 1)
            _, length, groups, *_ = pipe.execute()
        m.STAGE_SECONDS.labels("publish_frames").observe(time.perf_counter() - started)
        group = next((g for g in groups if g["name"] == keys.WORKERS_GROUP.encode()), None)
        if group is None:
            return 0
        excess = int(length) - int(group["pending"]) - self.config.backlog_frames
        if excess <= 0:
            return 0
        last_delivered = group["last-delivered-id"].decode()
        oldest = self.client.xrange(self._stream, min=f"({last_delivered}", max="+", count=excess)
        ids = [entry_id for entry_id, _ in stream_entries(oldest)]
        return int(self.client.xdel(self._stream, *ids)) if ids else 0

    def _redis_lost(self, exc: redis.RedisError) -> None:
        """Said once an outage (not once a frame: ten lines a second at 10 fps); its end says how many went."""
        self._dropped_since_lost += 1
        if self._redis_lost_at is None:
            self._redis_lost_at = time.monotonic()
            log.warning("camera %s: %s; dropping frames until it is back", self.config.camera_id, describe_outage(exc))

    def _redis_back(self) -> None:
        if self._redis_lost_at is not None:
            log.warning(
                "camera %s: Redis is back after %.1f s; %d frames dropped meanwhile",
                self.config.camera_id, time.monotonic() - self._redis_lost_at, self._dropped_since_lost,
            )  # fmt: skip
            self._redis_lost_at, self._dropped_since_lost = None, 0
            self._record({})  # the drops it could not count meanwhile

    def _count_dropped(self, count: int, reason: str) -> None:
        self.frames_dropped += count
        m.FRAMES_DROPPED.labels(self.config.source_kind, reason).inc(count)
        self._drop_counter.inc(count)
        self._record({}, dropped=count)

    def _count_undecodable(self, count: int) -> None:
        self.undecodable_packets += count
        m.CAMERA_UNDECODABLE.labels(self.config.camera_id).inc(count)
        self._record({}, undecodable=count)

    def _set_state(self, state: CameraState, error: str | None = None) -> None:
        if error is not None:
            self.error = error
        if state != self.state:
            log.info("camera %s: %s -> %s", self.config.camera_id, self.state, state)
        self.state = state
        m.set_camera_state(self.config.camera_id, state, STATES)
        self._record({"state": state, "state_since": time.time(), "last_error": redact_text(self.error)})

    def _record_picture(self, image: npt.NDArray[np.uint8]) -> None:
        """The size of the camera's pictures and the side they are sent at, in its state, once per size:
        status says from them when faces are likely missed in downscaled frames (``emostream.smallfaces``)."""
        picture = (image.shape[1], image.shape[0])
        if picture == self._picture:
            return
        sizes = {"width": picture[0], "height": picture[1], "frame_side_px": self.config.max_frame_side_px}
        if self._record(sizes):  # else again with the next frame: Redis may be back
            self._picture = picture
            sent = sent_size(*picture, self.config.max_frame_side_px)
            log.info("camera %s: %dx%d pictures, sent at %dx%d", self.config.camera_id, *picture, *sent)

    def _record(self, fields: dict[str, str | int | float], dropped: int = 0, undecodable: int = 0) -> bool:
        """Best effort: the camera's state in Redis (a Redis outage must not stop the camera thread);
        whether it was recorded.

        Counts that could not be added (frames dropped while Redis was away) are added with the next
        record that can be: ``status`` would otherwise show fewer drops than the metrics."""
        self._unrecorded["frames_dropped"] += dropped
        self._unrecorded["undecodable_packets"] += undecodable
        try:
            with self.client.pipeline(transaction=True) as pipe:  # all or nothing: a count is added once
                if fields:
                    pipe.hset(self._key, mapping={**fields, "updated_at": time.time()})  # type: ignore[dict-item]
                for name, count in self._unrecorded.items():
                    if count:
                        pipe.hincrby(self._key, name, count)
                pipe.execute()
        except redis.RedisError as exc:
            log.debug("camera %s: state not recorded (%s)", self.config.camera_id, redact_text(str(exc)))
            return False
        self._unrecorded = Counter()
        return True


class CameraProducer:
    """Runs every configured camera; returns when stopped, or when every camera has failed."""

    role = "camera"

    def __init__(self, cameras: list[CameraConfig], client: "redis.Redis", liveness: m.Liveness | None = None) -> None:
        _quiet_opencv()  # PyAV, which reads streams, logs nothing unless asked
        self.client = client
        self.runners = [CameraRunner(config, client) for config in cameras]
        self.name = consumer_name()
        self.liveness = liveness or m.Liveness()
        self.liveness.report = self._report_health
        self._stopping = threading.Event()

    def request_stop(self) -> None:
        self._stopping.set()
        for runner in self.runners:
            runner.request_stop()

    def run(self) -> dict[str, CameraState]:
        if not self._register_all():
            return {r.config.camera_id: r.state for r in self.runners}
        for runner in self.runners:
            runner.start()
        while not self._stopping.is_set() and any(r.alive for r in self.runners):
            self.liveness.beat()
            self._stopping.wait(1.0)
        self.request_stop()
        for runner in self.runners:
            runner.join(timeout=self._join_timeout(runner))
        return {r.config.camera_id: r.state for r in self.runners}

    def _register_all(self) -> bool:
        """Register every camera, waiting while Redis refuses writes for now (full, cannot persist, a
        replica in a failover), as the other services do; False if stopped meanwhile."""
        backoff = Backoff(cap_s=5.0)
        while not self._stopping.is_set():
            try:
                for runner in self.runners:
                    runner.register()
                return True
            except redis.ResponseError as exc:
                if not recoverable(exc):
                    raise ServiceError(f"cannot register cameras in Redis: {redact_text(str(exc))}") from None
                delay = backoff.next_delay()
                log.warning("cameras not registered: %s; retrying in %.1f s", describe_outage(exc), delay)
                self.liveness.beat()
                self._stopping.wait(delay)
            except redis.RedisError as exc:
                raise ServiceError(f"cannot register cameras in Redis: {redact_text(str(exc))}") from None
        return False

    def _report_health(self) -> None:
        """The Redis health key behind ``emostream camera --check`` (best effort: cameras run on without Redis)."""
        try:
            report_health(
                self.client, self.role, self.name, cameras={r.config.camera_id: r.state for r in self.runners}
            )
        except redis.RedisError as exc:
            log.warning("health not reported: %s", redact_text(str(exc)))

    @staticmethod
    def _join_timeout(runner: CameraRunner) -> float:
        return runner.config.open_timeout_s + runner.config.stall_s + 5


def _quiet_opencv() -> None:
    """OpenCV's logging off (devices are read with it): its messages can quote a source's name."""
    os.environ.setdefault("OPENCV_FFMPEG_LOGLEVEL", "-8")
    cv2.utils.logging.setLogLevel(cv2.utils.logging.LOG_LEVEL_SILENT)
