"""How long results are kept: a finished video's Redis state for ``results_ttl_s``, its files for
``output_retention_days`` (off by default), and cameras' window files as long (they are results
about the people a camera saw: until 2026-12-07 they were kept for ever, and a crowded camera's
are 25 MB a day, 2.5 KB a 10 s window). Logs are not touched here."""

import logging
import re
import shutil
import time
from datetime import UTC, datetime
from pathlib import Path

import redis

from emostream import keys

log = logging.getLogger(__name__)

KEPT_FOLDERS = frozenset({"cameras", "logs"})
# OUT/cameras/<camera_id>/<window>-<YYYYMMDDTHH>.jsonl: one file a window size and UTC hour (aggregator.cameras).
CAMERA_FILE = re.compile(r"^[0-9a-z]+-(\d{8}T\d{2})\.jsonl$")


def expire_video(client: "redis.Redis", video_id: str, ttl_s: int) -> None:
    """The registry entry, results and sent bitmap expire ``ttl_s`` from now (0: never)."""
    if ttl_s <= 0:
        return
    with client.pipeline(transaction=True) as pipe:
        for key in (keys.video_key(video_id), keys.video_results_key(video_id), keys.video_sent_key(video_id)):
            pipe.expire(key, ttl_s)
        pipe.execute()


def prune_outputs(out_dir: Path, retention_days: float, now: float | None = None) -> list[str]:
    """Remove finished videos' folders whose summary is older than the retention; returns their ids."""
    if retention_days <= 0 or not out_dir.is_dir():
        return []
    cutoff = (time.time() if now is None else now) - retention_days * 86400
    removed = []
    for folder in sorted(out_dir.iterdir()):
        summary = folder / "summary.json"
        if folder.name in KEPT_FOLDERS or folder.name.startswith(".") or not summary.is_file():
            continue
        if summary.stat().st_mtime < cutoff:
            shutil.rmtree(folder, ignore_errors=True)
            removed.append(folder.name)
    if removed:
        log.info("removed the outputs of %d videos older than %g days: %s", len(removed), retention_days, removed)
    return removed


def prune_camera_windows(out_dir: Path, retention_days: float, now: float | None = None) -> int:
    """Remove cameras' window files whose hour ended before the retention; returns how many."""
    folder = out_dir / "cameras"
    if retention_days <= 0 or not folder.is_dir():
        return 0
    cutoff = (time.time() if now is None else now) - retention_days * 86400
    removed = 0
    for path in sorted(folder.glob("*/*.jsonl")):
        if (match := CAMERA_FILE.match(path.name)) is None:
            continue  # not a window file: not ours to remove
        hour_start = datetime.strptime(match[1], "%Y%m%dT%H").replace(tzinfo=UTC).timestamp()
        if hour_start + 3600 < cutoff:
            path.unlink(missing_ok=True)  # another aggregator may have removed it first
            removed += 1
    if removed:
        log.info("removed %d camera window files older than %g days", removed, retention_days)
    return removed
