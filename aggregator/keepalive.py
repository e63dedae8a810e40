"""Keeping a long finalisation from being taken for a dead aggregator.

An aggregator finalises a video in one step of its loop: tracking, smoothing and writing every file.
For a long, crowded video that step is long: 200,000 faces (a quarter of an hour of a 20-face crowd at
10 fps, or 5.5 hours of one face) took 18.8 s on one core of an AMD EPYC (``bench/finalise.py``), and
would take about twice that on half a CPU, what the Kubernetes manifest requests. Nothing beat the
aggregator's liveness meanwhile (18.8 s old at the end of that run): past ``keys.HEALTH_TTL_S`` its
``/healthz`` and ``--check`` call it dead, so the manifest's liveness probe would restart it mid-write,
and it (or another) would start the same finalisation again, to the same end. And past
``keys.FINALISE_LEASE_S`` the video's finalising lease lapsed, so another aggregator could take the
video and write its files a second time.

The camera lease too (``CAMERA_LEASE_MS``, 10 s), where this aggregator holds it: with another
aggregator running, that one could take the cameras over, and this one, once finished, dropped its
open camera windows and the results already folded into them.

So the long loops of a finalisation call a ``KeepAlive`` (once a frame or a track: a clock read); at
most every ``every_s`` it beats the liveness and renews the leases, those still ours. Camera results
wait meanwhile, as they did; none is lost.
"""

import logging
import time
from collections.abc import Callable

import redis

from aggregator.leader import CameraLease, renew_lease
from emostream import keys
from emostream import metrics as m

log = logging.getLogger(__name__)

KEEP_ALIVE_EVERY_S = 1.0  # far inside HEALTH_TTL_S and the lease; a clock read between


class KeepAlive:
    """The ``Pulse`` (``aggregator.pulse``) of one video's finalisation."""

    def __init__(
        self,
        client: "redis.Redis",
        video_id: str,
        name: str,
        liveness: m.Liveness,
        *,
        every_s: float = KEEP_ALIVE_EVERY_S,
        camera_lease: CameraLease | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.client, self.video_id, self.name, self.liveness = client, video_id, name, liveness
        self.camera_lease = camera_lease
        self.every_s = every_s
        self._clock = clock
        self._last = clock()
        self.lease_lost = False

    def __call__(self) -> None:
        now = self._clock()
        if now - self._last < self.every_s:
            return
        self._last = now
        self.liveness.beat()
        if self.camera_lease is not None:
            self.camera_lease.keep()
        key, lease_ms = keys.video_finalising_key(self.video_id), keys.FINALISE_LEASE_S * 1000
        if not self.lease_lost and not renew_lease(self.client, key, self.name, lease_ms):
            self.lease_lost = True  # written anyway: the files are written atomically, the same bytes
            log.warning(
                "%s: its finalising lease lapsed or was taken over; finishing the files all the same", self.video_id
            )
