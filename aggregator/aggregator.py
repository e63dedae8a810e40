"""The aggregator process: results in, per-video timelines out.

Results are stored by (video, frame index) in a hash, so a redelivered result
overwrites itself and nothing is ever counted twice. A video is complete when it
has as many stored results (ok or failed) as ``frames_expected``; then its
timeline files are written atomically and its status becomes ``complete``. A
video that makes no progress for ``stall_timeout_s`` (its workers or producer are
gone) is finalised as ``partial`` with the list of its missing frames; should the
missing results still arrive, it is rewritten as complete. Outputs that cannot be
written (a full disk, a folder made read-only) are retried with back-off, the reason kept
in the video's ``error`` meanwhile; the results wait in Redis, and the service stays up.
"""

import logging
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

import redis

from aggregator import timeline
from aggregator.cameras import CameraTimelines
from aggregator.keepalive import KEEP_ALIVE_EVERY_S, KeepAlive
from aggregator.leader import CameraLease, release_lease
from aggregator.people import People, analyse_people
from aggregator.persistence import AofScrubber
from aggregator.plot import timeline_png
from aggregator.pulse import Pulse, no_pulse
from aggregator.report import report_html
from aggregator.retention import expire_video, prune_camera_windows, prune_outputs
from aggregator.smoothing import SmoothingConfig
from aggregator.stored import ResultsChangedError, StoredResults
from aggregator.tracking import TrackingConfig
from aggregator.writers import write_atomic, write_atomic_bytes, write_csv, write_json, write_json_streamed
from emostream import keys, registry
from emostream import metrics as m
from emostream.errors import MessageError
from emostream.lifecycle import Backoff, consumer_name, report_health, run_loop
from emostream.redisconn import ensure_group, memory_state, stream_entries, streams_entries
from emostream.schema import Fields, Result, decode_result
from emostream.settings import AggregatorSettings

log = logging.getLogger(__name__)

# A video's outputs are made in passes over its stored results, which must not change between them
# (``aggregator.stored``): a frame stored again meanwhile starts them over, this many times at most.
FINALISE_ATTEMPTS = 3


@dataclass
class AggregatorStats:
    results: int = 0
    rejected: int = 0
    videos_completed: int = 0
    videos_partial: int = 0


