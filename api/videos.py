"""A video as the API shows it: its registry entry, progress, and the aggregator's files."""

import contextlib
import re
import shutil
import time
from collections.abc import Collection
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

import redis
from fastapi import HTTPException

from emostream import keys, registry
from emostream.outputs import expired_status, output_names, video_warnings

if TYPE_CHECKING:
    from api.ingest import Ingest

ID_PATTERN = re.compile(r"^[A-Za-z0-9_-]{1,128}$")  # what the API hands out; anything else is not ours
FINISHED = ("complete", "partial")
BRIEF_FIELDS = ("video_id", "status", "source", "created_at", "expired")  # a video in the list
DISK_SCAN_KEPT_S = 30.0
OUTPUTS = {  # route -> (file in OUT/<video_id>/, media type)
    "timeline": ("timeline.json", "application/json"),
    "segments": ("segments.json", "application/json"),
    "summary": ("summary.json", "application/json"),
    "timeline.csv": ("timeline.csv", "text/csv"),
    "report": ("report.html", "text/html"),
    "annotated.mp4": ("annotated.mp4", "video/mp4"),
}


def valid_video_id(video_id: str) -> bool:
    return bool(ID_PATTERN.match(video_id))


class VideoStore:
    def __init__(self, client: "redis.Redis", out_dir: Path, ingest: "Ingest") -> None:
        self.client = client
        self.out_dir = out_dir
        self.ingest = ingest
        self._scanned: tuple[int, float, dict[str, float]] | None = None  # (the folder's mtime, when, what)

    def status(self, video_id: str) -> dict[str, Any]:
        record = registry.read(self.client, video_id)
        if record is None:
            if video_id in self.ingest.queued:
                return {"video_id": video_id, "status": "queued"}
            if (written := expired_status(self._folder(video_id), video_id)) is not None:
                return written
            raise HTTPException(404, "no such video")
        done = registry.results_count(self.client, video_id)
        finished = record.status in FINISHED
        return {
            "video_id": video_id,
            "status": record.status,
            "source": record.source,
            "error": record.error,
            "frames_sent": record.frames_sent,
            "frames_expected": record.frames_expected,
            "frames_processed": done,
            "frames_failed": record.frames_failed,
            "warnings": video_warnings(self._folder(video_id), finished, record.warnings),
            "created_at": record.created_at,
            "updated_at": record.updated_at,
            "elapsed_s": round(max(record.updated_at, record.last_result_at) - record.created_at, 3),
            "outputs": output_names(self._folder(video_id)) if finished else [],
            "expired": False,
        }

    def recent(self, limit: int, offset: int) -> dict[str, Any]:
        """Newest first, a page of them, with how many there are."""
        video_ids, total = self.newest(limit, offset)
        page = registry.read_many(self.client, video_ids)
        briefs = (self._brief(video_id, record) for video_id, record in page.items())
        return {"total": total, "limit": limit, "offset": offset, "videos": [b for b in briefs if b is not None]}

    def _brief(self, video_id: str, record: registry.VideoRecord | None) -> dict[str, Any] | None:
        if record is not None:
            return {
                "video_id": record.video_id, "status": record.status, "source": record.source,
                "created_at": record.created_at, "expired": False,
            }  # fmt: skip
        written = expired_status(self._folder(video_id), video_id)  # None: removed since it was listed
        return None if written is None else {key: written[key] for key in BRIEF_FIELDS}

    def newest(self, limit: int, offset: int) -> tuple[list[str], int]:
        """A page of video ids, newest first, and how many there are; ids whose registry entry has
        expired are dropped from the index on the way, and listed while their files are kept (by when
        those were written). Sorted by creation time alone, so only a page is read whole (5,000 videos
        took 1.4 s read whole)."""
        created = registry.created_times(self.client, registry.all_video_ids(self.client))
        expired = [video_id for video_id, at in created.items() if at is None]
        if expired:
            self.client.srem(keys.VIDEOS_INDEX, *expired)
        listed = {video_id: at for video_id, at in created.items() if at is not None}
        listed.update(self._kept_after_expiry(listed))
        ordered = sorted(((at, video_id) for video_id, at in listed.items()), reverse=True)
        return [video_id for _, video_id in ordered[offset : offset + limit]], len(ordered)

    def _kept_after_expiry(self, registered: Collection[str]) -> dict[str, float]:
        """Finished videos whose Redis state has expired (``EMO_RESULTS_TTL_S``) while their files are
        kept, by when their ``summary.json`` (the last file written) was written."""
        return {video_id: at for video_id, at in self._finished_on_disk().items() if video_id not in registered}

    def _finished_on_disk(self) -> dict[str, float]:
        """Every video folder with a ``summary.json``, and when it was written. A scan costs a ``stat`` a
        folder (44 ms for 5,000 here), so one is kept until a folder comes or goes, or for
        ``DISK_SCAN_KEPT_S`` at most (a summary written into a folder already there)."""
        with contextlib.suppress(OSError):  # no output folder yet
            changed = self.out_dir.stat().st_mtime_ns
            kept = self._scanned
            if kept is None or kept[0] != changed or time.monotonic() - kept[1] > DISK_SCAN_KEPT_S:
                self._scanned = kept = (changed, time.monotonic(), self._scan())
            return kept[2]
        return {}

    def _scan(self) -> dict[str, float]:
        written: dict[str, float] = {}
        for folder in self.out_dir.iterdir():
            if valid_video_id(folder.name):
                with contextlib.suppress(OSError):  # not a video's, or not finished
                    written[folder.name] = (folder / "summary.json").stat().st_mtime
        return written

    def output(self, video_id: str, filename: str) -> Path:
        record = registry.read(self.client, video_id)
        folder = self._folder(video_id)
        if record is None and not (folder / "summary.json").is_file():
            raise HTTPException(404, "no such video")
        if record is not None and record.status == "failed":
            raise HTTPException(
                404, f"video {video_id} failed and has no results: {record.error or 'no reason recorded'}"
            )
        if record is not None and record.status not in FINISHED:
            raise HTTPException(409, f"video {video_id} is {record.status}: its results are not written yet")
        path = folder / filename
        if not path.is_file():
            hint = " (upload with render=true to get it)" if filename == "annotated.mp4" else ""
            raise HTTPException(404, f"{filename} was not written for this video{hint}")
        return path

    def delete(self, video_id: str) -> None:
        """Outputs, Redis state and any upload still waiting; frames already sent are rejected as unknown."""
        record = registry.read(self.client, video_id)
        folder = self._folder(video_id)
        if record is None and not folder.exists() and video_id not in self.ingest.queued:
            raise HTTPException(404, "no such video")
        self.ingest.forget(video_id)
        with self.client.pipeline(transaction=True) as pipe:
            pipe.delete(keys.video_key(video_id), keys.video_results_key(video_id), keys.video_sent_key(video_id))
            pipe.srem(keys.VIDEOS_INDEX, video_id)
            pipe.srem(keys.OPEN_VIDEOS, video_id)
            pipe.execute()
        shutil.rmtree(folder, ignore_errors=True)

    def camera_ids(self) -> list[str]:
        return sorted(m.decode() for m in cast(set[bytes], self.client.smembers(keys.CAMERAS_INDEX)))

    def _folder(self, video_id: str) -> Path:
        folder = (self.out_dir / video_id).resolve()
        if folder.parent != self.out_dir:  # never outside the output folder, whatever the id
            raise HTTPException(404, "no such video")
        return folder
