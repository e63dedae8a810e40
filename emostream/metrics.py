"""Prometheus metrics: every name and label in one place, and the /metrics + /healthz server.

Base units (seconds, bytes), bounded labels only: source kind, stage, status,
reason, emotion, stream, group, role. Never a video id. Each process registers
what it uses in the default registry; Prometheus sums over processes.
Label values a query may ask for are created at zero up front, so a dashboard
shows 0 rather than "no data" before the first event.
"""

import json
import logging
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from importlib.metadata import PackageNotFoundError, version
from typing import Final

from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, Counter, Gauge, Histogram, Info, generate_latest

from emostream import keys
from emostream.errors import ConfigError
from emostream.labels import EMOTIONS

log = logging.getLogger(__name__)

SOURCE_KINDS: Final = ("file", "rtsp", "url", "device")
STAGES: Final = (
    "read", "encode", "publish_frames", "decode", "detect", "interpolate", "infer", "publish_results", "store",
    "finalise",
)  # fmt: skip
DROP_REASONS: Final = ("backlog", "redis")
DEAD_REASONS: Final = ("undecodable", "poison", "rejected")
VIDEO_OUTCOMES: Final = ("started", "completed", "partial", "failed")
STAGE_BUCKETS: Final = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)
LATENCY_BUCKETS: Final = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0)

FRAMES_READ = Counter("emostream_frames_read", "Frames decoded from a source", ["source_kind"])
FRAMES_SAMPLED = Counter("emostream_frames_sampled", "Frames kept by sampling", ["source_kind"])
FRAMES_PRODUCED = Counter("emostream_frames_produced", "Frames pushed to the frames stream", ["source_kind"])
FRAMES_DROPPED = Counter("emostream_frames_dropped", "Sampled frames not pushed, by reason", ["source_kind", "reason"])
FRAMES_PROCESSED = Counter("emostream_frames_processed", "Frames a worker finished, by status", ["status"])
FACES_DETECTED = Counter("emostream_faces_detected", "Faces found by workers")
EMOTIONS_PREDICTED = Counter("emostream_emotion_predictions", "Faces by top emotion", ["emotion", "source_kind"])
RESULTS_STORED = Counter(
    "emostream_results_stored", "Results stored for the first time (redeliveries not counted)", ["status"]
)
STAGE_SECONDS = Histogram("emostream_stage_seconds", "Time per stage", ["stage"], buckets=STAGE_BUCKETS)


def stage_totals(stages: tuple[str, ...]) -> dict[str, float]:
    """Seconds this process spent in each stage so far (its own histogram sums), for its stop log."""
    sums = {stage: REGISTRY.get_sample_value("emostream_stage_seconds_sum", {"stage": stage}) for stage in stages}
    return {stage: round(value or 0.0, 3) for stage, value in sums.items()}


END_TO_END_SECONDS = Histogram(
    "emostream_end_to_end_seconds", "Capture (or read) to stored result", ["source_kind"], buckets=LATENCY_BUCKETS
)
BATCH_FRAMES = Histogram("emostream_batch_frames", "Frames per worker batch", buckets=(1, 2, 4, 8, 16, 32, 64, 128))
BATCH_FACES = Histogram(
    "emostream_batch_faces", "Faces per inference call", buckets=(0, 1, 2, 4, 8, 16, 32, 64, 128, 256)
)
RECLAIMED = Counter("emostream_reclaimed_frames", "Frames reclaimed from a dead or stalled worker")
REDELIVERIES = Counter("emostream_redeliveries", "Reclaimed frames delivered more than once before")
DEAD_LETTERS = Counter("emostream_dead_letters", "Entries written to the dead-letter stream", ["reason"])
VIDEOS = Counter("emostream_videos", "Videos by lifecycle event", ["outcome"])
OUTPUT_WRITE_ERRORS = Counter(
    "emostream_output_write_errors", "Output files that could not be written (a full disk)", ["output"]
)
BUILD = Info("emostream_build", "Version, role, model and detector of this process")

# Live cameras: the camera id is a bounded label (cameras are configured, not discovered).
CAMERA_FRAMES_DROPPED = Counter("emostream_camera_frames_dropped", "Frames a camera dropped (live policy)", ["camera"])
CAMERA_RECONNECTS = Counter(
    "emostream_camera_reconnects", "Times a camera's stream dropped and was reopened", ["camera"]
)
CAMERA_UNDECODABLE = Counter(
    "emostream_camera_undecodable_packets", "Packets of a camera's stream the decoder rejected and skipped", ["camera"]
)
CAMERA_STATE = Gauge("emostream_camera_state", "1 for the camera's current state", ["camera", "state"])
CAMERA_EMOTIONS = Counter("emostream_camera_emotions", "Faces by top emotion, per camera", ["camera", "emotion"])
CAMERA_FRAMES = Counter("emostream_camera_frames_aggregated", "Camera frames in timeline windows", ["camera"])

