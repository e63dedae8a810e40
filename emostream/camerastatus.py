"""A camera's state for ``emostream status --camera``: what the producer and aggregator recorded."""

import json
from typing import Any

import redis

from emostream import keys
from emostream.redact import redact_text, redact_url

LATEST_WINDOWS = {"10s": 6, "1m": 5}


def camera_status(client: "redis.Redis", camera_id: str) -> dict[str, Any] | None:
    raw = client.hgetall(keys.camera_key(camera_id))
    if not raw:
        return None
    state: dict[str, Any] = {k.decode(): v.decode() for k, v in raw.items()}  # type: ignore[union-attr]
    for name in ("frames_sent", "frames_dropped", "undecodable_packets", "reconnects", "next_index", "backlog_frames"):
        state[name] = int(state.get(name, 0))
    for name in ("fps", "state_since", "updated_at"):
        if name in state:
            state[name] = float(state[name])
    state["url"] = redact_url(state.get("url", ""))  # stored redacted; redact again in case of old records
    state["last_error"] = redact_text(state.get("last_error", ""))
    state["camera_id"] = camera_id
    state["backlog"] = int(client.xlen(keys.camera_frames_stream(camera_id)))
    state["windows"] = {
        name: [json.loads(w) for w in client.lrange(keys.camera_windows_key(camera_id, name), 0, count - 1)]
        for name, count in LATEST_WINDOWS.items()
    }
    return state
