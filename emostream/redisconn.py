"""Redis connection helpers: connect with a clear error, create consumer groups idempotently."""

import logging
from typing import Any, cast

import redis

from emostream.errors import ServiceError
from emostream.lifecycle import recoverable
from emostream.redact import redact_text, redact_url
from emostream.schema import Fields

CONNECT_TIMEOUT_S = 5.0  # an unreachable URL fails within this, with a clear message

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
    return client


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
