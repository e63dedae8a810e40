"""The uploads watcher on a real redis-server: stable files only, once each, bad files set aside."""

import os
import shutil
import time
from pathlib import Path

import pytest
import redis

from emostream import registry
from emostream.settings import ProducerSettings
from producer.watch import UploadWatcher
from tests.conftest import write_video


def watcher(redis_url: str, client: "redis.Redis", uploads: Path) -> UploadWatcher:
    return UploadWatcher(ProducerSettings(redis_url=redis_url), client, uploads, poll_s=0.05)


def test_videos_are_sent_once_and_bad_files_set_aside_with_the_reason(
    redis_url: str, real_redis: "redis.Redis", tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    uploads = tmp_path / "uploads"
    uploads.mkdir()
    clip = write_video(tmp_path / "clip.mp4", frames=12)
    shutil.copy(clip, uploads / "a clip.mp4")
    (uploads / "bad.mp4").write_bytes(b"\x00not a video" * 100)
    os.utime(uploads / "bad.mp4", (time.time() - 120, time.time() - 120))  # still for two minutes: not arriving
    (uploads / "notes.txt").write_text("not a video suffix: left alone")

    (uploads / "talk.mp4.crdownload").write_text("a download still arriving: left alone, in silence")

    first = watcher(redis_url, real_redis, uploads)
    stats = first.run(once=True)
    first.run(once=True)
    told = [r.getMessage() for r in caplog.records if "left alone" in r.getMessage()]
    assert told == ["upload notes.txt: left alone: its name does not end as a video file's does (.txt); rename it "
                    "if it is a video (emostream analyze takes a file of any name)"]  # fmt: skip

    assert stats.processed == ["a_clip"]
    assert stats.failed == ["bad"]
    assert sorted(p.name for p in uploads.iterdir() if p.is_file()) == ["notes.txt", "talk.mp4.crdownload"]
    assert (uploads / "processed" / "a clip.mp4").exists()
    assert "not a readable video" in (uploads / "failed" / "bad.mp4.error.txt").read_text()
    record = registry.read(real_redis, "a_clip")
    assert record is not None
    assert record.status == "produced"
    assert record.frames_expected == 12
    failed = registry.read(real_redis, "bad")
    assert failed is not None
    assert failed.status == "failed"

    shutil.copy(clip, uploads / "a clip.mp4")  # the same name again: a new video, not a resend of the old one
    assert watcher(redis_url, real_redis, uploads).run(once=True).processed == ["a_clip-2"]
    assert (uploads / "processed" / "a clip-2.mp4").exists()


def test_a_file_still_being_written_is_not_taken(redis_url: str, real_redis: "redis.Redis", tmp_path: Path) -> None:
    uploads = tmp_path / "uploads"
    uploads.mkdir()
    growing = uploads / "upload.mp4"
    growing.write_bytes(b"x" * 100)
    w = watcher(redis_url, real_redis, uploads)
    assert w.stable_uploads() == []  # first sight
    with growing.open("ab") as fh:
        fh.write(b"y" * 100)
    assert w.stable_uploads() == []  # changed since the last poll
    assert w.stable_uploads() == [growing]  # unchanged for one poll


def test_a_copy_that_stalls_longer_than_a_poll_is_left_in_place_until_it_is_whole(
    redis_url: str, real_redis: "redis.Redis", tmp_path: Path
) -> None:
    """An MP4 has its index at the end, so the first part of one cannot be opened: it was moved to
    failed/ while the copy went on writing into it there."""
    uploads = tmp_path / "uploads"
    for folder in ("processed", "failed"):  # as run() makes them
        (uploads / folder).mkdir(parents=True)
    whole = write_video(tmp_path / "clip.mp4", frames=12).read_bytes()
    arriving = uploads / "clip.mp4"
    arriving.write_bytes(whole[: len(whole) // 2])
    w = watcher(redis_url, real_redis, uploads)
    assert w.stable_uploads() == []
    assert w.stable_uploads() == [arriving]  # the copy has stalled for a poll
    w.process(arriving)
    assert arriving.exists()
    assert list((uploads / "failed").iterdir()) == []
    assert registry.read(real_redis, "clip") is None  # nothing registered for it yet
    with arriving.open("ab") as fh:  # the copy goes on
        fh.write(whole[len(whole) // 2 :])
    w.stable_uploads()
    w.process(*w.stable_uploads())
    assert w.stats.processed == ["clip"]
    assert (uploads / "processed" / "clip.mp4").read_bytes() == whole
    record = registry.read(real_redis, "clip")
    assert record is not None
    assert record.frames_expected == 12
