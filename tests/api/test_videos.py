"""The API's videos: the list newest first, paged, and expired entries dropped from the index; a video's status."""

import json
import os
import shutil
from pathlib import Path

import fakeredis
import pytest
from fastapi import HTTPException

from api import videos
from api.videos import VideoStore
from emostream import keys, registry


class NoUploads:
    def __init__(self) -> None:
        self.queued: set[str] = set()


def test_the_list_is_newest_first_paged_and_forgets_expired_entries(tmp_path: Path) -> None:
    server = fakeredis.FakeRedis()
    for n, created in enumerate([300.0, 100.0, 200.0, 400.0]):
        registry.register(server, f"v{n}", source=f"v{n}.mp4", created_at=created)
    server.delete(keys.video_key("v3"))  # the newest has expired (EMO_RESULTS_TTL_S); the index still names it
    store = VideoStore(server, tmp_path, NoUploads())  # type: ignore[arg-type]

    first = store.recent(2, 0)
    assert (first["total"], [v["video_id"] for v in first["videos"]]) == (3, ["v0", "v2"])
    assert [v["video_id"] for v in store.recent(2, 2)["videos"]] == ["v1"]
    assert first["videos"][0] == {
        "video_id": "v0", "status": "producing", "source": "v0.mp4", "created_at": 300.0, "expired": False,
    }  # fmt: skip
    assert not server.sismember(keys.VIDEOS_INDEX, "v3")


def test_a_finished_video_whose_redis_state_expired_stays_listed_while_its_files_are_kept(tmp_path: Path) -> None:
    """By when its summary was written; folders that are not a finished video's are not videos."""
    server = fakeredis.FakeRedis()
    for n, created in enumerate([100.0, 300.0]):
        registry.register(server, f"v{n}", source=f"v{n}.mp4", created_at=created)
    for name, written in (("old", 200.0), ("v1", 50.0)):  # v1's files are there too: listed once, by Redis
        (tmp_path / name).mkdir()
        (tmp_path / name / "summary.json").write_text(json.dumps({"source": f"{name}.mp4", "status": "complete"}))
        os.utime(tmp_path / name / "summary.json", (written, written))
    (tmp_path / "cameras").mkdir()  # window files, no summary
    (tmp_path / "half").mkdir()  # a video whose files are still being written
    (tmp_path / ".uploads").mkdir()
    store = VideoStore(server, tmp_path.resolve(), NoUploads())  # type: ignore[arg-type]
    listed = store.recent(10, 0)
    assert listed["total"] == 3
    assert [(v["video_id"], v["expired"]) for v in listed["videos"]] == [("v1", False), ("old", True), ("v0", False)]
    assert listed["videos"][1] == {
        "video_id": "old", "status": "complete", "source": "old.mp4", "created_at": None, "expired": True,
    }  # fmt: skip
    assert store.newest(1, 1) == (["old"], 3)
    shutil.rmtree(tmp_path / "old")  # removed (EMO_OUTPUT_RETENTION_DAYS, or deleted): no longer listed
    assert [v["video_id"] for v in store.recent(10, 0)["videos"]] == ["v1", "v0"]


def test_many_videos_are_read_in_pipelined_chunks_as_one_by_one() -> None:
    server = fakeredis.FakeRedis()
    ids = [f"v{n}" for n in range(7)]
    for n, video_id in enumerate(ids):
        registry.register(server, video_id, source=f"{video_id}.mp4", created_at=float(n))
    wanted = [*ids, "gone"]
    assert registry.read_many(server, wanted, chunk=3) == {v: registry.read(server, v) for v in wanted}
    assert registry.created_times(server, wanted, chunk=3) == {**{v: float(n) for n, v in enumerate(ids)}, "gone": None}


