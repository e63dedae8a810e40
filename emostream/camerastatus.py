"""A camera's state for ``emostream status --camera``: what the producer and aggregator recorded."""

import json
from typing import Any

import redis

from emostream import keys
from emostream.redact import redact_text, redact_url
from emostream.smallfaces import small_faces_advice

LATEST_WINDOWS = {"10s": 6, "1m": 5}


def camera_status(client: "redis.Redis", camera_id: str) -> dict[str, Any] | None:
    raw = client.hgetall(keys.camera_key(camera_id))
    if not raw:
        return None
    state: dict[str, Any] = {k.decode(): v.decode() for k, v in raw.items()}  # type: ignore[union-attr]
    counts = (
        "frames_sent", "frames_dropped", "undecodable_packets", "reconnects", "next_index", "backlog_frames",
        "shot_cuts",
    )  # fmt: skip
    for name in (*counts, "width", "height", "frame_side_px"):
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
    state["warnings"] = [advice] if (advice := _small_faces_advice(state)) else []
    return state


def _small_faces_advice(state: dict[str, Any]) -> str | None:
    """From the latest minute windows: faces near the smallest found in pictures sent smaller."""
    windows = state["windows"]["1m"]
    small, faces = sum(w.get("small_faces", 0) for w in windows), sum(w["faces"] for w in windows)
    how = "--max-frame-side {side} (max_frame_side_px in a [[cameras]] table)"
    picture = (state["width"], state["height"])
    return small_faces_advice(picture, state["frame_side_px"], small, faces, how=how) if faces else None
