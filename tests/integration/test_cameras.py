"""Live cameras against a real RTSP server (GStreamer) on loopback, with real workers and aggregator."""

import itertools
import json
import signal
import subprocess
import time
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest
import redis

from emostream import keys
from emostream.redisconn import stream_entries
from emostream.schema import decode_frame
from tests.conftest import VIDEOS, require_shared, write_interlaced_video
from tests.integration.processes import command, run, running, wait_for
from tests.integration.rtsp import extract_frames, rtsp_server, silent_endpoint

pytestmark = pytest.mark.integration

PASSWORD = "cam-pw-7f3a9e"


@pytest.fixture(scope="module")
def face_frames(tmp_path_factory: pytest.TempPathFactory) -> Path:
    video = require_shared(VIDEOS / "short_hamilton_clip.mp4")
    return extract_frames(video, tmp_path_factory.mktemp("rtsp") / "frames")


def status(redis_url: str, camera: str) -> dict[str, Any]:
    """``emostream status --camera``; empty until the camera has registered."""
    result = run("status", "--camera", camera, "--redis-url", redis_url)
    assert PASSWORD not in result.stdout + result.stderr
    if result.returncode == 1 and "no camera with id" in result.stderr:
        return {}
    assert result.returncode == 0, result.stderr
    state: dict[str, Any] = json.loads(result.stdout)
    return state


def window_lines(out: Path, camera: str, window: str) -> list[dict[str, Any]]:
    return [
        json.loads(line)
        for path in sorted((out / "cameras" / camera).glob(f"{window}-*.jsonl"))
        for line in path.read_text().splitlines()
    ]


def test_camera_frames_reach_windows_and_a_restarted_server_is_reconnected(
    redis_url: str, tmp_path: Path, face_frames: Path
) -> None:
    out = tmp_path / "out"
    url = ["--redis-url", redis_url]
    with rtsp_server(face_frames, tmp_path / "rtsp.log") as server:
        camera_url = server.url(userinfo=f"viewer:{PASSWORD}")
        with (
            running(["worker", "--name", "w1", *url], tmp_path / "worker.log"),
            running(["aggregator", "--out", str(out), *url], tmp_path / "aggregator.log"),
            running(["camera", camera_url, "--camera-id", "lobby", "--fps", "5", *url], tmp_path / "camera.log"),
        ):
            wait_for(lambda: status(redis_url, "lobby").get("windows", {}).get("10s"), 60, "a closed 10 s window")
            first = status(redis_url, "lobby")
            assert first["state"] == "running"
            assert first["url"] == server.url(userinfo="viewer:***")

            server.stop()
            wait_for(lambda: status(redis_url, "lobby")["state"] == "reconnecting", 30, "the drop to be noticed")
            time.sleep(4)  # the server stays down for several seconds
            sent_while_down = status(redis_url, "lobby")["frames_sent"]
            down_at = time.monotonic()
            server.start()
            wait_for(lambda: status(redis_url, "lobby")["state"] == "running", 60, "the camera to reconnect")
            reconnect_s = time.monotonic() - down_at
            wait_for(
                lambda: status(redis_url, "lobby")["frames_sent"] > sent_while_down + 10, 30, "frames after reconnect"
            )
            after = status(redis_url, "lobby")
            assert after["reconnects"] >= 1
            print(f"reconnected {reconnect_s:.1f} s after the server came back")

    windows = window_lines(out, "lobby", "10s")
    assert sum(w["frames_processed"] for w in windows) > 20
    assert sum(w["faces"] for w in windows) > 0
    with_faces = [w for w in windows if w["faces"]]
    assert all(abs(sum(w["emotion_share"].values()) - 1) < 0.01 for w in with_faces)
    assert any(w["people"] >= 1 for w in with_faces)  # the face is tracked online into a person
    assert all(len(w["people_emotion_share"]) == w["people"] for w in windows)
    assert window_lines(out, "lobby", "1m")  # the clean stop wrote the open minute window
    for log in tmp_path.glob("*.log"):
        assert PASSWORD not in log.read_text(errors="replace"), log.name


def test_a_camera_sending_fields_is_sent_on_as_its_pictures_not_black(redis_url: str, tmp_path: Path) -> None:
    """Analogue CCTV through an encoder, TV over IP: H.264 coded as fields, sent as it is coded. OpenCV's
    reader turned each such frame black and said it had read it: the camera ran, and no face was found."""
    capture = cv2.VideoCapture(str(require_shared(VIDEOS / "fer_woman2.mp4")))
    images = [np.asarray(capture.read()[1], dtype=np.uint8) for _ in range(80)]
    capture.release()
    coded = write_interlaced_video(tmp_path / "fields.mp4", images, fps=10)  # 8 s
    camera = ["camera", "--camera-id", "tv", "--redis-url", redis_url]
    with (
        rtsp_server(None, tmp_path / "rtsp.log", file=coded) as server,
        running([*camera, server.url()], tmp_path / "camera.log"),
    ):
        wait_for(lambda: status(redis_url, "tv").get("frames_sent", 0) >= 15, 60, "frames from the camera")

    with redis.Redis.from_url(redis_url) as client:
        entries = stream_entries(client.xrange(keys.camera_frames_stream("tv")))
    jpegs = [np.frombuffer(decode_frame(fields).payload, np.uint8) for _, fields in entries]
    assert len(jpegs) >= 10  # the backlog kept for workers
    brightness = [float(np.mean(np.asarray(cv2.imdecode(jpeg, cv2.IMREAD_COLOR)))) for jpeg in jpegs]
    expected = float(np.mean([image.mean() for image in images]))
    assert min(brightness) > 0.8 * expected, brightness  # the scene, not black


