"""The worker process: consumer-group loop over the frames stream.

Delivery rules (see ARCHITECTURE.md): a frame is acknowledged only together with
its result (XADD result + XACK + XDEL in one MULTI), so the frames stream holds
only the backlog. Frames left pending by a dead worker are reclaimed with
XAUTOCLAIM after ``claim_idle_ms``; after ``max_deliveries`` a frame is a poison
frame and goes to the dead-letter stream, counted as a failed frame of its video.
"""

import contextlib
import json
import logging
import time
from dataclasses import dataclass

import redis

from emostream import keys, registry
from emostream import metrics as m
from emostream.lifecycle import consumer_name, report_health, run_loop
from emostream.redisconn import ensure_group, stream_entries, streams_entries
from emostream.schema import Fields, Result, encode_result
from emostream.settings import WorkerSettings
from worker.batch import BatchProcessor, Outcome

log = logging.getLogger(__name__)

Entry = tuple[bytes, Fields]


@dataclass
class WorkerStats:
    batches: int = 0
    frames: int = 0
    faces: int = 0
    failed: int = 0
    reclaimed: int = 0
    busy_s: float = 0.0


def default_consumer_name() -> str:
    return consumer_name()


class Worker:
    role = "worker"

    def __init__(
        self,
        settings: WorkerSettings,
        client: "redis.Redis",
        processor: BatchProcessor,
        liveness: m.Liveness | None = None,
    ) -> None:
        self.settings = settings
        self.liveness = liveness or m.Liveness()
        self.client = client
        self.processor = processor
        self.name = processor.worker_name
        self.stats = WorkerStats()
        self._stopping = False
        self._streams: list[str] = [keys.FRAMES_STREAM]  # plus one stream per live camera
        self._streams_at = float("-inf")

    def request_stop(self) -> None:
        """First stage of shutdown: finish and acknowledge the batch in hand, then return."""
        self._stopping = True

    def run(self, burst: bool = False) -> WorkerStats:
        """Process frames until stopped; with ``burst``, until the stream has nothing for us."""
        run_loop(lambda: self._step(burst), self._recover, lambda: self._stopping, f"worker {self.name}")
        self._try_heartbeat()
        log.info(
            "worker %s stopped: %d frames, %d faces, %d failed, %d reclaimed in %d batches, busy %.1f s",
            self.name, self.stats.frames, self.stats.faces, self.stats.failed,
            self.stats.reclaimed, self.stats.batches, self.stats.busy_s,
        )  # fmt: skip
        # Per stage, from this worker's own metrics: what bench/throughput.py reports.
        log.info("worker %s stage seconds: %s", self.name, json.dumps(m.stage_totals(WORKER_STAGES)))
        return self.stats

    def _recover(self) -> None:
        ensure_group(self.client, keys.FRAMES_STREAM, keys.WORKERS_GROUP)
        self._streams_at = float("-inf")
        self._refresh_streams()
        self._drain_own_pending()

    def _step(self, burst: bool) -> bool:
        """One read and its batch; False when a burst run has nothing left."""
        self._heartbeat()
        self._refresh_streams()
        batches = self._reclaim() or self._read(">", block=not burst)
        for stream, entries in batches:
            self._handle(stream, entries)
        return bool(batches) or not burst

    def _refresh_streams(self) -> None:
        """The file frames stream and every registered camera's stream (cameras come and go)."""
        if time.monotonic() - self._streams_at < keys.CAMERAS_REFRESH_S:
            return
        self._streams_at = time.monotonic()
        streams = registry.frame_streams(self.client)
        for stream in streams[1:]:
            if stream not in self._streams:
                ensure_group(self.client, stream, keys.WORKERS_GROUP)
        self._streams = streams

    def _try_heartbeat(self) -> None:
        with contextlib.suppress(redis.RedisError):
            self._heartbeat()

    def _drain_own_pending(self) -> None:
        """A restarted worker with the same name first finishes what it had been given."""
        while not self._stopping:
            batches = self._read("0", block=False)
            if not batches:
                return
            for stream, entries in batches:
                m.REDELIVERIES.inc(len(entries))
                self._handle(stream, entries)

    def _read(self, start: str, block: bool) -> list[tuple[str, list[Entry]]]:
        reply = self.client.xreadgroup(
            keys.WORKERS_GROUP, self.name, dict.fromkeys(self._streams, start),
            count=self.settings.batch_frames, block=self.settings.block_ms if block else None,
        )  # fmt: skip
        return streams_entries(reply)

    def _reclaim(self) -> list[tuple[str, list[Entry]]]:
        for stream in self._streams:
            entries = self._reclaim_from(stream)
            if entries:
                return [(stream, entries)]
        return []

    def _reclaim_from(self, stream: str) -> list[Entry]:
        reply = self.client.xautoclaim(
            stream, keys.WORKERS_GROUP, self.name,
            min_idle_time=self.settings.claim_idle_ms, start_id="0-0", count=self.settings.batch_frames,
        )  # fmt: skip
        claimed = stream_entries(reply[1])
        deleted = reply[2] if len(reply) > 2 else []  # Redis >= 7: ids deleted (or trimmed) while pending
        if deleted:
            self.client.xack(stream, keys.WORKERS_GROUP, *deleted)
        if claimed:
            m.RECLAIMED.inc(len(claimed))
            m.REDELIVERIES.inc(len(claimed))
            self.stats.reclaimed += len(claimed)
            log.warning("worker %s reclaimed %d stale frames from %s", self.name, len(claimed), stream)
        return self._split_poison(stream, claimed)

    def _split_poison(self, stream: str, claimed: list[Entry]) -> list[Entry]:
        """Claimed entries delivered too often are published as failures now; the rest are retried."""
        retry, poison = [], []
        for entry_id, fields in claimed:
            pending = self.client.xpending_range(stream, keys.WORKERS_GROUP, min=entry_id, max=entry_id, count=1)
            deliveries = int(pending[0]["times_delivered"]) if pending else 1
            if deliveries > self.settings.max_deliveries:
                reason = f"failed {deliveries - 1} deliveries (worker crash or timeout on this frame)"
                poison.append(self.processor.failure(entry_id, fields, reason))
            else:
                retry.append((entry_id, fields))
        if poison:
            self._publish(stream, poison)
            m.FRAMES_PROCESSED.labels("failed").inc(len(poison))
            m.DEAD_LETTERS.labels("poison").inc(len(poison))
        return retry

    def _handle(self, stream: str, entries: list[Entry]) -> None:
        started = time.monotonic()
        outcomes = self.processor.process(entries)
        self._publish(stream, outcomes)
        elapsed = time.monotonic() - started
        faces = sum(len(o.result.faces) for o in outcomes if o.result is not None)
        failed = sum(1 for o in outcomes if o.dead_reason is not None)
        self.stats.batches += 1
        self.stats.frames += len(outcomes)
        self.stats.faces += faces
        self.stats.failed += failed
        self.stats.busy_s += elapsed
        _observe_batch(outcomes, faces, failed)
        log.info("batch of %d frames, %d faces, %d failed in %.0f ms", len(outcomes), faces, failed, elapsed * 1000)

    def _publish(self, stream: str, outcomes: list[Outcome]) -> None:
        """Results, dead letters, acknowledgement and deletion in one transaction."""
        started = time.perf_counter()
        with self.client.pipeline(transaction=True) as pipe:
            for outcome in outcomes:
                if outcome.result is not None:
                    pipe.xadd(
                        results_stream(outcome.result), encode_result(outcome.result),  # type: ignore[arg-type]
                        maxlen=keys.RESULTS_STREAM_MAXLEN, approximate=True,
                    )  # fmt: skip
                if outcome.dead_reason is not None:
                    letter = _dead_letter(outcome, self.settings.dead_letter_keep_frames)
                    pipe.xadd(keys.DEAD_STREAM, letter, maxlen=keys.DEAD_STREAM_MAXLEN, approximate=True)  # type: ignore[arg-type]
            ids = [outcome.entry_id for outcome in outcomes]
            pipe.xack(stream, keys.WORKERS_GROUP, *ids)
            pipe.xdel(stream, *ids)
            pipe.execute()
        m.STAGE_SECONDS.labels("publish_results").observe(time.perf_counter() - started)

    def _heartbeat(self) -> None:
        self.liveness.beat()
        report_health(self.client, self.role, self.name, frames=self.stats.frames, stopping=self._stopping)


