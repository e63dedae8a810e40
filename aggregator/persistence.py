"""Frames leave the Redis disk soon after they are processed.

Workers delete each frame (a JPEG with faces) from its stream once its result is written, but
with AOF persistence the command that added it stays in the append-only file until Redis next
rewrites that file. So the aggregator, once results have come in (their frames are deleted by
then), asks Redis for a rewrite at most every ``aof_scrub_s`` seconds; the rewritten file holds
the data as it is, without deleted frames. Only while Redis has AOF on; 0 turns this off.
"""

import logging
import time

import redis

log = logging.getLogger(__name__)


class AofScrubber:
    def __init__(self, client: "redis.Redis", interval_s: float) -> None:
        self.client = client
        self.interval_s = interval_s
        self._dirty = False
        self._last = float("-inf")

    def frames_deleted(self) -> None:
        """Results were stored: the frames behind them are gone from their streams, not yet from disk."""
        self._dirty = True

    def maybe_rewrite(self, now: float | None = None) -> bool:
        """Start a rewrite if frames were deleted since the last one and the interval has passed."""
        now = time.monotonic() if now is None else now
        if not self._dirty or self.interval_s <= 0 or now - self._last < self.interval_s:
            return False
        try:
            info = self.client.info("persistence")
        except redis.ResponseError as exc:  # a server without INFO cannot say whether it writes an AOF
            log.warning("AOF scrubbing off: the server does not answer INFO persistence (%s)", exc)
            self.interval_s = 0
            return False
        if not info.get("aof_enabled"):
            self._last, self._dirty = now, False  # nothing is appended to disk: nothing to scrub
            return False
        if info.get("aof_rewrite_in_progress") or info.get("aof_rewrite_scheduled"):
            return False  # it may have started before the last deletions: ask again next step
        self._last = now
        try:
            self.client.bgrewriteaof()
        except redis.ResponseError as exc:  # another aggregator's started meanwhile, or the command is disabled
            log.info("AOF rewrite not started: %s", exc)
            return False
        self._dirty = False
        return True