class Aggregator:
    role = "aggregator"

    def __init__(self, settings: AggregatorSettings, client: "redis.Redis", liveness: m.Liveness | None = None) -> None:
        self.settings = settings
        self.liveness = liveness or m.Liveness()
        self.keep_alive_every_s = KEEP_ALIVE_EVERY_S  # how often a long finalisation beats and renews its lease
        self._gauges_at = 0.0
        self._pruned_at = float("-inf")
        self.client = client
        self.name = settings.name or consumer_name()
        self.stats = AggregatorStats()
        self._stopping = False
        self._registered: set[str] = set()
        self._cameras: set[str] = set()
        self._write_retries: dict[str, tuple[Backoff, float]] = {}  # video -> back-off, next attempt
        self.cameras = CameraTimelines(
            settings.out_dir, client, tracking=self.tracking_config(), smoothing=self.smoothing_config()
        )
        self.camera_lease = CameraLease(client, self.name)
        self.aof = AofScrubber(client, settings.aof_scrub_s)

    def request_stop(self) -> None:
        self._stopping = True

    def run(self, burst: bool = False) -> AggregatorStats:
        """Store results and finish videos until stopped; with ``burst``, until nothing is left to read."""
        run_loop(lambda: self._step(burst), self._recover, lambda: self._stopping, f"aggregator {self.name}")
        try:
            if self.camera_lease.hold():
                self.cameras.flush(force=True)  # a clean stop writes the open camera windows too
            self.camera_lease.release()
        except redis.RedisError as exc:
            log.warning("camera windows still open at stop were not written: %s", exc)
        log.info(
            "aggregator %s stopped: %d results, %d rejected, %d videos completed, %d partial",
            self.name, self.stats.results, self.stats.rejected, self.stats.videos_completed, self.stats.videos_partial,
        )  # fmt: skip
        return self.stats

    def _recover(self) -> None:
        """Create the group if needed, then store our own pending entries first (after a restart)."""
        ensure_group(self.client, keys.RESULTS_STREAM, keys.AGGREGATORS_GROUP)
        ensure_group(self.client, keys.CAMERA_RESULTS_STREAM, keys.AGGREGATORS_GROUP)
        # Our own pending camera results only if we hold the lease; else its holder claims them.
        streams = self._streams()
        while entries := self._read("0", block=False, streams=streams):
            self._store(entries)

    def _step(self, burst: bool) -> bool:
        self._heartbeat()
        self._update_gauges()
        streams = self._streams()
        entries = self._claim_stale(streams) or self._read(">", block=not burst, streams=streams)
        if entries:
            self._store(entries)
        self.finish_ready_videos()
        if self.camera_lease.held:
            self.cameras.flush()
        self.aof.maybe_rewrite()
        self._prune_outputs()
        return bool(entries) or not burst

    def _streams(self) -> tuple[str, ...]:
        """Files' results always; cameras' only while this aggregator holds the camera lease."""
        held_before = self.camera_lease.held
        if self.camera_lease.hold():
            return (keys.RESULTS_STREAM, keys.CAMERA_RESULTS_STREAM)
        if held_before:  # lost it (stalled past the lease): the new holder goes on from here
            dropped = self.cameras.drop_open()
            log.warning("aggregator %s lost the camera lease; dropped %d open camera windows", self.name, dropped)
        return (keys.RESULTS_STREAM,)

    def _prune_outputs(self) -> None:
        if time.monotonic() - self._pruned_at >= keys.RETENTION_SWEEP_S:
            self._pruned_at = time.monotonic()
            prune_outputs(self.settings.out_dir, self.settings.output_retention_days)
            prune_camera_windows(self.settings.out_dir, self.settings.output_retention_days)

    def _claim_stale(self, streams: tuple[str, ...]) -> list[tuple[str, bytes, Fields]]:
        """Results another aggregator read and never acknowledged (it died): ours to store now."""
        for stream in streams:
            # Camera results wait no longer than the lease: their windows close within seconds.
            idle_ms = self.settings.claim_idle_ms if stream == keys.RESULTS_STREAM else keys.CAMERA_LEASE_MS
            reply = self.client.xautoclaim(
                stream, keys.AGGREGATORS_GROUP, self.name,
                min_idle_time=idle_ms, start_id="0-0", count=self.settings.batch,
            )  # fmt: skip
            deleted = reply[2] if len(reply) > 2 else []  # Redis >= 7: ids gone from the stream while pending
            if deleted:
                self.client.xack(stream, keys.AGGREGATORS_GROUP, *deleted)
            if claimed := stream_entries(reply[1]):
                log.warning("aggregator %s claimed %d results left pending on %s", self.name, len(claimed), stream)
                return [(stream, entry_id, fields) for entry_id, fields in claimed]
        return []

    def _read(self, start: str, block: bool, streams: tuple[str, ...]) -> list[tuple[str, bytes, Fields]]:
        reply = self.client.xreadgroup(
            keys.AGGREGATORS_GROUP, self.name, dict.fromkeys(streams, start),
            count=self.settings.batch, block=self.settings.block_ms if block else None,
        )  # fmt: skip
        return [
            (stream, entry_id, fields) for stream, entries in streams_entries(reply) for entry_id, fields in entries
        ]

    def _store(self, entries: list[tuple[str, bytes, Fields]]) -> None:
        started = time.perf_counter()
        now = time.time()
        stored: list[Result] = []
        live: list[Result] = []
        with self.client.pipeline(transaction=True) as pipe:
            for stream, entry_id, fields in entries:
                result = self._decode(stream, entry_id, fields)
                if result is not None and result.source_kind != "file":
                    live.append(result)  # cameras: rolling windows, not a per-frame store
                elif result is not None:
                    pipe.hset(keys.video_results_key(result.video_id), str(result.frame_index), fields[b"meta"])
                    pipe.hset(keys.video_key(result.video_id), "last_result_at", now)
                    stored.append(result)
            for stream in sorted({stream for stream, _, _ in entries}):
                ids = [entry_id for s, entry_id, _ in entries if s == stream]
                pipe.xack(stream, keys.AGGREGATORS_GROUP, *ids)
                pipe.xdel(stream, *ids)
            replies = pipe.execute()
        self.aof.frames_deleted()
        # HSET answers 1 for a new field: a redelivered result is stored again but counted once.
        for result, new in zip(stored, replies[0 : 2 * len(stored) : 2], strict=True):
            if new:
                _observe_new_result(result, now)
        for result in live:
            if self.cameras.add(result, now):
                _observe_new_result(result, now)
        m.STAGE_SECONDS.labels("store").observe(time.perf_counter() - started)

    def _decode(self, stream: str, entry_id: bytes, fields: Fields) -> Result | None:
        try:
            result = decode_result(fields)
        except MessageError as exc:
            self._reject(stream, entry_id, str(exc))
            return None
        if result.source_kind == "file" and not self._is_registered(result.video_id):
            self._reject(stream, entry_id, f"result for unknown video id {result.video_id!r}")
            return None
        if result.source_kind != "file" and not self._is_camera(result.video_id):
            self._reject(stream, entry_id, f"result for unknown camera id {result.video_id!r}")
            return None
        self.stats.results += 1
        return result

    def _reject(self, stream: str, entry_id: bytes, reason: str) -> None:
        self.stats.rejected += 1
        m.DEAD_LETTERS.labels("rejected").inc()
        log.warning("rejected result %s: %s", entry_id.decode(), reason)
        letter = {
            "entry_id": entry_id.decode(),
            "reason": reason,
            "stream": stream,
            "at": str(time.time()),
        }
        self.client.xadd(keys.DEAD_STREAM, letter, maxlen=keys.DEAD_STREAM_MAXLEN, approximate=True)  # type: ignore[arg-type]

    def _is_camera(self, camera_id: str) -> bool:
        if camera_id not in self._cameras:
            if not self.client.sismember(keys.CAMERAS_INDEX, camera_id):
                return False
            self._cameras.add(camera_id)
        return True

    def _is_registered(self, video_id: str) -> bool:
        if video_id not in self._registered:
            if not self.client.exists(keys.video_key(video_id)):
                return False
            self._registered.add(video_id)
        return True

    def finish_ready_videos(self) -> list[str]:
        """Write outputs for open videos that are complete, or stalled past the timeout; returns their ids."""
        finished = []
        for video_id in registry.open_video_ids(self.client):
            record = registry.read(self.client, video_id)
            if record is None or record.status in ("complete", "failed"):
                registry.close(self.client, video_id)
                continue
            done = registry.results_count(self.client, video_id)
            complete = record.frames_expected is not None and done >= record.frames_expected
            stalled = not complete and record.status != "partial" and self._stalled(record)
            if not (complete or stalled) or self._waiting_to_retry(video_id) or not self._lease(video_id):
                continue
            pulse = KeepAlive(
                self.client, video_id, self.name, self.liveness,
                every_s=self.keep_alive_every_s, camera_lease=self.camera_lease,
            )  # fmt: skip
            try:
                self.write_outputs(record, missing=self._missing(record) if stalled else None, pulse=pulse)
            except OSError as exc:
                self._write_failed(record, exc)
                continue
            except ResultsChangedError as exc:  # stored again all along: its outputs wait for a steadier moment
                log.warning("%s; finalising it again later", exc)
                continue
            finally:
                release_lease(self.client, keys.video_finalising_key(video_id), self.name)
            self._write_retries.pop(video_id, None)
            finished.append(video_id)
        return finished

    def _waiting_to_retry(self, video_id: str) -> bool:
        return video_id in self._write_retries and time.monotonic() < self._write_retries[video_id][1]

    def _write_failed(self, record: registry.VideoRecord, exc: OSError) -> None:
        """Outputs that could not be written: said in the log and on the video, tried again later."""
        backoff = self._write_retries.get(record.video_id, (Backoff(base_s=1.0, cap_s=60.0), 0.0))[0]
        delay = backoff.next_delay()
        self._write_retries[record.video_id] = (backoff, time.monotonic() + delay)
        folder = self.settings.out_dir / record.video_id
        error = f"its outputs could not be written to {folder}: {exc.strerror or exc}"
        log.error("%s: %s; retrying in %.0f s (its results wait in Redis)", record.video_id, error, delay)
        m.OUTPUT_WRITE_ERRORS.labels("video").inc()
        registry.update(self.client, record.video_id, error=error)

    def _lease(self, video_id: str) -> bool:
        """Whether this aggregator may finalise the video now (another may be doing it; a dead one's lease lapses)."""
        taken = self.client.set(keys.video_finalising_key(video_id), self.name, nx=True, ex=keys.FINALISE_LEASE_S)
        if not taken:
            return False
        record = registry.read(self.client, video_id)  # finalised meanwhile by the aggregator that held it?
        if record is None or record.status == "complete":
            self.client.delete(keys.video_finalising_key(video_id))
            registry.close(self.client, video_id)
            return False
        return True

    def _stalled(self, record: registry.VideoRecord) -> bool:
        last_progress = max(record.updated_at, record.last_result_at)
        return time.time() - last_progress > self.settings.stall_timeout_s

    def _missing(self, record: registry.VideoRecord) -> list[int]:
        stored = {int(k) for k in cast(list[bytes], self.client.hkeys(keys.video_results_key(record.video_id)))}
        return [i for i in registry.sent_indices(self.client, record.video_id) if i not in stored]

    def write_outputs(
        self, record: registry.VideoRecord, missing: list[int] | None = None, pulse: Pulse = no_pulse
    ) -> Path:
        """Timeline files for the results stored so far; ``missing`` set: the video is finalised as partial.
        ``pulse`` is called all along (``aggregator.keepalive``): a crowded hour takes a minute."""
        started = time.perf_counter()
        folder = self.settings.out_dir / record.video_id
        counts, summary = self._write_files_from_one_reading(folder, record, missing, pulse)
        m.STAGE_SECONDS.labels("finalise").observe(time.perf_counter() - started)
        if record.error:  # an earlier attempt's write error: written now
            self.client.hdel(keys.video_key(record.video_id), "error")
        registry.update(
            self.client, record.video_id, status=summary["status"], completed_at=time.time(),
            frames_failed=summary["frames_failed"], missing_frames=len(missing or ()), output_dir=str(folder),
        )  # fmt: skip
        expire_video(self.client, record.video_id, self.settings.results_ttl_s)
        if summary["status"] == "complete":
            registry.close(self.client, record.video_id)
            self.stats.videos_completed += 1
        else:
            self.stats.videos_partial += 1
        m.VIDEOS.labels("completed" if summary["status"] == "complete" else "partial").inc()
        log.info(
            "%s: %s, %d frames, %d failed, %d missing -> %s",
            record.video_id, summary["status"], counts.frames, summary["frames_failed"], len(missing or ()), folder,
        )  # fmt: skip
        return folder

    def tracking_config(self) -> TrackingConfig:
        return TrackingConfig(lost_s=self.settings.track_lost_s, min_track_frames=self.settings.track_min_frames)

    def smoothing_config(self) -> SmoothingConfig:
        return SmoothingConfig(method=self.settings.smoothing, uncertain_below=self.settings.uncertain_below)

    def _write_files_from_one_reading(
        self, folder: Path, record: registry.VideoRecord, missing: list[int] | None, pulse: Pulse
    ) -> tuple[timeline.Tally, dict[str, Any]]:
        """The files, from results that did not change while they were written (``aggregator.stored``)."""
        for attempt in range(1, FINALISE_ATTEMPTS):
            try:
                return self._write_files(folder, record, StoredResults(self.client, record.video_id, pulse), missing)
            except ResultsChangedError as exc:  # a frame stored again meanwhile: every file from one reading
                log.warning("%s; writing its outputs again (%d of %d)", exc, attempt + 1, FINALISE_ATTEMPTS)
        return self._write_files(folder, record, StoredResults(self.client, record.video_id, pulse), missing)

    def _write_files(
        self,
        folder: Path,
        record: registry.VideoRecord,
        results: StoredResults,
        missing: list[int] | None,
    ) -> tuple[timeline.Tally, dict[str, Any]]:
        pulse = results.pulse
        cuts = [index for index, _ in record.shot_cuts or ()]
        tracking, smoothing = self.tracking_config(), self.smoothing_config()
        counts = timeline.Tally()  # in the people's pass, in frame order
        people = analyse_people(counts.counting(results), record.sample_fps, tracking, smoothing, cuts, pulse=pulse)
        summary = timeline.summary(record, counts, people, missing)
        write_outputs(folder, record, results, people, counts=counts, summary=summary, pulse=pulse)
        return counts, summary

    def _update_gauges(self) -> None:
        """Backlog, pending and open videos, at most once a second (the aggregator is the one reporter)."""
        if time.monotonic() - self._gauges_at < 1.0:
            return
        self._gauges_at = time.monotonic()
        frame_streams = registry.frame_streams(self.client)
        results = (keys.RESULTS_STREAM, keys.CAMERA_RESULTS_STREAM)
        for stream in (*frame_streams, *results, keys.DEAD_STREAM):
            m.STREAM_LENGTH.labels(stream).set(self.client.xlen(stream))
        groups = [(stream, keys.WORKERS_GROUP) for stream in frame_streams]
        for stream, group in (*groups, *((stream, keys.AGGREGATORS_GROUP) for stream in results)):
            m.PENDING.labels(stream, group).set(self._pending(stream, group))
        m.VIDEOS_OPEN.set(self.client.scard(keys.OPEN_VIDEOS))
        if (memory := memory_state(self.client)) is not None:  # what managed Redis offers no exporter for
            m.REDIS_MEMORY.labels("used").set(memory.used)
            m.REDIS_MEMORY.labels("limit").set(memory.limit)

    def _pending(self, stream: str, group: str) -> int:
        if not self.client.exists(stream):
            return 0
        found = {g["name"].decode(): g for g in self.client.xinfo_groups(stream)}
        return int(found[group]["pending"]) if group in found else 0

    def _heartbeat(self) -> None:
        self.liveness.beat()
        report_health(self.client, self.role, self.name, results=self.stats.results)