# Set at scrape time by the aggregator (one process, so sums stay true).
STREAM_LENGTH = Gauge("emostream_stream_length", "Entries in a stream (frames: the backlog)", ["stream"])
PENDING = Gauge("emostream_pending_entries", "Entries delivered and not acknowledged", ["stream", "group"])
REDIS_MEMORY = Gauge(
    "emostream_redis_memory_bytes", "Redis's memory: used, and its maxmemory as limit (0: none)", ["kind"]
)
VIDEOS_OPEN = Gauge("emostream_videos_open", "Registered videos not finished yet")


def package_version() -> str:
    try:
        return version("emostream")
    except PackageNotFoundError:
        return "unknown"


def init_labels(role: str, **build: str) -> None:
    """Build info, and zero-valued series for the label values dashboards query."""
    BUILD.info({"version": package_version(), "role": role, **build})
    for kind in SOURCE_KINDS:
        for counter in (FRAMES_READ, FRAMES_SAMPLED, FRAMES_PRODUCED):
            counter.labels(kind)
        for reason in DROP_REASONS:
            FRAMES_DROPPED.labels(kind, reason)
    for kind in SOURCE_KINDS:
        for emotion in EMOTIONS:
            EMOTIONS_PREDICTED.labels(emotion, kind)
    for status in ("ok", "failed"):
        FRAMES_PROCESSED.labels(status)
        RESULTS_STORED.labels(status)
    for reason in DEAD_REASONS:
        DEAD_LETTERS.labels(reason)
    for outcome in VIDEO_OUTCOMES:
        VIDEOS.labels(outcome)
    for output in ("video", "camera"):
        OUTPUT_WRITE_ERRORS.labels(output)


def init_camera_labels(camera: str) -> None:
    CAMERA_FRAMES_DROPPED.labels(camera)
    CAMERA_RECONNECTS.labels(camera)
    CAMERA_UNDECODABLE.labels(camera)


def init_camera_aggregation_labels(camera: str) -> None:
    CAMERA_FRAMES.labels(camera)
    for emotion in EMOTIONS:
        CAMERA_EMOTIONS.labels(camera, emotion)


def set_camera_state(camera: str, state: str, states: tuple[str, ...]) -> None:
    for name in states:
        CAMERA_STATE.labels(camera, name).set(1 if name == state else 0)


class Liveness:
    """The main loop's pulse: healthy while it has beaten within ``keys.HEALTH_TTL_S``.

    ``report``, if given, publishes the pulse elsewhere (the Redis health key behind
    ``--check``), at most every ``report_every_s``, from deep inside long jobs too.
    """

    def __init__(
        self,
        ttl_s: float = keys.HEALTH_TTL_S,
        report: Callable[[], None] | None = None,
        report_every_s: float = 5.0,
    ) -> None:
        self.ttl_s = ttl_s
        self.report = report
        self.report_every_s = report_every_s
        self._last = time.monotonic()
        self._reported = float("-inf")

    def beat(self) -> None:
        self._last = time.monotonic()
        if self.report is not None and self._last - self._reported >= self.report_every_s:
            self._reported = self._last
            self.report()

    def state(self) -> tuple[bool, float]:
        age = time.monotonic() - self._last
        return age <= self.ttl_s, age


def serve(host: str, port: int, liveness: Liveness) -> ThreadingHTTPServer:
    """Serve ``/metrics`` and ``/healthz`` (200 or 503) on a daemon thread; returns the server."""

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            if self.path.split("?")[0] == "/metrics":
                self._reply(200, generate_latest(REGISTRY), CONTENT_TYPE_LATEST)
            elif self.path.split("?")[0] == "/healthz":
                ok, age = liveness.state()
                body = json.dumps({"ok": ok, "last_beat_s": round(age, 3)}).encode()
                self._reply(200 if ok else 503, body, "application/json")
            else:
                self._reply(404, b"not found: try /metrics or /healthz\n", "text/plain")

        def _reply(self, code: int, body: bytes, content_type: str) -> None:
            self.send_response(code)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:
            """Scrapes every few seconds would flood the log."""

    try:
        server = ThreadingHTTPServer((host, port), Handler)
    except OSError as exc:
        raise ConfigError(
            f"cannot serve metrics on {host}:{port} ({exc.strerror}); choose another metrics port"
        ) from None
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, name="metrics", daemon=True).start()
    log.info("metrics on http://%s:%d/metrics, health on /healthz", host, server.server_port)
    return server
