"""Process lifecycle helpers for entry points: two-stage shutdown and health checks."""

import json
import logging
import os
import random
import re
import signal
import socket
import time
from collections.abc import Callable
from types import FrameType

import redis

from emostream import keys
from emostream.redact import redact_text

log = logging.getLogger(__name__)


def consumer_name() -> str:
    """This process's default name in consumer groups and health keys: host and pid (unique while it runs)."""
    return f"{socket.gethostname()}-{os.getpid()}"


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


def report_health(client: "redis.Redis", role: str, name: str, **state: object) -> None:
    """Refresh this process's health key (what ``--check`` reads), with a little state for humans."""
    client.set(keys.health_key(role, name), json.dumps({"at": time.time(), **state}), ex=keys.HEALTH_TTL_S)


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


class Backoff:
    """Exponential back-off with full jitter, capped: 0.1 s, 0.2 s, ... up to ``cap_s``."""

    def __init__(self, base_s: float = 0.1, cap_s: float = 5.0) -> None:
        self.base_s = base_s
        self.cap_s = cap_s
        self.attempt = 0

    def next_delay(self) -> float:
        ceiling = min(self.cap_s, self.base_s * 2**self.attempt)
        self.attempt += 1
        return random.uniform(ceiling / 2, ceiling)

    def reset(self) -> None:
        self.attempt = 0


# Replies to wait out rather than die of: our streams or groups went away (a restarted server, a
# deleted camera stream while we blocked on it: recover() recreates what we read from), or the
# server refuses writes for now: it cannot persist (MISCONF: its disk is full, and it refuses even
# PING), it was made a replica in a failover (READONLY), its primary is down (MASTERDOWN), or it is
# full (OOM: past its maxmemory, it refuses whatever adds data until something is deleted).
RECOVERABLE_REPLIES = ("NOGROUP", "UNBLOCKED", "MISCONF", "READONLY", "MASTERDOWN", "OOM")
# redis-py raises some of these as classes of their own, their code cut from the message.
_RECOVERABLE_CLASSES = (
    redis.exceptions.ReadOnlyError,
    redis.exceptions.MasterDownError,
    redis.exceptions.OutOfMemoryError,
)
_REPLY_CODE = re.compile(r"(?:.* of pipeline caused error: )?([A-Z]+)\b")  # a pipeline's names the command first
FULL_HINT = "raise its maxmemory, or let finished videos' state expire sooner (EMO_RESULTS_TTL_S)"


def _reply_code(exc: redis.RedisError) -> str | None:
    """The reply's code (``MISCONF``), alone or inside a pipeline's error; None for a lost connection."""
    match = _REPLY_CODE.match(str(exc)) if isinstance(exc, redis.ResponseError) else None
    return match.group(1) if match else None


def recoverable(exc: redis.ResponseError) -> bool:
    """Whether the reply is one to wait out (``RECOVERABLE_REPLIES``), alone or inside a pipeline's error."""
    return isinstance(exc, _RECOVERABLE_CLASSES) or _reply_code(exc) in RECOVERABLE_REPLIES


def is_full(exc: redis.RedisError) -> bool:
    """Whether Redis refused a write for want of memory (past ``maxmemory``, policy ``noeviction``).

    The command was not run; a transaction (MULTI/EXEC) so refused ran none of its commands."""
    return isinstance(exc, redis.exceptions.OutOfMemoryError) or _reply_code(exc) == "OOM"


def describe_outage(exc: redis.RedisError) -> str:
    """What a log line says of a reply or lost connection being waited out (URLs redacted)."""
    if is_full(exc):
        return f"Redis is full (it refuses new data past its maxmemory): waiting for room; {FULL_HINT}"
    return f"Redis unavailable ({redact_text(str(exc))})"


def run_loop(step: Callable[[], bool], recover: Callable[[], None], stopping: Callable[[], bool], what: str) -> None:
    """``recover()`` then ``step()`` until a step returns False or a stop is requested.

    A Redis outage (connection lost, a restarted server without our consumer group, a stream
    deleted while we waited on it) is waited out with back-off; then ``recover()`` runs again (recreate
    groups, re-read our own pending entries) so nothing given to us is lost.
    """
    backoff = Backoff()
    ready = False
    while not stopping():
        try:
            if not ready:
                recover()
                ready = True
            if not step():
                return
            backoff.reset()
        except (redis.ConnectionError, redis.TimeoutError, redis.ResponseError) as exc:
            if isinstance(exc, redis.ResponseError) and not recoverable(exc):
                raise
            ready = False
            delay = backoff.next_delay()
            log.warning("%s: %s; retrying in %.1f s", what, describe_outage(exc), delay)
            sleep_unless(stopping, delay)


def sleep_unless(stopping: Callable[[], bool], seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while not stopping() and time.monotonic() < deadline:
        time.sleep(min(0.05, max(0.0, deadline - time.monotonic())))