WORKER_STAGES = ("decode", "detect", "interpolate", "infer", "publish_results")


def results_stream(result: Result) -> str:
    """Files' results go to every aggregator; cameras' only to the camera lease's holder."""
    return keys.RESULTS_STREAM if result.source_kind == "file" else keys.CAMERA_RESULTS_STREAM


def _observe_batch(outcomes: list[Outcome], faces: int, failed: int) -> None:
    m.BATCH_FRAMES.observe(len(outcomes))
    m.BATCH_FACES.observe(faces)
    m.FACES_DETECTED.inc(faces)
    m.FRAMES_PROCESSED.labels("ok").inc(len(outcomes) - failed)
    m.FRAMES_PROCESSED.labels("failed").inc(failed)
    m.DEAD_LETTERS.labels("undecodable").inc(failed)
    infer_observed = False
    for outcome in outcomes:
        result = outcome.result
        if result is None or result.status != "ok":
            continue
        for stage in ("decode", "detect", "interpolate"):  # a frame is detected or interpolated, not both
            if stage in result.timings_ms:
                m.STAGE_SECONDS.labels(stage).observe(result.timings_ms[stage] / 1000)
        if not infer_observed:  # one inference call per batch
            m.STAGE_SECONDS.labels("infer").observe(result.timings_ms.get("infer_batch", 0.0) / 1000)
            infer_observed = True
        for face in result.faces:
            m.EMOTIONS_PREDICTED.labels(face.emotion, result.source_kind).inc()


def _dead_letter(outcome: Outcome, keep_frame: bool) -> dict[str, str | bytes]:
    """Metadata and reason; the frame's bytes only when the user asked (privacy: frames are transient)."""
    letter: dict[str, str | bytes] = {
        "entry_id": outcome.entry_id.decode(),
        "reason": outcome.dead_reason or "",
        "at": str(time.time()),
    }
    if outcome.result is not None:
        letter |= {"video_id": outcome.result.video_id, "frame_index": str(outcome.result.frame_index)}
    if keep_frame and outcome.frame_bytes:
        letter[outcome.frame_field.decode()] = outcome.frame_bytes
    return letter