def test_a_finished_videos_warnings_are_its_summarys_which_add_advice_from_its_results(tmp_path: Path) -> None:
    server = fakeredis.FakeRedis()
    store = VideoStore(server, tmp_path.resolve(), NoUploads())  # type: ignore[arg-type]
    registry.register(server, "v", source="v.mp4", created_at=1.0)
    advice = "40% of the faces found were under 30 px wide in frames downscaled from 1920x1080 to 1280x720"
    (tmp_path / "v").mkdir()
    (tmp_path / "v" / "summary.json").write_text(json.dumps({"warnings": [advice]}))
    assert store.status("v")["warnings"] == []  # still producing: the summary there is an earlier run's
    registry.update(server, "v", status="complete")
    assert store.status("v")["warnings"] == [advice]
    (tmp_path / "v" / "summary.json").unlink()
    assert store.status("v")["warnings"] == []  # the registry's: a damaged or truncated source's


def test_a_finished_video_whose_redis_state_expired_is_described_by_its_files(tmp_path: Path) -> None:
    """Its files are still served (EMO_RESULTS_TTL_S removes only its Redis state), so its status is
    theirs, marked expired, rather than "no such video"."""
    server = fakeredis.FakeRedis()
    store = VideoStore(server, tmp_path.resolve(), NoUploads())  # type: ignore[arg-type]
    registry.register(server, "v", source="v.mp4", created_at=1.0)
    registry.update(server, "v", status="complete", frames_expected=40)
    (tmp_path / "v").mkdir()
    summary = {"source": "v.mp4", "status": "partial", "frames_expected": 40, "frames_total": 38, "frames_failed": 1}
    (tmp_path / "v" / "summary.json").write_text(json.dumps({**summary, "warnings": ["2 frames missing"]}))
    (tmp_path / "v" / "timeline.json").write_text("{}")
    assert store.status("v")["expired"] is False
    server.delete(keys.video_key("v"))
    status = store.status("v")
    assert status["expired"] is True
    assert (status["status"], status["source"], status["frames_processed"], status["frames_failed"]) == (
        "partial", "v.mp4", 38, 1,
    )  # fmt: skip
    assert status["warnings"] == ["2 frames missing"]
    assert status["outputs"] == ["summary.json", "timeline.json"]
    assert status["updated_at"] == (tmp_path / "v" / "summary.json").stat().st_mtime


def test_a_video_neither_in_redis_nor_written_is_not_found(tmp_path: Path) -> None:
    store = VideoStore(fakeredis.FakeRedis(), tmp_path.resolve(), NoUploads())  # type: ignore[arg-type]
    (tmp_path / "half").mkdir()
    (tmp_path / "half" / "timeline.json").write_text("{}")  # a write cut short: no summary.json, so not finished
    (tmp_path / "bad").mkdir()
    (tmp_path / "bad" / "summary.json").write_text("{not json")
    for video_id in ("gone", "half", "bad"):
        with pytest.raises(HTTPException) as raised:
            store.status(video_id)
        assert raised.value.status_code == 404


def test_the_folder_scan_is_kept_until_a_folder_comes_or_goes_or_for_half_a_minute(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = VideoStore(fakeredis.FakeRedis(), tmp_path.resolve(), NoUploads())  # type: ignore[arg-type]
    (tmp_path / "a").mkdir()
    assert store.recent(10, 0)["total"] == 0  # no summary yet: scanned, and the scan kept
    (tmp_path / "a" / "summary.json").write_text(json.dumps({"status": "complete", "source": "a.mp4"}))
    assert store.recent(10, 0)["total"] == 0  # the folder itself did not change
    (tmp_path / "b").mkdir()
    assert store.recent(10, 0)["total"] == 1  # a folder came: scanned again
    (tmp_path / "b" / "summary.json").write_text(json.dumps({"status": "complete", "source": "b.mp4"}))
    monkeypatch.setattr(videos, "DISK_SCAN_KEPT_S", 0.0)
    assert store.recent(10, 0)["total"] == 2
