"""Rolling per-camera timelines: results of live sources folded into fixed windows.

A camera has no end, so its results are not stored frame by frame. Each result is
added to the 10 s and 1 min windows that contain its capture time. A window closes
once the clock passes its end plus a grace period (for late results); it is then
appended as one JSON line to ``OUT/cameras/<camera_id>/<window>-<YYYYMMDDTHH>.jsonl``
(UTC hour of the window start, so files rotate hourly and are never rewritten) and
pushed onto a short list in Redis that ``emostream status --camera`` reads.

People: each camera's results wait ``TRACK_DELAY_S`` (shorter than the grace period), then go
in frame order through an online tracker and a causal smoother (``aggregator.people`` does the
same for files over a whole video), so a window also says how many people it saw (tracks of at
least ``min_track_frames`` by the time it closes) and each one's emotion shares. A result that
arrives after later frames went through the tracker is counted, but not given to a person. Where
the camera's producer found a shot cut (a broadcast cutting, ``producer.shots``), the tracker
starts afresh at the first frame after it: a face there is someone new.

A redelivered result is recognised by its frame index within the window and counted
once; a result for a window already written (the newest written start is read from Redis, so this
holds across aggregators) is left out of it rather than write the window again. Frames dropped
by the camera (live policy) are attributed to the window in which they were noticed. Windows
still open when the aggregator is killed are lost (a clean stop writes them, marked
``closed_early``).
"""

import json
import logging
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, cast

import numpy as np
import redis

from aggregator.smoothing import DEFAULT_SMOOTHING, UNCERTAIN, CausalSmoother, SmoothingConfig, labels
from aggregator.tracking import DEFAULT_TRACKING, RawId, ShotTracker, TrackingConfig
from emostream import keys
from emostream import metrics as m
from emostream.labels import EMOTIONS
from emostream.schema import Result
from emostream.smallfaces import is_small

log = logging.getLogger(__name__)

WINDOWS: dict[str, int] = {"10s": 10, "1m": 60}
GRACE_S = 5.0
TRACK_DELAY_S = 2.0  # results wait this long for stragglers before tracking; below GRACE_S
# A person is forgotten once every window that could hold them is written, and their tracker (SORT
# drops one unseen for TrackingConfig.lost_s of frames) is this long past: 10 s to spare.
FORGET_MARGIN_S = 10.0
FORGET_EVERY_S = 10.0  # looked for at most this often (wall time)


@dataclass
class Window:
    camera_id: str
    name: str
    start: float
    size_s: int
    frames: set[int] = field(default_factory=set)
    frames_failed: int = 0
    faces: int = 0
    small_faces: int = 0  # near the smallest found (emostream.smallfaces): status may advise larger frames
    emotions: Counter[str] = field(default_factory=Counter)
    latencies_s: list[float] = field(default_factory=list)
    people: dict[int, Counter[str]] = field(default_factory=dict)  # track -> smoothed labels seen here

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
        self.small_faces += sum(1 for face in result.faces if is_small(face.box[2]))
        self.emotions.update(face.emotion for face in result.faces)
        self.latencies_s.append(max(0.0, now - result.captured_at))
        return True

    def add_person(self, track: int, label: str) -> None:
        self.people.setdefault(track, Counter())[label] += 1

    def record(self, dropped: int, closed_early: bool, real: set[int] | None = None) -> dict[str, Any]:
        share = {e: round(self.emotions[e] / self.faces, 4) if self.faces else 0.0 for e in EMOTIONS}
        people = {t: c for t, c in sorted(self.people.items()) if real is None or t in real}
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
            "small_faces": self.small_faces,
            "emotion_share": share,
            "dominant_emotion": self.emotions.most_common(1)[0][0] if self.faces else None,
            "latency_ms_p50": round(float(np.percentile(latency, 50)), 1) if latency.size else None,
            "latency_ms_p95": round(float(np.percentile(latency, 95)), 1) if latency.size else None,
            "people": len(people),
            "people_emotion_share": {str(t): _shares(c) for t, c in people.items()},
            "closed_early": closed_early,
        }


def _shares(counts: Counter[str]) -> dict[str, float]:
    total = sum(counts.values())
    return {label: round(counts[label] / total, 4) for label in (*EMOTIONS, UNCERTAIN) if counts[label]}


