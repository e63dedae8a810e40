"""The file producer: decode, sample, encode JPEG (or raw I420 pixels on one machine), push to the frames stream.

File sources never drop frames: before each push the producer waits while the
frames stream (which holds only the backlog, since workers delete what they
finish) is above its limit, so Redis memory stays bounded on long videos; raw
frames, 15 to 25 times a JPEG's size, get a limit in bytes as well.
Progress (last frame index sent, and a bitmap of sent indices) is recorded in the
same transaction as the frames, so a killed producer resumes without gaps or duplicates.
"""

import logging
import math
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from functools import partial
from pathlib import Path
from typing import Any, TypeVar

import cv2
import numpy as np
import numpy.typing as npt
import redis

from emostream import keys, registry
from emostream import metrics as m
from emostream.errors import ConfigError, ServiceError, SourceError
from emostream.framecodec import encode_i420
from emostream.lifecycle import Backoff, describe_outage, is_full
from emostream.mediafiles import display_name
from emostream.preprocess import downscale
from emostream.redact import redact_text
from emostream.redisconn import memory_state
from emostream.schema import Frame, FrameMeta, PictureSize, encode_frame
from emostream.settings import ProducerSettings
from producer.sampling import Sampler, plan_sampling
from producer.shots import CutFinder
from producer.source import FileSource

log = logging.getLogger(__name__)

PUSH_CHUNK_FRAMES = 8  # frames per pipelined XADD round trip
FRAME_ENCODING_NAMES = {"jpeg": "JPEG", "i420": "raw I420"}
MIN_JPEG_QUALITY = 50  # below this, faces blur; shrink the frame instead
MIN_SIDE_PX = 64
# Of a Redis with a maxmemory, waiting frames may fill this share: the rest is room for the results
# and state that drain them. Frames up to the limit would leave workers unable to store a result,
# so none could be deleted: the pipeline would stop for good.
FRAMES_MEMORY_SHARE = 0.75
UNLIMITED_RECHECK_S = 10.0

T = TypeVar("T")


@dataclass(frozen=True)
class ProduceReport:
    video_id: str
    frames_decoded: int
    frames_sent: int
    sample_fps: float
    seconds: float


