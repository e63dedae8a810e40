"""Retention: a finished video's Redis state expires; old output folders and camera window files are
removed when asked."""

import os
import time
from pathlib import Path

import fakeredis

from aggregator.retention import expire_video, prune_camera_windows, prune_outputs
from emostream import keys, registry


def test_a_finished_videos_redis_state_expires_after_the_ttl() -> None:
    client = fakeredis.FakeRedis()
    registry.register(client, "v", source="v.mp4")
    client.hset(keys.video_results_key("v"), "0", "{}")
    expire_video(client, "v", ttl_s=3600)
    assert 3500 < client.ttl(keys.video_key("v")) <= 3600
    assert 3500 < client.ttl(keys.video_results_key("v")) <= 3600
    expire_video(client, "w", ttl_s=0)  # 0: kept for ever (and no error for a missing video)


def test_only_finished_video_folders_past_the_retention_are_removed(tmp_path: Path) -> None:
    now = time.time()
    for name, age_days in (("old", 10), ("new", 1), ("cameras", 30), ("logs", 30)):
        (tmp_path / name).mkdir()
        summary = tmp_path / name / "summary.json"
        summary.write_text("{}")
        os.utime(summary, (now - age_days * 86400, now - age_days * 86400))
    (tmp_path / "running").mkdir()  # no summary: not finished
    assert prune_outputs(tmp_path, retention_days=7, now=now) == ["old"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cameras", "logs", "new", "running"]
    assert prune_outputs(tmp_path, retention_days=0, now=now) == []  # off by default


def test_camera_window_files_whose_hour_ended_before_the_retention_are_removed(tmp_path: Path) -> None:
    lobby = tmp_path / "cameras" / "lobby"
    lobby.mkdir(parents=True)
    now = 1_800_000_000.0  # 2027-01-15 08:00 UTC
    names = ["10s-20270107T07.jsonl", "1m-20270107T07.jsonl", "10s-20270108T07.jsonl", "10s-20270115T08.jsonl",
             "notes.txt", "10s-latest.jsonl"]  # fmt: skip
    for name in names:
        (lobby / name).write_text("{}\n")
    assert prune_camera_windows(tmp_path, retention_days=0, now=now) == 0  # off by default
    assert prune_camera_windows(tmp_path, retention_days=7.5, now=now) == 2  # up to 2027-01-07 20:00
    assert sorted(p.name for p in lobby.iterdir()) == sorted(names[2:])
    assert prune_camera_windows(tmp_path / "elsewhere", retention_days=1, now=now) == 0  # no cameras folder