def write_outputs(
    folder: Path,
    record: registry.VideoRecord,
    results: Iterable[Result],
    people: People,
    *,
    counts: timeline.Tally,
    summary: dict[str, object],
    pulse: Pulse = no_pulse,
) -> None:
    """Every file of a finished video, each written atomically; the same inputs give the same bytes.
    ``results`` in frame order are read twice (the timeline, then its CSV)."""
    head, frames = timeline.timeline(record, results, people, counts, pulse)
    write_json_streamed(folder / "timeline.json", head, "frames", frames)
    write_csv(folder / "timeline.csv", timeline.CSV_COLUMNS, timeline.csv_rows(record, results, people, pulse))
    segments = timeline.segment_rows(record, people)
    write_csv(
        folder / "segments.csv", timeline.SEGMENT_COLUMNS, ([s[c] for c in timeline.SEGMENT_COLUMNS] for s in segments)
    )
    write_json(folder / "segments.json", segments)
    png = timeline_png(
        people.segments, timeline.duration_ms(record, counts), record.video_id, timeline.cuts_ms(record) or []
    )
    write_atomic_bytes(folder / "timeline.png", png)
    has_video = _current_render(folder / "annotated.mp4", record.created_at)
    write_atomic(folder / "report.html", report_html(summary, people.segments, png, has_video))
    write_json(folder / "summary.json", summary)  # last: its presence means the rest is there


def _current_render(video: Path, analysed_at: float) -> bool:
    """Whether ``annotated.mp4`` is there and drawn from this analysis. One rendered before it (the
    same video id analysed again, without --render) is removed: the report would show its boxes."""
    try:
        if video.stat().st_mtime >= analysed_at:
            return True
        video.unlink()
        log.info("%s: removed, rendered from an earlier analysis of this video id", video)
    except FileNotFoundError:
        pass
    return False


def _observe_new_result(result: Result, now: float) -> None:
    m.RESULTS_STORED.labels(result.status).inc()
    if result.captured_at > 0:
        m.END_TO_END_SECONDS.labels(result.source_kind).observe(max(0.0, now - result.captured_at))