class CameraPeople:
    """One camera's online tracker and per-track smoothers, fed in frame order after a short delay.

    A camera has no end: a person last seen before the camera's oldest open window, and longer ago
    than their tracker lasts, is forgotten (``forget``), or a lobby camera held 1,260 more people an
    hour, for ever (``bench/camera_people.py``)."""

    def __init__(self, fps: float, tracking: TrackingConfig, smoothing: SmoothingConfig) -> None:
        self.tracker = ShotTracker(fps, tracking)
        self.shot = 0  # shots begun since start
        self.shot_starts: list[int] = []  # frame indices of the camera's latest shot cuts (producer.shots)
        self.smoothing = smoothing
        self.min_track_frames = tracking.min_track_frames
        self.tracker_lasts_s = tracking.lost_s + FORGET_MARGIN_S
        self.waiting: list[Result] = []
        self.last_index = -1
        self.numbering: dict[RawId, int] = {}  # (shot, raw tracker id) -> person number, from 0
        self.next_person = 0  # numbers are never given twice, though the people they named are forgotten
        self.frames: Counter[int] = Counter()  # person -> frames tracked so far
        self.smoothers: dict[int, CausalSmoother] = {}
        self.last_seen: dict[RawId, float] = {}  # capture time of each person's latest face, by raw id
        self.latest_capture = float("-inf")  # of the frames tracked

    def release(self, due: float) -> list[tuple[Result, list[tuple[int, str]]]]:
        """Results captured before ``due``, in frame order, each with its faces' (person, label)."""
        ready = sorted((r for r in self.waiting if r.captured_at <= due), key=lambda r: r.frame_index)
        self.waiting = [r for r in self.waiting if r.captured_at > due]
        return [(result, self._track(result)) for result in ready]

    def forget(self, oldest_open_window: float) -> None:
        """Forget the people last seen before ``oldest_open_window`` (the start of the camera's oldest
        window not yet written), whose trackers have gone too: none can be counted again."""
        before = min(oldest_open_window, self.latest_capture - self.tracker_lasts_s)
        for raw in [raw for raw, seen in self.last_seen.items() if seen < before]:
            person = self.numbering.pop(raw)
            del self.last_seen[raw]
            self.frames.pop(person, None)
            self.smoothers.pop(person, None)

    def _track(self, result: Result) -> list[tuple[int, str]]:
        if result.frame_index <= self.last_index:  # a straggler: the tracker has moved past it
            return []
        if any(self.last_index < start <= result.frame_index for start in self.shot_starts):
            self.shot += 1
        self.last_index = result.frame_index
        self.latest_capture = max(self.latest_capture, result.captured_at)  # faces or none, the tracker ages
        people = []
        for face, raw in zip(result.faces, self.tracker.update([f.box for f in result.faces], self.shot), strict=True):
            if raw is None:
                continue
            if raw not in self.numbering:
                self.numbering[raw], self.next_person = self.next_person, self.next_person + 1
            person = self.numbering[raw]
            self.last_seen[raw] = result.captured_at
            self.frames[person] += 1
            smoother = self.smoothers.setdefault(person, CausalSmoother(self.smoothing))
            smoothed = smoother.update(round(result.captured_at * 1000), face.probs)
            people.append((person, labels([smoothed], self.smoothing.uncertain_below)[0]))
        return people

    def real_people(self) -> set[int]:
        return {person for person, frames in self.frames.items() if frames >= self.min_track_frames}