class FileProducer:
    def __init__(
        self,
        settings: ProducerSettings,
        client: "redis.Redis",
        replace: bool = False,
        liveness: m.Liveness | None = None,
    ) -> None:
        self.settings = settings
        self.liveness = liveness or m.Liveness()
        self.client = client
        self.replace = replace
        self._pending: list[Frame] = []
        self._sent_so_far = 0
        self._cuts: CutFinder | None = None  # the video's; its new cuts are recorded with the next chunk of frames
        self._cuts_recorded = 0
        self._backlog_limit = settings.backlog_max_frames
        self._ask_memory_after = 0.0  # monotonic time; inf once the server turns out not to answer INFO memory
        self._said_memory = False

    def produce(self, path: Path, video_id: str) -> ProduceReport:
        """Send every sampled frame of ``path``; registers the video, failed ones included.

        A video id still in ``producing`` state (its producer died) is resumed after its
        last sent frame; any other existing id is refused unless ``replace`` is set.
        """
        try:
            return self._open_and_produce(path, video_id)
        except redis.RedisError as exc:
            raise ServiceError(
                f"lost Redis while sending {video_id} ({redact_text(str(exc))}); "
                "run the same produce command again to resume where it stopped"
            ) from None

    def _open_and_produce(self, path: Path, video_id: str) -> ProduceReport:
        started = time.monotonic()
        resume_after = self._resume_point(video_id, path)
        try:
            source = FileSource(path)
        except SourceError as exc:
            failed = {"source": display_name(path), "status": "failed", "error": str(exc)}
            self._while_full(partial(registry.register, self.client, video_id, **failed))
            m.VIDEOS.labels("failed").inc()
            raise
        try:
            return self._produce(source, video_id, started, resume_after)
        finally:
            source.close()

    def _resume_point(self, video_id: str, path: Path) -> int | None:
        """The last frame index already sent for a video being resumed, or None to start afresh."""
        record = registry.read(self.client, video_id)
        if record is None or self.replace or record.status == "failed":
            return None
        if record.status == "producing" and record.source == display_name(path):
            log.info(
                "%s: resuming after frame %d (%d frames already sent)", video_id, record.last_index, record.frames_sent
            )
            return record.last_index
        raise ConfigError(
            f"video id {video_id!r} already exists ({record.status}, source {record.source}); "
            "choose another id or pass --replace to analyse it again"
        )

    def _produce(self, source: FileSource, video_id: str, started: float, resume_after: int | None) -> ProduceReport:
        s = self.settings
        plan = plan_sampling(source.probe.fps, s.fps, s.max_fps, s.every_frame)
        if resume_after is None:
            self._while_full(partial(
                registry.register, self.client, video_id,
                source=source.name, source_kind="file",
                source_fps=plan.source_fps, sample_fps=plan.sample_fps,
                width=source.probe.width, height=source.probe.height, frame_side_px=s.max_frame_side_px,
                duration_s=round(source.probe.duration_s, 3), last_index=-1,
            ))  # fmt: skip
            m.VIDEOS.labels("started").inc()
        last = -1 if resume_after is None else resume_after
        log.info("%s: sending %s frames at %.2f fps", video_id, FRAME_ENCODING_NAMES[s.frame_encoding], plan.sample_fps)
        sampler, sent = Sampler(plan), 0
        cuts = self._cuts = CutFinder(plan.source_fps) if s.find_cuts else None
        self._cuts_recorded = 0
        try:
            # The sampler (and the cut finder) see every frame from the start, so a resumed run keeps
            # the same frames (and cuts).
            read_started = time.perf_counter()
            glance = cuts.observe if cuts is not None else None
            for index, t_ms, image in source.frames(plan.source_fps, sampler.keep, s.max_frame_side_px, glance):
                m.STAGE_SECONDS.labels("read").observe(time.perf_counter() - read_started)
                m.FRAMES_READ.labels("file").inc()
                if image is not None:  # kept by the sampler
                    m.FRAMES_SAMPLED.labels("file").inc()
                    sent += 1
                    if index > last:
                        self._queue(self._frame(video_id, index, t_ms, image), sent)
                read_started = time.perf_counter()
        except SourceError as exc:
            self._while_full(partial(registry.update, self.client, video_id, status="failed", error=str(exc)))
            m.VIDEOS.labels("failed").inc()
            raise
        self._flush()
        assert source.report is not None  # frames() ran to its end
        produced = {"status": "produced", "frames_sent": sent, "frames_expected": sent, **asdict(source.report)}
        if cuts is not None:
            cuts.finish()
            produced["cuts"] = self._encoded_cuts()
            log.info("%s: %d shot cuts", video_id, len(cuts.cuts))
        self._while_full(partial(registry.update, self.client, video_id, **produced))
        seconds = time.monotonic() - started
        decoded = source.report.frames_decoded
        log.info("%s: sent %d of %d frames at %.2f fps in %.1f s", video_id, sent, decoded, plan.sample_fps, seconds)
        return ProduceReport(video_id, decoded, sent, plan.sample_fps, seconds)

    def _frame(self, video_id: str, index: int, t_ms: float, image: npt.NDArray[np.uint8]) -> Frame:
        s = self.settings
        started = time.perf_counter()
        meta: dict[str, Any] = {
            "video_id": video_id, "frame_index": index, "t_ms": round(t_ms), "captured_at": time.time(),
            "source_kind": "file",
        }  # fmt: skip
        image, _ = downscale(image, s.max_frame_side_px)
        if s.frame_encoding == "i420" and _fits_raw(image):
            pixels, size = encode_i420(image)
            self._backlog_limit = raw_backlog_limit(s.backlog_max_frames, len(pixels))
            frame = Frame(meta=FrameMeta(**meta, i420=size), payload=pixels)
        else:
            jpeg = encode_jpeg(image, s.jpeg_quality, s.max_frame_side_px, s.max_jpeg_bytes)
            frame = Frame(meta=FrameMeta(**meta, jpeg_size=len(jpeg)), payload=jpeg)
        m.STAGE_SECONDS.labels("encode").observe(time.perf_counter() - started)
        return frame

    def _queue(self, frame: Frame, sent_so_far: int) -> None:
        self._pending.append(frame)
        self._sent_so_far = sent_so_far
        if len(self._pending) >= PUSH_CHUNK_FRAMES:
            self._flush()

    def _flush(self) -> None:
        """Push the queued frames and record progress in one transaction: a resume never repeats or skips."""
        if not self._pending:
            return
        self._wait_for_backlog(sum(len(frame.payload) for frame in self._pending))
        started = time.perf_counter()
        self._while_full(self._push_pending)
        m.STAGE_SECONDS.labels("publish_frames").observe(time.perf_counter() - started)
        m.FRAMES_PRODUCED.labels("file").inc(len(self._pending))
        self._pending.clear()

    def _push_pending(self) -> None:
        video_id = self._pending[0].meta.video_id
        with self.client.pipeline(transaction=True) as pipe:
            for frame in self._pending:
                pipe.xadd(keys.FRAMES_STREAM, encode_frame(frame))  # type: ignore[arg-type]
                pipe.setbit(keys.video_sent_key(video_id), frame.meta.frame_index, 1)
            progress: dict[str | bytes, int | float | str] = {
                "last_index": self._pending[-1].meta.frame_index,
                "frames_sent": self._sent_so_far,
                "updated_at": time.time(),
            }
            found = len(self._cuts.cuts) if self._cuts is not None else 0
            if found > self._cuts_recorded:  # new cuts: a video left partial by a dead producer keeps them
                progress["cuts"] = self._encoded_cuts()
            pipe.hset(keys.video_key(video_id), mapping=progress)  # type: ignore[arg-type]
            pipe.execute()
        self._cuts_recorded = found

    def _encoded_cuts(self) -> str:
        found = self._cuts.cuts if self._cuts is not None else []
        return registry.encode_cuts((cut.frame_index, cut.t_ms) for cut in found)

    def _wait_for_backlog(self, chunk_bytes: int) -> None:
        """Wait while the frames stream is at its limit, or while the next chunk would take Redis's memory
        past ``FRAMES_MEMORY_SHARE`` of its maxmemory and the workers have frames to drain it with."""
        limit = self._backlog_limit
        self.liveness.beat()
        while (waiting := self.client.xlen(keys.FRAMES_STREAM)) >= limit or (
            waiting and self._no_room_for(chunk_bytes)
        ):
            self.liveness.beat()  # waiting on workers is healthy; a hung source is not
            time.sleep(keys.BACKLOG_POLL_MS / 1000)

    def _no_room_for(self, chunk_bytes: int) -> bool:
        if time.monotonic() < self._ask_memory_after:
            return False
        state = memory_state(self.client)
        if state is None:  # a server or proxy that does not answer INFO: the frame limit alone
            self._ask_memory_after = math.inf
            return False
        if state.limit == 0:  # no maxmemory: asked again now and then, as an operator may set one
            self._ask_memory_after = time.monotonic() + UNLIMITED_RECHECK_S
            return False
        full = state.used + chunk_bytes > FRAMES_MEMORY_SHARE * state.limit
        if full and not self._said_memory:
            log.info("holding frames back until workers drain some: Redis has %s", state.describe())
            self._said_memory = True
        return full

    def _while_full(self, write: Callable[[], T]) -> T:
        """``write()``, again and again while Redis refuses it for want of memory (refused, it did nothing).

        The workers and the aggregator free memory as they go; or an operator raises maxmemory."""
        backoff = Backoff(cap_s=5.0)
        while True:
            try:
                return write()
            except redis.ResponseError as exc:
                if not is_full(exc):
                    raise
                delay = backoff.next_delay()
                log.warning("%s; retrying in %.1f s", describe_outage(exc), delay)
                self.liveness.beat()  # waiting on Redis is not a hung source
                time.sleep(delay)


