"""Producer, two workers and the aggregator as real processes on a real redis-server and real videos."""

import json
from pathlib import Path

import cv2
import pytest
import redis

from emostream import keys, registry
from producer.sampling import plan_sampling
from tests.conftest import VIDEOS, kept_indices, require_shared
from tests.integration.processes import run, running, wait_for

pytestmark = pytest.mark.integration


def expected_indices(video: Path, max_fps: float = 10.0) -> list[int]:
    """Sampled frame indices, computed independently of the producer: decode and count."""
    capture = cv2.VideoCapture(str(video))
    fps = capture.get(cv2.CAP_PROP_FPS)
    count = 0
    while capture.read()[0]:
        count += 1
    return kept_indices(plan_sampling(fps, None, max_fps, every_frame=False), count)


def test_two_workers_turn_real_videos_into_complete_timelines(
    redis_url: str, real_redis: "redis.Redis", tmp_path: Path
) -> None:
    videos = {
        "woman": require_shared(VIDEOS / "fer_woman2.mp4"),
        "hamilton": require_shared(VIDEOS / "short_hamilton_clip.mp4"),
    }
    out = tmp_path / "out"
    url = ["--redis-url", redis_url]
    with (
        running(["worker", "--name", "w1", *url], tmp_path / "w1.log"),
        running(["worker", "--name", "w2", *url], tmp_path / "w2.log"),
        running(["aggregator", "--out", str(out), *url], tmp_path / "agg.log"),
    ):
        for video_id, path in videos.items():
            done = run("produce", str(path), "--video-id", video_id, *url)
            assert done.returncode == 0, done.stderr
        wait_for(
            lambda: all((r := registry.read(real_redis, v)) is not None and r.status == "complete" for v in videos),
            timeout=240, what="both videos to complete",
        )  # fmt: skip

    workers_used = set()
    for video_id, path in videos.items():
        timeline = json.loads((out / video_id / "timeline.json").read_text())
        indices = [frame["index"] for frame in timeline["frames"]]
        assert indices == expected_indices(path)  # every sampled frame, once, in order
        assert timeline["frames_expected"] == len(indices)
        for frame in timeline["frames"]:
            assert frame["status"] == "ok"
            for face in frame["faces"]:
                assert sum(face["probs"].values()) == pytest.approx(1.0, abs=1e-3)
                assert face["emotion"] == max(face["probs"], key=face["probs"].get)
        summary = json.loads((out / video_id / "summary.json").read_text())
        assert summary["frames_total"] == len(indices)
        assert summary["frames_failed"] == 0
        stored = real_redis.hgetall(keys.video_results_key(video_id))
        workers_used |= {json.loads(raw)["worker"] for raw in stored.values()}
        if video_id == "woman":  # one face, facing the camera, in every frame
            assert summary["frames_with_faces"] >= 0.9 * len(indices)
        else:  # a stage and an audience, cut between shots: YuNet finds a face in most of them
            assert summary["frames_with_faces"] >= 0.2 * len(indices)

    assert workers_used == {"w1", "w2"}  # the consumer group spread the work
    assert real_redis.xlen(keys.FRAMES_STREAM) == 0  # processed frames leave Redis
    assert real_redis.xlen(keys.RESULTS_STREAM) == 0


def test_status_prints_the_video_state_as_json(redis_url: str, real_redis: "redis.Redis", tmp_path: Path) -> None:
    registry.register(real_redis, "clip", source="clip.mp4")
    registry.update(
        real_redis, "clip", status="produced", frames_expected=12, frames_decoded=30, undecodable_packets=2,
        cuts=registry.encode_cuts([(9, 300)]),
    )  # fmt: skip
    done = run("status", "clip", "--redis-url", redis_url)
    assert done.returncode == 0, done.stderr
    state = json.loads(done.stdout)
    assert (state["video_id"], state["status"], state["frames_expected"], state["frames_done"]) == (
        "clip",
        "produced",
        12,
        0,
    )
    assert state["cuts"] == [[9, 300]]  # shot cuts as a list, not as the registry's JSON text
    assert state["warnings"] == [
        "clip.mp4: 2 damaged packet(s) could not be decoded and were skipped; "
        "the frames around them are missing or may show artefacts"
    ]
    registry.register(real_redis, "expired", source="old.mp4")
    real_redis.delete(keys.video_key("expired"))  # EMO_RESULTS_TTL_S passed; the index still names it
    every = run("status", "--redis-url", redis_url)
    assert [v["video_id"] for v in json.loads(every.stdout)] == ["clip"]
    missing = run("status", "nope", "--redis-url", redis_url)
    assert missing.returncode == 1
    assert "no video with id 'nope'" in missing.stderr
    (tmp_path / "expired").mkdir()  # its files outlive its Redis state
    summary = {"source": "old.mp4", "status": "complete", "frames_total": 7, "frames_failed": 0, "warnings": []}
    (tmp_path / "expired" / "summary.json").write_text(json.dumps(summary))
    written = run("status", "expired", "--redis-url", redis_url, "--out", str(tmp_path))
    assert written.returncode == 0, written.stderr
    state = json.loads(written.stdout)
    assert (state["expired"], state["status"], state["source"], state["frames_processed"]) == (
        True, "complete", "old.mp4", 7,
    )  # fmt: skip
    assert run("status", "expired", "--redis-url", redis_url).returncode == 1  # not in the default folder


def test_unreachable_redis_is_a_clear_error_and_a_non_zero_exit(tmp_path: Path) -> None:
    from emostream.localserver import free_port

    done = run("worker", "--burst", "--redis-url", f"redis://:hunter2@127.0.0.1:{free_port()}/0", timeout=60)
    assert done.returncode == 1
    assert "cannot reach Redis" in done.stderr
    assert "hunter2" not in done.stderr + done.stdout


@pytest.mark.parametrize("service", [["aggregator", "--burst"], ["api", "--port", "1"]])
def test_a_service_that_cannot_write_its_outputs_says_so_at_start(
    service: list[str], redis_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Not with a traceback, nor (the aggregator) at the end of its first video."""
    monkeypatch.setenv("EMO_API_TOKENS", "a-token")
    taken = tmp_path / "out"
    taken.write_text("")
    done = run(*service, "--out", str(taken / "videos"), "--redis-url", redis_url, timeout=60)
    assert done.returncode == 1
    expected = f"emostream: cannot use {taken / 'videos'} as an output folder: Not a directory"
    assert done.stderr.strip().endswith(expected)
