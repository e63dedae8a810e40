"""Process lifecycle helpers for entry points: two-stage shutdown and health checks."""

import json
import logging
import os
import signal
import socket
import time
from collections.abc import Callable
from types import FrameType

import redis

from emostream import keys

log = logging.getLogger(__name__)


def install_stop_handlers(request_stop: Callable[[], None]) -> None:
    """First SIGTERM/SIGINT: stop reading, finish the batch in hand. Second: exit at once."""
    received = 0

    def handle(signum: int, _frame: FrameType | None) -> None:
        nonlocal received
        received += 1
        if received > 1:
            log.warning("second %s: exiting now", signal.Signals(signum).name)
            os._exit(128 + signum)
        log.info("%s: finishing the batch in hand, then stopping", signal.Signals(signum).name)
        request_stop()

    signal.signal(signal.SIGTERM, handle)
    signal.signal(signal.SIGINT, handle)


def check_health(client: "redis.Redis", role: str, name: str | None) -> tuple[bool, str]:
    """Whether this process's health key is fresh: (ok, reason). ``name`` None: any on this host."""
    pattern = keys.health_key(role, name or f"{socket.gethostname()}-*")
    found = [key for key in client.scan_iter(match=pattern, count=1000)]
    if not found:
        return False, f"no live {role} health key matching {pattern}"
    states = [json.loads(raw) for raw in client.mget(found) if raw is not None]
    newest = max((float(state["at"]) for state in states), default=0.0)
    age = time.time() - newest
    if age > keys.HEALTH_TTL_S:
        return False, f"{role} health is {age:.0f} s old"
    return True, f"{role} healthy ({age:.1f} s ago)"
