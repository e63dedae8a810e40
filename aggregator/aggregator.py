"""The aggregator process: results in, per-video timelines out.

Results are stored by (video, frame index) in a hash, so a redelivered result
overwrites itself and nothing is ever counted twice. A video is complete when it
has as many stored results (ok or failed) as ``frames_expected``; then its
timeline files are written atomically and its status becomes ``complete``.
"""

import json
import logging
import os
import socket
import time
from dataclasses import dataclass
from pathlib import Path

import redis

from aggregator import timeline
from aggregator.writers import write_csv, write_json
from emostream import keys, registry
from emostream.errors import MessageError
from emostream.redisconn import ensure_group, group_entries
from emostream.schema import Fields, Result, decode_result
from emostream.settings import AggregatorSettings

log = logging.getLogger(__name__)


@dataclass
class AggregatorStats:
    results: int = 0
    rejected: int = 0
    videos_completed: int = 0


class Aggregator:
    role = "aggregator"

    def __init__(self, settings: AggregatorSettings, client: "redis.Redis") -> None:
        self.settings = settings
        self.client = client
        self.name = settings.name or f"{socket.gethostname()}-{os.getpid()}"
        self.stats = AggregatorStats()
        self._stopping = False

    def request_stop(self) -> None:
        self._stopping = True

    def run(self, burst: bool = False) -> AggregatorStats:
        """Store results and finish videos until stopped; with ``burst``, until nothing is left to read."""
        ensure_group(self.client, keys.RESULTS_STREAM, keys.AGGREGATORS_GROUP)
        start = "0"  # first our own pending entries (a restart), then new ones
        while not self._stopping:
            self._heartbeat()
            entries = self._read(start, block=not burst and start == ">")
            if entries:
                self._store(entries)
            elif start == "0":
                start = ">"
                continue
            self.finish_ready_videos()
            if burst and not entries:
                break
        log.info(
            "aggregator %s stopped: %d results, %d rejected, %d videos completed",
            self.name, self.stats.results, self.stats.rejected, self.stats.videos_completed,
        )  # fmt: skip
        return self.stats

    def _read(self, start: str, block: bool) -> list[tuple[bytes, Fields]]:
        reply = self.client.xreadgroup(
            keys.AGGREGATORS_GROUP, self.name, {keys.RESULTS_STREAM: start},
            count=self.settings.batch, block=self.settings.block_ms if block else None,
        )  # fmt: skip
        return group_entries(reply)

    def _store(self, entries: list[tuple[bytes, Fields]]) -> None:
        with self.client.pipeline(transaction=True) as pipe:
            for entry_id, fields in entries:
                result = self._decode(entry_id, fields)
                if result is not None:
                    pipe.hset(keys.video_results_key(result.video_id), str(result.frame_index), fields[b"meta"])
            ids = [entry_id for entry_id, _ in entries]
            pipe.xack(keys.RESULTS_STREAM, keys.AGGREGATORS_GROUP, *ids)
            pipe.xdel(keys.RESULTS_STREAM, *ids)
            pipe.execute()

    def _decode(self, entry_id: bytes, fields: Fields) -> Result | None:
        try:
            result = decode_result(fields)
        except MessageError as exc:
            self.stats.rejected += 1
            log.warning("rejected result %s: %s", entry_id.decode(), exc)
            return None
        self.stats.results += 1
        return result

    def finish_ready_videos(self) -> list[str]:
        """Write outputs for every produced video whose results are all in; returns their ids."""
        finished = []
        for video_id in registry.all_video_ids(self.client):
            record = registry.read(self.client, video_id)
            if record is None or record.status != "produced" or record.frames_expected is None:
                continue
            if registry.results_count(self.client, video_id) >= record.frames_expected:
                self.write_outputs(record)
                finished.append(video_id)
        return finished

    def write_outputs(self, record: registry.VideoRecord) -> Path:
        results = self.load_results(record.video_id)
        folder = self.settings.out_dir / record.video_id
        write_json(folder / "timeline.json", timeline.timeline(record, results))
        write_csv(folder / "timeline.csv", timeline.CSV_COLUMNS, timeline.csv_rows(record, results))
        summary = timeline.summary(record, results)
        write_json(folder / "summary.json", summary)
        registry.update(
            self.client, record.video_id, status=summary["status"], completed_at=time.time(),
            frames_failed=summary["frames_failed"], output_dir=str(folder),
        )  # fmt: skip
        self.stats.videos_completed += 1
        log.info(
            "%s: %s, %d frames, %d failed -> %s",
            record.video_id,
            summary["status"],
            len(results),
            summary["frames_failed"],
            folder,
        )
        return folder

    def load_results(self, video_id: str) -> list[Result]:
        stored = self.client.hgetall(keys.video_results_key(video_id))
        return [Result.model_validate_json(raw) for raw in stored.values()]

    def _heartbeat(self) -> None:
        state = {"at": time.time(), "results": self.stats.results}
        self.client.set(keys.health_key(self.role, self.name), json.dumps(state), ex=keys.HEALTH_TTL_S)
