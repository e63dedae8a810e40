"""Metrics end to end: real processes, a real Prometheus scraping them, the dashboard's queries answered.

A video dropped into a watched uploads folder, and a live RTSP camera (GStreamer
on loopback), go through two workers and the aggregator, and the HTTP API is asked
with a right and a wrong token; Prometheus (Debian package) scrapes every process
each second. Then
every PromQL expression of the committed dashboard must return data, and the key
counters must agree with the timeline the aggregator wrote.
"""

import json
import shutil
import subprocess
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from functools import partial
from pathlib import Path
from typing import Any

import pytest
import yaml

from emostream.localserver import free_port
from tests.conftest import VIDEOS, require_shared
from tests.integration.processes import run, running, wait_for
from tests.integration.rtsp import extract_frames, rtsp_server
from tests.monitoring.dashboard import PROMETHEUS_SYNTHETIC, for_range, metric_names, queries
from tests.monitoring.test_deploy_files import require_tool

pytestmark = pytest.mark.integration

API_TOKEN = "monitoring-test-token-5a0c71"


def http_get(url: str, headers: dict[str, str] | None = None) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(urllib.request.Request(url, headers=headers or {}), timeout=5) as reply:
            return int(reply.status), reply.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()
    except OSError:
        return 0, b""


@contextmanager
def prometheus(tmp_path: Path, targets: dict[str, list[int]]) -> Iterator[str]:
    """A Prometheus scraping ``targets`` (job -> ports on 127.0.0.1) every second; yields its URL."""
    binary = require_tool("prometheus", "prometheus")
    config = {
        "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
        "scrape_configs": [
            {"job_name": job, "static_configs": [{"targets": [f"127.0.0.1:{p}" for p in ports]}]}
            for job, ports in targets.items()
        ],
    }
    config_path = tmp_path / "prometheus.yml"
    config_path.write_text(yaml.safe_dump(config))
    port = free_port()
    with (tmp_path / "prometheus.log").open("wb") as log:
        process = subprocess.Popen(
            [binary, f"--config.file={config_path}", f"--storage.tsdb.path={tmp_path / 'tsdb'}",
             f"--web.listen-address=127.0.0.1:{port}"],
            stdout=log, stderr=subprocess.STDOUT,
        )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    try:
        wait_for(lambda: http_get(f"{url}/-/ready")[0] == 200, timeout=30, what="Prometheus to be ready")
        yield url
    finally:
        process.terminate()
        process.wait(timeout=30)


def query(prometheus_url: str, expr: str) -> list[dict[str, Any]]:
    code, body = http_get(f"{prometheus_url}/api/v1/query?" + urllib.parse.urlencode({"query": expr}))
    reply = json.loads(body)
    assert code == 200, f"{expr}: {reply}"
    assert reply["status"] == "success", f"{expr}: {reply}"
    result: list[dict[str, Any]] = reply["data"]["result"]
    return result


def scalar(prometheus_url: str, expr: str) -> float | None:
    result = query(prometheus_url, expr)
    return float(result[0]["value"][1]) if result else None


def healthy(port: int) -> bool:
    return http_get(f"http://127.0.0.1:{port}/healthz")[0] == 200


def sample_names(metrics_text: str) -> set[str]:
    return {line.split("{")[0].split(" ")[0] for line in metrics_text.splitlines() if line and line[0] != "#"}


