"""The camera lease: one aggregator at a time folds camera results into windows.

A file's results can be stored by any number of aggregators (each result is one hash field,
each video finalised once under its own lease), but a camera's windows and its online tracker
live in one process's memory. So only the holder of ``emo:cameras:lease`` reads the camera
results stream. The holder renews the lease on every loop step; if it dies, the lease lapses
after ``CAMERA_LEASE_MS`` and the next aggregator to ask takes it, with the results the dead
one left pending. A holder that finds its lease gone (it stalled past it) drops its open
windows rather than write them twice.
"""

import logging
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

import redis

from emostream import keys

if TYPE_CHECKING:
    from redis.client import Pipeline

log = logging.getLogger(__name__)
CHECK_EVERY_S = 1.0  # a tenth of the lease: renewed long before it lapses, not on every loop step


class CameraLease:
    def __init__(self, client: "redis.Redis", name: str, lease_ms: int = keys.CAMERA_LEASE_MS) -> None:
        self.client = client
        self.name = name
        self.lease_ms = lease_ms
        self.held = False
        self._checked_at = float("-inf")

    def hold(self) -> bool:
        """Renew the lease if it is ours, else take it if it is free; True while we hold it.
        Asks Redis at most every ``CHECK_EVERY_S``: the aggregator calls this on every step."""
        if time.monotonic() - self._checked_at < CHECK_EVERY_S:
            return self.held
        self._checked_at = time.monotonic()
        was_held = self.held
        self.held = self._renew() or bool(self.client.set(keys.CAMERA_LEASE_KEY, self.name, nx=True, px=self.lease_ms))
        if self.held != was_held:
            log.info("aggregator %s %s the camera lease", self.name, "holds" if self.held else "lost")
        return self.held

    def keep(self) -> None:
        """Renew the lease if we hold it, from inside a long step (``aggregator.keepalive``): the camera
        results wait for the step to end, but the open windows are not lost to a takeover. A lease
        already gone is found so by the next ``hold``, which drops the windows as ever."""
        if self.held:
            self._renew()

    def _renew(self) -> bool:
        return renew_lease(self.client, keys.CAMERA_LEASE_KEY, self.name, self.lease_ms)

    def release(self) -> None:
        """At a clean stop: hand the lease over at once instead of letting it lapse."""
        if self.held:
            release_lease(self.client, keys.CAMERA_LEASE_KEY, self.name)
        self.held = False


def renew_lease(client: "redis.Redis", key: str, name: str, lease_ms: int) -> bool:
    """PEXPIRE ``key`` only if the lease still names ``name``; False if it lapsed or another holds it now."""
    return _if_ours(client, key, name, lambda pipe: pipe.pexpire(key, lease_ms))


def release_lease(client: "redis.Redis", key: str, name: str) -> None:
    """DEL ``key`` only if the lease still names ``name``: never one another aggregator took after ours lapsed."""
    _if_ours(client, key, name, lambda pipe: pipe.delete(key))


def _if_ours(client: "redis.Redis", key: str, name: str, act: Callable[["Pipeline"], object]) -> bool:
    """``act`` on the lease only if it still names ``name`` (WATCH makes the check and the act one step)."""
    with client.pipeline(transaction=True) as pipe:
        try:
            pipe.watch(key)  # type: ignore[no-untyped-call]
            if pipe.get(key) not in (name, name.encode()):
                return False
            pipe.multi()
            act(pipe)
            pipe.execute()
        except redis.WatchError:
            return False
    return True
