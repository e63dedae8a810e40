"""The API's videos: the list newest first, paged, and expired entries dropped from the index; a video's status."""

import json
from pathlib import Path

import fakeredis

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
    assert first["videos"][0] == {"video_id": "v0", "status": "producing", "source": "v0.mp4", "created_at": 300.0}
    assert not server.sismember(keys.VIDEOS_INDEX, "v3")


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