def test_dashboard_queries_return_data_and_counters_match_the_timeline(redis_url: str, tmp_path: Path) -> None:
    video = require_shared(VIDEOS / "short_hamilton_clip.mp4")
    uploads, out = tmp_path / "uploads", tmp_path / "out"
    uploads.mkdir()
    ports = {
        "producer": free_port(),
        "camera": free_port(),
        "w1": free_port(),
        "w2": free_port(),
        "aggregator": free_port(),
        "api": free_port(),  # its /metrics is on its HTTP port
    }
    url = ["--redis-url", redis_url]
    jobs = {
        "emostream-producer": [ports["producer"], ports["camera"]],
        "emostream-worker": [ports["w1"], ports["w2"]],
        "emostream-aggregator": [ports["aggregator"]],
        "emostream-api": [ports["api"]],
    }
    frame_dir = extract_frames(video, tmp_path / "frames", count=45)
    with ExitStack() as stack:
        prom = stack.enter_context(prometheus(tmp_path, jobs))
        camera = stack.enter_context(rtsp_server(frame_dir, tmp_path / "rtsp.log"))
        for name, args in {
            "producer": ["watch", str(uploads), "--poll-s", "0.3", "--fps", "5"],
            "camera": ["camera", camera.url(), "--camera-id", "lobby", "--fps", "2"],
            "w1": ["worker", "--name", "w1"],
            "w2": ["worker", "--name", "w2"],
            "aggregator": ["aggregator", "--out", str(out)],
        }.items():
            stack.enter_context(running([*args, *url, "--metrics-port", str(ports[name])], tmp_path / f"{name}.log"))
        api = ["api", "--out", str(out), "--port", str(ports["api"]), *url]
        stack.enter_context(running(api, tmp_path / "api.log", {"EMO_API_TOKENS": API_TOKEN}))
        for name, port in ports.items():
            wait_for(partial(healthy, port), 60, f"{name} /healthz")
        for token, status in ((API_TOKEN, 200), ("a-wrong-token", 401)):
            answered, _ = http_get(f"http://127.0.0.1:{ports['api']}/v1/videos", {"Authorization": f"Bearer {token}"})
            assert answered == status
        assert run("watch", str(uploads), "--check", *url).returncode == 0

        shutil.copy(video, uploads / "hamilton clip.mp4")
        summary_path = out / "hamilton_clip" / "summary.json"
        wait_for(summary_path.exists, timeout=240, what="the uploaded video's summary")
        wait_for((uploads / "processed" / "hamilton clip.mp4").exists, 30, "the upload to move aside")

        timeline = json.loads((out / "hamilton_clip" / "timeline.json").read_text())
        frames = len(timeline["frames"])
        faces = sum(len(frame["faces"]) for frame in timeline["frames"])
        assert frames > 0
        assert faces > 0
        expected = {
            'sum(emostream_frames_produced_total{source_kind="file"})': frames,
            # the aggregator's own counters, one scrape: all results stored minus the camera's
            "sum(emostream_results_stored_total) - sum(emostream_camera_frames_aggregated_total)": frames,
            'sum(emostream_emotion_predictions_total{source_kind="file"})': faces,
            "max(emostream_videos_open)": 0,
            'sum(emostream_videos_total{outcome="completed"})': 1,
            'sum(up{job="emostream-worker"})': 2,
            'count(emostream_pending_entries{stream="emo:frames:cam:{lobby}", group="workers"})': 1,
            'max(emostream_camera_state{camera="lobby", state="running"})': 1,
            'sum(emostream_api_auth_refused_total{reason="wrong_token"})': 1,
        }
        # Processes are scraped one by one: give every one time to be scraped after its last change.
        # Polled, not read once: a scrape that misses its 1 s timeout on a loaded machine marks that
        # target's series stale, and an instant query then finds nothing until the next scrape.
        deadline = time.monotonic() + 60
        while (seen := {e: scalar(prom, e) for e in expected}) != expected and time.monotonic() < deadline:
            time.sleep(0.5)
        assert seen == expected
        time.sleep(2)  # a few more scrapes, so rates over the window have two points after the last change
        empty = [expr for expr in queries() if not query(prom, for_range(expr, "2m"))]
        assert not empty, f"dashboard queries without data: {empty}"

        exposed: set[str] = set()
        for port in ports.values():
            code, body = http_get(f"http://127.0.0.1:{port}/metrics")
            assert code == 200
            exposed |= sample_names(body.decode())
        used = {name for expr in queries() for name in metric_names(expr)} - PROMETHEUS_SYNTHETIC
        assert used <= exposed, f"dashboard metrics no process exposes: {sorted(used - exposed)}"