def test_a_broadcasts_shot_cuts_are_recorded_as_the_frames_that_begin_each_shot(redis_url: str, tmp_path: Path) -> None:
    """The stage clip sent as a live stream cuts 0.67, 2.74 and 7.04 s in; sampled at 5 fps, the
    frames that begin its shots are 2.07 and 4.30 s (10 and 21 frames) apart."""
    stage = require_shared(VIDEOS / "short_hamilton_clip.mp4")
    camera = ["camera", "--camera-id", "stage", "--redis-url", redis_url]
    with (
        redis.Redis.from_url(redis_url) as client,
        rtsp_server(None, tmp_path / "rtsp.log", file=stage) as server,
        running([*camera, server.url()], tmp_path / "camera.log"),
    ):
        wait_for(lambda: client.zcard(keys.camera_cuts_key("stage")) >= 3, 60, "three shot cuts from the camera")
        starts = [int(index) for index in client.zrange(keys.camera_cuts_key("stage"), 0, 2)]
        assert status(redis_url, "stage")["shot_cuts"] >= 3
    gaps = [later - earlier for earlier, later in itertools.pairwise(starts)]
    assert abs(gaps[0] - 10) <= 3, starts
    assert abs(gaps[1] - 21) <= 3, starts


def test_a_silent_camera_fails_after_its_budget_while_another_keeps_flowing(
    redis_url: str, tmp_path: Path, face_frames: Path
) -> None:
    url = ["--redis-url", redis_url]
    with rtsp_server(face_frames, tmp_path / "rtsp.log") as server, silent_endpoint() as silent:
        config = tmp_path / "cameras.toml"
        config.write_text(
            f'[[cameras]]\ncamera_id = "door"\nurl = "{server.url()}"\nfps = 5\n\n'
            f'[[cameras]]\ncamera_id = "dead"\nurl = "{silent.replace("rtsp://", f"rtsp://admin:{PASSWORD}@")}"\n'
            "open_timeout_s = 2\nstall_s = 2\nrestart_budget = 2\nbackoff_base_s = 0.2\n"
        )
        with running(["camera", "--config", str(config), *url], tmp_path / "camera.log"):
            wait_for(lambda: status(redis_url, "dead").get("state") == "failed", 60, "the silent camera to fail")
            dead = status(redis_url, "dead")
            assert "gave up after 2 failed attempts" in dead["last_error"]
            sent = status(redis_url, "door")["frames_sent"]
            wait_for(lambda: status(redis_url, "door")["frames_sent"] >= sent + 10, 30, "the live camera to flow")
            assert status(redis_url, "door")["state"] == "running"

        # Alone, a camera that never answers ends the command with a clear error, not a spin.
        started = time.monotonic()
        result = subprocess.run(
            command("camera", silent, "--camera-id", "alone", "--restart-budget", "2",
                    "--open-timeout-s", "2", "--stall-s", "2", *url),
            capture_output=True, text=True, timeout=120, check=False,
        )  # fmt: skip
        assert result.returncode == 1
        assert "every camera failed" in result.stderr
        assert "gave up after 2 failed attempts" in result.stderr
        assert time.monotonic() - started < 60
    assert PASSWORD not in (tmp_path / "camera.log").read_text(errors="replace")


def test_sigterm_stops_cameras_cleanly(redis_url: str, tmp_path: Path, face_frames: Path) -> None:
    with rtsp_server(face_frames, tmp_path / "rtsp.log") as server, (tmp_path / "camera.log").open("wb") as log:
        process = subprocess.Popen(
            command("camera", server.url(), "--camera-id", "hall", "--redis-url", redis_url), stdout=log, stderr=log
        )
        wait_for(lambda: status(redis_url, "hall").get("state") == "running", 60, "the camera to run")
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=30) == 0
    assert status(redis_url, "hall")["state"] == "stopped"


def test_two_aggregators_write_each_camera_window_once_and_one_takes_over_when_the_other_dies(
    redis_url: str, tmp_path: Path, face_frames: Path
) -> None:
    """Only the aggregator holding the camera lease folds camera results; killed, the other takes over."""
    out = tmp_path / "out"
    url = ["--redis-url", redis_url]
    with (
        rtsp_server(face_frames, tmp_path / "rtsp.log") as server,
        running(["worker", "--name", "w1", *url], tmp_path / "worker.log"),
        running(["camera", server.url(), "--camera-id", "hall2", "--fps", "5", *url], tmp_path / "camera.log"),
        running(["aggregator", "--name", "a1", "--out", str(out), *url], tmp_path / "a1.log"),
    ):
        with (tmp_path / "a2.log").open("wb") as log:
            second = subprocess.Popen(
                command("aggregator", "--name", "a2", "--out", str(out), *url), stdout=log, stderr=log
            )
        try:
            wait_for(lambda: len(window_lines(out, "hall2", "10s")) >= 2, 90, "two closed 10 s windows")
        finally:
            second.kill()  # whichever held the lease, the other must go on alone
            second.wait(timeout=30)
        closed = len(window_lines(out, "hall2", "10s"))
        wait_for(lambda: len(window_lines(out, "hall2", "10s")) >= closed + 2, 90, "windows after the kill")
    windows = window_lines(out, "hall2", "10s")
    starts = [w["start"] for w in windows]
    assert len(starts) == len(set(starts)), f"a window was written more than once: {sorted(starts)}"
    sent = int(status(redis_url, "hall2")["frames_sent"])
    assert sum(w["frames_processed"] for w in windows) <= sent