def _fits_raw(image: npt.NDArray[np.uint8]) -> bool:
    """Whether the picture as I420 stays within ``keys.MAX_RAW_FRAME_BYTES`` (else it goes as a JPEG)."""
    height, width = image.shape[:2]
    return PictureSize(width=width, height=height).i420_bytes <= keys.MAX_RAW_FRAME_BYTES


def raw_backlog_limit(max_frames: int, frame_bytes: int) -> int:
    """The backlog in frames for raw frames: ``keys.RAW_BACKLOG_BYTES`` of Redis memory, since a
    backlog of 185 frames at 640x360 (64 MB) cost a one-core job about 10,000 more page faults
    than 16 MB did (``perf stat``), but never fewer frames than ``keys.RAW_BACKLOG_MIN_FRAMES``:
    with 16 at 1280x720, two workers on two cores took 12 % longer than with JPEG (waiting for frames)."""
    return min(max_frames, max(keys.RAW_BACKLOG_MIN_FRAMES, keys.RAW_BACKLOG_BYTES // frame_bytes))


def encode_jpeg(
    image: npt.NDArray[np.uint8], quality: int, max_side_px: int, max_bytes: int = keys.MAX_JPEG_BYTES
) -> bytes:
    """JPEG bytes of ``image``: downscaled if its longest side exceeds ``max_side_px``, and
    re-encoded at lower quality, then smaller, until it fits in ``max_bytes``."""
    image, _ = downscale(image, max_side_px)
    while True:
        ok, buffer = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, quality])
        if not ok:
            raise SourceError("JPEG encoding failed")
        if len(buffer) <= max_bytes or min(image.shape[:2]) < MIN_SIDE_PX:
            return bytes(buffer)
        if quality > MIN_JPEG_QUALITY:
            quality = max(MIN_JPEG_QUALITY, quality - 20)
        else:
            image, _ = downscale(image, round(max(image.shape[:2]) * 0.75))
