"""Watching an uploads folder: each video dropped in is analysed once, then moved aside.

A file is taken once its size and modification time have not changed for one poll
interval, so an upload still being copied is left alone. A copy can stall for longer
than that (a network share): a file that cannot be opened as a video yet, and was
written to within ``settle_s``, is left in place and tried again (an MP4 from a phone or
camera has its index at the end, so a partial one cannot be opened). When its frames
are all sent it moves to ``UPLOADS/processed/`` (the aggregator writes its timeline); a
file that cannot be read, and has been still for ``settle_s``, moves to
``UPLOADS/failed/`` with the reason beside it in ``NAME.error.txt``. If Redis is lost
the file stays where it is and is retried after back-off; a restarted watcher resumes a
half-sent video under the same id.
"""

import logging
import time
from dataclasses import dataclass, field
from pathlib import Path

import redis

from emostream import metrics as m
from emostream import registry
from emostream.errors import ServiceError, SourceError
from emostream.lifecycle import Backoff, consumer_name, report_health, sleep_unless
from emostream.mediafiles import display_name, others_in, videos_in
from emostream.redact import redact_text
from emostream.settings import ProducerSettings
from emostream.videofile import container_problem
from producer.producer import FileProducer

log = logging.getLogger(__name__)

PROCESSED_DIR, FAILED_DIR = "processed", "failed"
SETTLE_S = 60.0  # an unreadable file written to this recently may still be arriving (watch --settle-s)


@dataclass
class WatchStats:
    processed: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)


class UploadWatcher:
    role = "producer"

    def __init__(
        self,
        settings: ProducerSettings,
        client: "redis.Redis",
        uploads: Path,
        poll_s: float = 2.0,
        liveness: m.Liveness | None = None,
        *,
        settle_s: float = SETTLE_S,
    ) -> None:
        self.settings = settings
        self.client = client
        self.uploads = uploads
        self.poll_s = poll_s
        self.settle_s = settle_s
        self._not_ready: set[Path] = set()  # unreadable files left in place while they may be arriving
        self.name = consumer_name()
        self.liveness = liveness or m.Liveness()
        self.liveness.report = self._report_health
        self.stats = WatchStats()
        self._seen: dict[Path, tuple[int, int]] = {}
        self._told_of: set[Path] = set()  # files left alone for their suffix, each said once
        self._stopping = False

    def request_stop(self) -> None:
        self._stopping = True

    def run(self, once: bool = False) -> WatchStats:
        """Poll until stopped; with ``once``, until no upload is waiting (stable or not)."""
        for folder in (self.uploads, self.uploads / PROCESSED_DIR, self.uploads / FAILED_DIR):
            folder.mkdir(parents=True, exist_ok=True)
        backoff = Backoff(cap_s=30.0)
        while not self._stopping:
            try:
                self._heartbeat()
                self._tell_of_others()
                for path in self.stable_uploads():
                    if self._stopping:
                        break
                    self.process(path)
                backoff.reset()
                delay = self.poll_s
            except (redis.RedisError, ServiceError) as exc:
                delay = backoff.next_delay()
                log.warning("uploads: Redis unavailable (%s); retrying in %.1f s", redact_text(str(exc)), delay)
            if once and not self._waiting():
                break
            sleep_unless(lambda: self._stopping, delay)
        return self.stats

    def stable_uploads(self) -> list[Path]:
        """Video files whose size and mtime did not change since the previous poll."""
        stable, current = [], {}
        for path in self._waiting():
            stat = path.stat()
            current[path] = (stat.st_size, stat.st_mtime_ns)
            if self._seen.get(path) == current[path] and stat.st_size > 0:
                stable.append(path)
        self._seen = current
        return stable

    def process(self, path: Path) -> None:
        if self._may_still_be_arriving(path):
            return
        video_id = self._video_id(path)
        log.info("upload %s: analysing as video %s", display_name(path), video_id)
        try:
            report = FileProducer(self.settings, self.client, liveness=self.liveness).produce(path, video_id)
        except SourceError as exc:
            self._move(path, FAILED_DIR)
            (self.uploads / FAILED_DIR / f"{path.name}.error.txt").write_text(f"{exc}\n")
            self.stats.failed.append(video_id)
            log.error("upload %s: %s; moved to %s/", display_name(path), exc, FAILED_DIR)
            return
        self._move(path, PROCESSED_DIR)
        self.stats.processed.append(video_id)
        log.info(
            "upload %s: %d frames sent as %s; moved to %s/",
            display_name(path),
            report.frames_sent,
            video_id,
            PROCESSED_DIR,
        )

    def _may_still_be_arriving(self, path: Path) -> bool:
        """A file that cannot be opened as a video yet but was written to within ``settle_s``: left
        for a later poll (checked before anything is registered, so Redis sees one attempt)."""
        recent = time.time() - path.stat().st_mtime < self.settle_s  # a stat first: most files sat still
        problem = container_problem(path) if recent else None
        if problem is not None:
            if path not in self._not_ready:
                log.warning(
                    "upload %s: not readable yet (%s); left in place, as it may still be arriving: tried "
                    "again until it has been still for %.0f s", display_name(path), problem, self.settle_s,
                )  # fmt: skip
                self._not_ready.add(path)
            return True
        self._not_ready.discard(path)
        return False

    def _video_id(self, path: Path) -> str:
        """The file's readable id; a half-sent video of the same file keeps its id (resume)."""
        base = registry.video_id_from_name(path.stem)
        candidate, n = base, 2
        while (record := registry.read(self.client, candidate)) is not None:
            if record.status == "producing" and record.source == display_name(path):
                return candidate
            candidate, n = f"{base}-{n}", n + 1
        return candidate

    def _tell_of_others(self) -> None:
        """A file dropped in with a suffix no video has is not taken: said once, not left in silence."""
        others = set(others_in(self.uploads))
        for path in sorted(others - self._told_of):
            name = display_name(path)
            log.warning(
                "upload %s: left alone: its name does not end as a video file's does (%s); rename it if it "
                "is a video (emostream analyze takes a file of any name)", name, Path(name).suffix or "no suffix",
            )  # fmt: skip
        self._told_of = others

    def _waiting(self) -> list[Path]:
        return videos_in(self.uploads)

    def _move(self, path: Path, folder: str) -> None:
        target = self.uploads / folder / path.name
        n = 2
        while target.exists():
            target = self.uploads / folder / f"{path.stem}-{n}{path.suffix}"
            n += 1
        path.replace(target)

    def _heartbeat(self) -> None:
        self.liveness.beat()

    def _report_health(self) -> None:
        """Also called while a long video is being sent, so ``--check`` stays green."""
        report_health(
            self.client, self.role, self.name, processed=len(self.stats.processed), failed=len(self.stats.failed)
        )
