"""Redis connection helpers: connect with a clear error, create consumer groups idempotently."""

import logging
from dataclasses import dataclass
from typing import Any, cast

import redis

from emostream.errors import ServiceError
from emostream.lifecycle import recoverable
from emostream.redact import redact_text, redact_url
from emostream.schema import Fields

CONNECT_TIMEOUT_S = 5.0  # an unreachable URL fails within this, with a clear message
FULL_SHARE = 0.95  # of maxmemory: a frame or a batch of results no longer fits

log = logging.getLogger(__name__)


def connect(url: str) -> "redis.Redis":
    """A client for ``url`` that has answered PING; raises ServiceError otherwise.

    A server that answers but refuses writes for now (MISCONF: it cannot persist, and refuses
    PING too) is reachable: the service starts and waits it out as it would once running."""
    try:
        client: redis.Redis = redis.Redis.from_url(
            url, socket_connect_timeout=CONNECT_TIMEOUT_S, health_check_interval=30
        )
        client.ping()
    except redis.ResponseError as exc:
        if not recoverable(exc):
            raise ServiceError(f"cannot reach Redis at {redact_url(url)}: {redact_text(str(exc))}") from None
        log.warning("Redis at %s refuses writes for now (%s)", redact_url(url), redact_text(str(exc)))
    except (redis.RedisError, ValueError) as exc:
        raise ServiceError(f"cannot reach Redis at {redact_url(url)}: {redact_text(str(exc))}") from None
    _warn_if_evicting(client, url)
    return client


@dataclass(frozen=True)
class MemoryState:
    """What Redis says of its memory (``INFO memory``): bytes used, its ``maxmemory`` (0: none) and policy."""

    used: int
    limit: int
    policy: str

    @property
    def full(self) -> bool:
        """Whether it is at its maxmemory, near enough that it refuses most writes."""
        return self.limit > 0 and self.used >= FULL_SHARE * self.limit

    @property
    def evicts(self) -> bool:
        """Whether a full server deletes keys (ours among them) instead of refusing writes."""
        return self.limit > 0 and self.policy != "noeviction"

    def describe(self) -> str:
        return f"{self.used / 2**20:.1f} MB used of its maxmemory {self.limit / 2**20:.1f} MB"


def memory_state(client: "redis.Redis") -> MemoryState | None:
    """Redis's memory use and limit, or None from a server (or proxy) that does not say."""
    try:
        info = client.info("memory")
        policy = str(info.get("maxmemory_policy", "noeviction"))
        return MemoryState(int(info["used_memory"]), int(info.get("maxmemory", 0)), policy)
    except (redis.ResponseError, KeyError, ValueError):
        return None


def _warn_if_evicting(client: "redis.Redis", url: str) -> None:
    """Say so at start if a full Redis would delete keys: queued frames, results and leases would go
    without a trace (with ``volatile-*``, the leases and health keys, which expire). With
    ``noeviction`` it refuses writes instead, and every service waits for room."""
    try:
        state = memory_state(client)
    except redis.RedisError:
        return  # the service's own loop meets and reports this
    if state is not None and state.evicts:
        log.warning(
            "Redis at %s deletes keys when full (maxmemory-policy %s, %s): frames, results and leases "
            "could vanish; set maxmemory-policy noeviction, and emostream waits for room instead",
            redact_url(url), state.policy, state.describe(),
        )  # fmt: skip


def ensure_group(client: "redis.Redis", stream: str, group: str) -> None:
    """Create ``group`` on ``stream`` (and the stream) unless it exists."""
    try:
        client.xgroup_create(stream, group, id="0", mkstream=True)
    except redis.ResponseError as exc:
        if "BUSYGROUP" not in str(exc):
            raise


def group_entries(reply: Any) -> list[tuple[bytes, Fields]]:
    """Entries of a one-stream XREADGROUP reply (``[[stream, entries]]``)."""
    return stream_entries(reply[0][1]) if reply else []


def streams_entries(reply: Any) -> list[tuple[str, list[tuple[bytes, Fields]]]]:
    """(stream, entries) of a many-stream XREADGROUP reply; streams without entries are left out."""
    batches = [(_text(stream), stream_entries(raw)) for stream, raw in cast(list[Any], reply or [])]
    return [(stream, entries) for stream, entries in batches if entries]


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


def stream_entries(raw: Any) -> list[tuple[bytes, Fields]]:
    """(id, fields) pairs of an XRANGE-style entry list; entries deleted meanwhile (no fields) are dropped."""
    return [(cast(bytes, entry_id), cast(Fields, fields)) for entry_id, fields in raw or () if fields]
