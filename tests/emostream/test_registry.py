"""The registry: video ids from file names; every status change is published, so that waiters wake at once."""

import threading
import time
from collections.abc import Callable

import pytest
import redis

from emostream import keys, registry


def _published(client: "redis.Redis", action: Callable[[], None]) -> list[str]:
    pubsub = client.pubsub()
    pubsub.subscribe(keys.VIDEO_EVENTS)
    assert pubsub.get_message(timeout=5)["type"] == "subscribe"
    action()
    messages = []
    while (message := pubsub.get_message(timeout=0.2)) is not None:
        messages.append(message["data"].decode())
    pubsub.close()
    return messages


def test_each_status_change_is_published_and_other_updates_are_not(real_redis: "redis.Redis") -> None:
    client = real_redis
    assert _published(client, lambda: registry.register(client, "talk")) == ["talk producing"]
    assert _published(client, lambda: registry.update(client, "talk", frames_sent=12)) == []
    assert _published(client, lambda: registry.update(client, "talk", status="produced", frames_expected=12)) == [
        "talk produced"
    ]
    record = registry.read(client, "talk")
    assert record is not None
    assert (record.status, record.frames_expected) == ("produced", 12)


def test_a_waiter_wakes_when_a_status_changes(real_redis: "redis.Redis") -> None:
    events = registry.subscribe_to_events(real_redis)
    assert events is not None
    registry.wait_for_event(events, 0.5)  # the subscription's confirmation, if it comes first
    publisher = threading.Timer(0.2, lambda: registry.update(real_redis, "talk", status="complete"))
    started = time.monotonic()
    publisher.start()
    registry.wait_for_event(events, 60)
    assert time.monotonic() - started < 30  # woken by the event, not by the 60 s timeout
    publisher.join()
    events.close()


def test_a_server_that_refuses_pub_sub_means_polling(real_redis: "redis.Redis", redis_url: str) -> None:
    real_redis.acl_setuser("nopubsub", enabled=True, passwords=["+pw"], keys=["*"], commands=["+@all", "-@pubsub"])
    try:
        limited = redis.Redis.from_url(redis_url.replace("redis://", "redis://nopubsub:pw@"))
        assert registry.subscribe_to_events(limited) is None
        started = time.monotonic()
        registry.wait_for_event(None, 0.2)
        assert time.monotonic() - started >= 0.2
        limited.close()
    finally:
        real_redis.acl_deluser("nopubsub")


def test_a_video_registered_as_failed_is_published_too(real_redis: "redis.Redis") -> None:
    client = real_redis
    assert _published(client, lambda: registry.register(client, "bad", status="failed", error="x")) == ["bad failed"]


def test_a_server_that_refuses_publishing_still_records_the_status(real_redis: "redis.Redis", redis_url: str) -> None:
    real_redis.acl_setuser("nopubsub", enabled=True, passwords=["+pw"], keys=["*"], commands=["+@all", "-@pubsub"])
    try:
        limited = redis.Redis.from_url(redis_url.replace("redis://", "redis://nopubsub:pw@"))
        registry.register(limited, "talk")
        registry.update(limited, "talk", status="complete")
        record = registry.read(limited, "talk")
        assert record is not None
        assert record.status == "complete"
        limited.close()
    finally:
        real_redis.acl_deluser("nopubsub")


@pytest.mark.parametrize(
    ("stem", "video_id"),
    [
        ("my clip (1)", "my_clip_1"),
        ("Réunion équipe", "Reunion_equipe"),
        ("会议记录", "HuiYiJiLu"),
        ("встреча 2024", "vstrecha_2024"),
        ("../../etc/passwd", "etc_passwd"),
        ("...", "video"),
    ],
)
def test_video_ids_are_readable_from_a_name_in_any_script_and_safe_as_paths(stem: str, video_id: str) -> None:
    assert registry.video_id_from_name(stem) == video_id


def test_shot_cuts_read_back_as_written_and_a_garbled_field_means_one_shot() -> None:
    written = registry.encode_cuts([(20, 667), (82, 2736)])
    record = registry.VideoRecord(video_id="v", status="produced", cuts=written)
    assert record.shot_cuts == [(20, 667), (82, 2736)]
    assert registry.VideoRecord(video_id="v", status="produced", cuts="[]").shot_cuts == []
    assert registry.VideoRecord(video_id="v", status="produced").shot_cuts is None  # not looked for
    assert registry.VideoRecord(video_id="v", status="produced", cuts="[[20]]").shot_cuts is None
    assert registry.VideoRecord(video_id="v", status="produced", cuts="not json").shot_cuts is None
