"""How long a finished video is kept: its Redis state for ``results_ttl_s``, its files for
``output_retention_days`` (off by default). Camera windows and logs are not touched here."""

import logging
import shutil
import time
from pathlib import Path

import redis

from emostream import keys

log = logging.getLogger(__name__)

KEPT_FOLDERS = frozenset({"cameras", "logs"})


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
