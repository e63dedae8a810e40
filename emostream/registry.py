"""The video registry: one Redis hash per video, written by the producer, finished by the aggregator.

States: ``producing`` (frames are being sent), ``produced`` (``frames_expected``
is known, results are coming), ``complete`` (every frame has a result or a
recorded failure), ``partial`` (no progress for the stall timeout: finalised with
its missing frames listed), ``failed`` (the source could not be read).
"""

import contextlib
import dataclasses
import functools
import json
import re
import time
from collections.abc import Callable, Iterable
from typing import Any, Literal, cast

import redis
from anyascii import anyascii
from pydantic import BaseModel, ConfigDict
from redis.client import Pipeline, PubSub

from emostream.decoding import DecodeReport
from emostream.keys import (
    CAMERAS_INDEX,
    FRAMES_STREAM,
    OPEN_VIDEOS,
    VIDEO_EVENTS,
    VIDEOS_INDEX,
    camera_frames_stream,
    video_key,
    video_results_key,
    video_sent_key,
)

VideoStatus = Literal["producing", "produced", "complete", "partial", "failed"]


class VideoRecord(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore")

    video_id: str
    status: VideoStatus
    source: str = ""
    source_kind: str = "file"
    source_fps: float = 0.0
    sample_fps: float = 0.0
    width: int = 0
    height: int = 0
    frame_side_px: int = 0  # the producer's cap on the sent frames' longest side (0: not recorded)
    duration_s: float = 0.0
    frames_sent: int = 0
    last_index: int = -1
    frames_failed: int = 0
    missing_frames: int = 0
    frames_expected: int | None = None
    # How much of a file decoded (``emostream.decoding.DecodeReport``); 0 until it is produced.
    frames_decoded: int = 0
    undecodable_packets: int = 0
    untimed_frames: int = 0
    decoded_ms: int = 0
    announced_ms: int = 0
    announced_frames: int = 0
    gap_start_ms: int = 0
    gap_ms: int = 0
    # Where an edited file cuts to another shot: JSON [[frame index, t_ms], ...] (``encode_cuts``),
    # those found so far with each chunk of frames sent, all with ``produced``; "" for a camera, or a
    # file read without looking for cuts.
    cuts: str = ""
    error: str | None = None
    created_at: float = 0.0
    updated_at: float = 0.0
    last_result_at: float = 0.0

    @property
    def decode_report(self) -> DecodeReport | None:
        if self.frames_decoded == 0:
            return None  # a camera, or a file not yet read to its end
        # The producer stores the report's fields under their own names (``dataclasses.asdict``).
        return DecodeReport(**{field.name: getattr(self, field.name) for field in dataclasses.fields(DecodeReport)})

    @functools.cached_property  # read several times as a video is finalised; the record is frozen
    def shot_cuts(self) -> list[tuple[int, int]] | None:
        """(frame index, t_ms) of each shot's first frame after the first; None where not looked for."""
        if not self.cuts:
            return None
        try:
            return [(int(index), int(t_ms)) for index, t_ms in json.loads(self.cuts)]
        except (ValueError, TypeError):  # not ours: tracked as one shot, as before cuts were found
            return None

    @property
    def warnings(self) -> list[str]:
        """What a user must know about the results: damaged or truncated sources."""
        report = self.decode_report
        return [] if report is None else report.warnings(self.source)


FieldValue = str | int | float


def encode_cuts(cuts: Iterable[tuple[int, int]]) -> str:
    """The registry's ``cuts`` field: (frame index, t_ms) of each new shot's first frame."""
    return json.dumps([[index, t_ms] for index, t_ms in cuts], separators=(",", ":"))


def register(client: "redis.Redis", video_id: str, **fields: FieldValue) -> None:
    now = time.time()
    mapping: dict[Any, Any] = {
        "video_id": video_id,
        "status": "producing",
        "created_at": now,
        "updated_at": now,
        **fields,
    }
    with client.pipeline(transaction=True) as pipe:
        pipe.delete(video_key(video_id), video_results_key(video_id), video_sent_key(video_id))
        pipe.hset(video_key(video_id), mapping=mapping)
        pipe.sadd(VIDEOS_INDEX, video_id)
        if mapping["status"] != "failed":
            pipe.sadd(OPEN_VIDEOS, video_id)
        pipe.execute()
    announce(client, video_id, mapping["status"])


def update(client: "redis.Redis", video_id: str, **fields: FieldValue) -> None:
    mapping: dict[Any, Any] = {**fields, "updated_at": time.time()}
    client.hset(video_key(video_id), mapping=mapping)
    if "status" in fields:
        announce(client, video_id, str(fields["status"]))


def announce(client: "redis.Redis", video_id: str, status: str) -> None:
    """Publish the status change on ``VIDEO_EVENTS``: a hint for waiters, sent after the change
    and on its own, so that a server refusing pub/sub (an ACL) refuses only the hint."""
    with contextlib.suppress(redis.ResponseError):
        client.publish(VIDEO_EVENTS, f"{video_id} {status}")


def subscribe_to_events(client: "redis.Redis") -> "PubSub | None":
    """A subscription to ``VIDEO_EVENTS``, or None where the server refuses one (an ACL without
    pub/sub): waiters then poll."""
    pubsub = client.pubsub(ignore_subscribe_messages=True)
    try:
        pubsub.subscribe(VIDEO_EVENTS)
        pubsub.get_message(timeout=2.0)  # the confirmation, or the refusal (NOPERM) raised here
    except redis.ResponseError:
        pubsub.close()
        return None
    return pubsub


def wait_for_event(events: "PubSub | None", seconds: float) -> None:
    """Until a video's status changes or ``seconds`` have passed (without a subscription: sleep)."""
    if events is None:
        time.sleep(seconds)
    else:
        events.get_message(timeout=seconds)


def read(client: "redis.Redis", video_id: str) -> VideoRecord | None:
    return _record(cast(dict[bytes, bytes], client.hgetall(video_key(video_id))))


def read_many(client: "redis.Redis", video_ids: list[str], chunk: int = 500) -> dict[str, VideoRecord | None]:
    """``read`` of each, in pipelined round trips: listing 5,000 videos one by one took 1.4 s."""
    replies = _pipelined(client, video_ids, lambda pipe, video_id: pipe.hgetall(video_key(video_id)), chunk)
    return {video_id: _record(raw) for video_id, raw in replies.items()}


def created_times(client: "redis.Redis", video_ids: list[str], chunk: int = 1000) -> dict[str, float | None]:
    """When each video was registered (None: its entry has expired), pipelined: enough to sort a list."""
    replies = _pipelined(client, video_ids, lambda pipe, video_id: pipe.hget(video_key(video_id), "created_at"), chunk)
    return {video_id: None if at is None else float(at) for video_id, at in replies.items()}


def _pipelined(
    client: "redis.Redis", video_ids: list[str], command: Callable[["Pipeline", str], object], chunk: int
) -> dict[str, Any]:
    """Each video's reply to ``command``, queued ``chunk`` videos to a round trip."""
    replies: dict[str, Any] = {}
    for start in range(0, len(video_ids), chunk):
        ids = video_ids[start : start + chunk]
        with client.pipeline(transaction=False) as pipe:
            for video_id in ids:
                command(pipe, video_id)
            replies.update(zip(ids, pipe.execute(), strict=True))
    return replies


def _record(raw: dict[bytes, bytes]) -> VideoRecord | None:
    return VideoRecord.model_validate({k.decode(): v.decode() for k, v in raw.items()}) if raw else None


def results_count(client: "redis.Redis", video_id: str) -> int:
    return int(client.hlen(video_results_key(video_id)))


def sent_indices(client: "redis.Redis", video_id: str) -> list[int]:
    """Frame indices the producer sent, from its bitmap."""
    bitmap = cast(bytes | None, client.get(video_sent_key(video_id))) or b""
    return [i * 8 + bit for i, byte in enumerate(bitmap) if byte for bit in range(8) if byte & (0x80 >> bit)]


def open_video_ids(client: "redis.Redis") -> list[str]:
    """Videos the aggregator still has to finish."""
    return sorted(member.decode() for member in cast(set[bytes], client.smembers(OPEN_VIDEOS)))


def close(client: "redis.Redis", video_id: str) -> None:
    client.srem(OPEN_VIDEOS, video_id)


def frame_streams(client: "redis.Redis") -> list[str]:
    """Every stream workers take frames from: the file frames stream, then one per registered camera."""
    cameras = sorted(member.decode() for member in cast(set[bytes], client.smembers(CAMERAS_INDEX)))
    return [FRAMES_STREAM, *(camera_frames_stream(camera) for camera in cameras)]


def all_video_ids(client: "redis.Redis") -> list[str]:
    return sorted(member.decode() for member in cast(set[bytes], client.smembers(VIDEOS_INDEX)))


def video_id_from_name(stem: str) -> str:
    """A readable video id from a file name's stem: ``my clip`` -> ``my_clip``, ``Réunion`` -> ``Reunion``.

    Ids stay in ``[A-Za-z0-9._-]`` (Redis keys, folder names, API paths), so other scripts are
    transliterated rather than dropped: ``会议`` -> ``HuiYi``, ``встреча`` -> ``vstrecha``.
    """
    return re.sub(r"[^A-Za-z0-9._-]+", "_", anyascii(stem)).strip("._-")[:100] or "video"
