"""Rolling per-camera timelines: results of live sources folded into fixed windows.

A camera has no end, so its results are not stored frame by frame. Each result is
added to the 10 s and 1 min windows that contain its capture time. A window closes
once the clock passes its end plus a grace period (for late results); it is then
appended as one JSON line to ``OUT/cameras/<camera_id>/<window>-<YYYYMMDDTHH>.jsonl``
(UTC hour of the window start, so files rotate hourly and are never rewritten) and
pushed onto a short list in Redis that ``emostream status --camera`` reads.

A redelivered result is recognised by its frame index within the window and counted
once. Frames dropped by the camera (live policy) are attributed to the window in
which they were noticed. Windows still open when the aggregator is killed are lost
(a clean stop writes them, marked ``closed_early``).
"""

import json
import logging
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import redis

from emostream import keys
from emostream import metrics as m
from emostream.labels import EMOTIONS
from emostream.schema import Result

log = logging.getLogger(__name__)

WINDOWS: dict[str, int] = {"10s": 10, "1m": 60}
GRACE_S = 5.0


@dataclass
class Window:
    camera_id: str
    name: str
    start: float
    size_s: int
    frames: set[int] = field(default_factory=set)
    frames_failed: int = 0
    faces: int = 0
    emotions: Counter[str] = field(default_factory=Counter)
    latencies_s: list[float] = field(default_factory=list)

    @property
    def end(self) -> float:
        return self.start + self.size_s

    def add(self, result: Result, now: float) -> bool:
        """False for a result this window already holds (a redelivery)."""
        if result.frame_index in self.frames:
            return False
        self.frames.add(result.frame_index)
        self.frames_failed += result.status == "failed"
        self.faces += len(result.faces)
        self.emotions.update(face.emotion for face in result.faces)
        self.latencies_s.append(max(0.0, now - result.captured_at))
        return True

    def record(self, dropped: int, closed_early: bool) -> dict[str, Any]:
        share = {e: round(self.emotions[e] / self.faces, 4) if self.faces else 0.0 for e in EMOTIONS}
        latency = np.array(self.latencies_s) * 1000
        return {
            "camera_id": self.camera_id,
            "window": self.name,
            "start": _iso(self.start),
            "end": _iso(self.end),
            "frames_processed": len(self.frames),
            "frames_failed": self.frames_failed,
            "frames_dropped": dropped,
            "faces": self.faces,
            "emotion_share": share,
            "dominant_emotion": self.emotions.most_common(1)[0][0] if self.faces else None,
            "latency_ms_p50": round(float(np.percentile(latency, 50)), 1) if latency.size else None,
            "latency_ms_p95": round(float(np.percentile(latency, 95)), 1) if latency.size else None,
            "closed_early": closed_early,
        }


class CameraTimelines:
    def __init__(self, out_dir: Path, client: "redis.Redis", grace_s: float = GRACE_S) -> None:
        self.out_dir = out_dir
        self.client = client
        self.grace_s = grace_s
        self._open: dict[tuple[str, str, float], Window] = {}
        self._dropped_seen: dict[tuple[str, str], int] = {}

    def add(self, result: Result, now: float) -> bool:
        """Fold a live result into its windows; False if it was a redelivery."""
        camera = result.video_id
        if (camera, "10s") not in self._dropped_seen:  # first result of this camera since start
            m.init_camera_aggregation_labels(camera)
            total = self._dropped_total(camera)
            for name in WINDOWS:
                self._dropped_seen[(camera, name)] = total
        new = False
        for name, size in WINDOWS.items():
            start = result.captured_at - result.captured_at % size
            window = self._open.setdefault((camera, name, start), Window(camera, name, start, size))
            new = window.add(result, now) or new
        if new:
            m.CAMERA_FRAMES.labels(camera).inc()
            for face in result.faces:
                m.CAMERA_EMOTIONS.labels(camera, face.emotion).inc()
        return new

    def flush(self, now: float | None = None, force: bool = False) -> list[dict[str, Any]]:
        """Write every window that has closed (all of them with ``force``); returns their records."""
        now = time.time() if now is None else now
        due = [k for k, w in self._open.items() if force or w.end + self.grace_s <= now]
        records = []
        for key in sorted(due, key=lambda k: k[2]):
            window = self._open.pop(key)
            records.append(self._write(window, closed_early=force and window.end + self.grace_s > now))
        return records

    def _write(self, window: Window, closed_early: bool) -> dict[str, Any]:
        total = self._dropped_total(window.camera_id)
        seen_key = (window.camera_id, window.name)
        dropped = max(0, total - self._dropped_seen.get(seen_key, total))
        self._dropped_seen[seen_key] = total
        record = window.record(dropped, closed_early)
        hour = datetime.fromtimestamp(window.start, UTC).strftime("%Y%m%dT%H")
        path = self.out_dir / "cameras" / window.camera_id / f"{window.name}-{hour}.jsonl"
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("a") as fh:  # append-only: one line per closed window
            fh.write(json.dumps(record) + "\n")
        list_key = keys.camera_windows_key(window.camera_id, window.name)
        with self.client.pipeline(transaction=True) as pipe:
            pipe.lpush(list_key, json.dumps(record))
            pipe.ltrim(list_key, 0, keys.CAMERA_WINDOWS_KEPT - 1)
            pipe.execute()
        return record

    def _dropped_total(self, camera: str) -> int:
        return int(self.client.hget(keys.camera_key(camera), "frames_dropped") or 0)


def _iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).isoformat(timespec="seconds")