class CameraTimelines:
    def __init__(
        self,
        out_dir: Path,
        client: "redis.Redis",
        grace_s: float = GRACE_S,
        tracking: TrackingConfig = DEFAULT_TRACKING,
        smoothing: SmoothingConfig = DEFAULT_SMOOTHING,
    ) -> None:
        self.out_dir = out_dir
        self.client = client
        self.grace_s = grace_s
        self.tracking = tracking
        self.smoothing = smoothing
        self._open: dict[tuple[str, str, float], Window] = {}
        # The start of the latest window written, per (camera, window): a later result for it or an
        # earlier one (a straggler, or one claimed from a dead aggregator) must not write it again.
        self._written_until: dict[tuple[str, str], float] = {}
        self._dropped_seen: dict[tuple[str, str], int] = {}
        self._people: dict[str, CameraPeople] = {}
        self._forget_at = float("-inf")  # wall time

    def add(self, result: Result, now: float) -> bool:
        """Fold a live result into its windows; False if it was a redelivery."""
        camera = result.video_id
        if (camera, "10s") not in self._dropped_seen:  # first result of this camera since start
            m.init_camera_aggregation_labels(camera)
            total = self._dropped_total(camera)
            for name in WINDOWS:
                self._dropped_seen[(camera, name)] = total
                self._written_until[(camera, name)] = self._latest_written_start(camera, name)
        new = False
        for name, size in WINDOWS.items():
            start = result.captured_at - result.captured_at % size
            if start <= self._written_until[(camera, name)]:
                log.info(
                    "camera %s: a result for the %s window at %s came after it was written", camera, name, _iso(start)
                )
                continue
            window = self._open.setdefault((camera, name, start), Window(camera, name, start, size))
            new = window.add(result, now) or new
        if new:
            m.CAMERA_FRAMES.labels(camera).inc()
            for face in result.faces:
                m.CAMERA_EMOTIONS.labels(camera, face.emotion).inc()
            self._camera_people(camera).waiting.append(result)
        return new

    def people_held(self, camera: str) -> int:
        """How many people the camera's tracker state holds (the ones still possibly in view)."""
        people = self._people.get(camera)
        return 0 if people is None else len(people.numbering)

    def _camera_people(self, camera: str) -> CameraPeople:
        if camera not in self._people:
            fps = float(self.client.hget(keys.camera_key(camera), "fps") or keys.CAMERA_FPS)
            self._people[camera] = CameraPeople(fps, self.tracking, self.smoothing)
        return self._people[camera]

    def _release_people(self, now: float, force: bool) -> None:
        """Track what has waited long enough, and count each face for its person in its windows."""
        for camera, people in self._people.items():
            if people.waiting:  # cuts are recorded within about a second, results wait TRACK_DELAY_S
                starts = cast(
                    list[bytes],
                    self.client.zrangebyscore(keys.camera_cuts_key(camera), f"({people.last_index}", "+inf"),
                )
                people.shot_starts = [int(start) for start in starts]
            for result, faces in people.release(float("inf") if force else now - TRACK_DELAY_S):
                for name, size in WINDOWS.items():
                    window = self._open.get((camera, name, result.captured_at - result.captured_at % size))
                    if window is None:  # closed already: the result came later than the grace period
                        continue
                    for person, label in faces:
                        window.add_person(person, label)

    def flush(self, now: float | None = None, force: bool = False) -> list[dict[str, Any]]:
        """Write every window that has closed (all of them with ``force``); returns their records."""
        now = time.time() if now is None else now
        self._release_people(now, force)
        due = [k for k, w in self._open.items() if force or w.end + self.grace_s <= now]
        records = []
        for key in sorted(due, key=lambda k: k[2]):
            window = self._open.pop(key)
            records.append(self._write(window, closed_early=force and window.end + self.grace_s > now))
        if now >= self._forget_at:
            self._forget_at = now + FORGET_EVERY_S
            self._forget_people()
        return records

    def _forget_people(self) -> None:
        """Each camera's people that no open window can count (``CameraPeople.forget``)."""
        oldest: dict[str, float] = {}
        for camera, _, start in self._open:
            oldest[camera] = min(start, oldest.get(camera, start))
        for camera, people in self._people.items():
            people.forget(oldest.get(camera, float("inf")))

    def drop_open(self) -> int:
        """Forget every open window and tracker unwritten (the camera lease went to another aggregator)."""
        count = len(self._open)
        self._open.clear()
        self._people.clear()
        self._dropped_seen.clear()
        self._written_until.clear()  # the next holder writes on; read again if the lease comes back
        return count

    def _latest_written_start(self, camera: str, name: str) -> float:
        """The start of the newest window any aggregator wrote for this camera (its Redis list's head)."""
        latest = self.client.lindex(keys.camera_windows_key(camera, name), 0)
        if latest is None:
            return float("-inf")
        return datetime.fromisoformat(json.loads(latest)["start"]).timestamp()

    def _write(self, window: Window, closed_early: bool) -> dict[str, Any]:
        total = self._dropped_total(window.camera_id)
        seen_key = (window.camera_id, window.name)
        dropped = max(0, total - self._dropped_seen.get(seen_key, total))
        self._dropped_seen[seen_key] = total
        people = self._people.get(window.camera_id)
        record = window.record(dropped, closed_early, people.real_people() if people else None)
        hour = datetime.fromtimestamp(window.start, UTC).strftime("%Y%m%dT%H")
        self._append(self.out_dir / "cameras" / window.camera_id / f"{window.name}-{hour}.jsonl", record)
        written = self._written_until.get(seen_key, float("-inf"))
        self._written_until[seen_key] = max(written, window.start)
        list_key = keys.camera_windows_key(window.camera_id, window.name)
        with self.client.pipeline(transaction=True) as pipe:
            pipe.lpush(list_key, json.dumps(record))
            pipe.ltrim(list_key, 0, keys.CAMERA_WINDOWS_KEPT - 1)
            pipe.execute()
        return record

    @staticmethod
    def _append(path: Path, record: dict[str, Any]) -> None:
        """One line per closed window (append-only). A full disk loses the line, said in the log
        and counted; the window still reaches Redis (status, the API) and the service stays up."""
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            with path.open("a") as fh:
                fh.write(json.dumps(record) + "\n")
        except OSError as exc:
            log.error("camera window %s %s not written to %s: %s", record["camera_id"], record["start"], path, exc)
            m.OUTPUT_WRITE_ERRORS.labels("camera").inc()

    def _dropped_total(self, camera: str) -> int:
        return int(self.client.hget(keys.camera_key(camera), "frames_dropped") or 0)


def _iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).isoformat(timespec="seconds")
