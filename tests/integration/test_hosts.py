"""Workers on other hosts: Redis, the producer and the aggregator on one network namespace, a
worker on each of two others (veth links, all made and removed by the test), and one worker's
link cut mid-video: its frames are reclaimed by the other host, nothing is lost or doubled, and
the cut worker takes frames again once its link is back."""

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

import pytest

from emostream import keys
from emostream.localserver import system_server_binary
from testkit.netns import Host, Namespace, Network, namespaces_available, network
from tests.conftest import VIDEOS, require_shared
from tests.integration.processes import wait_for
from tests.integration.test_faults import assert_exactly_once

pytestmark = pytest.mark.integration

PORT = "6390"  # inside the test's own hub namespace, where nothing else listens
# Small batches, quick reclaims, and Haar (several times slower than YuNet) so the video is still
# being worked on when the test looks for a moment the near worker holds frames.
FAST = {"EMO_WORKER_CLAIM_IDLE_MS": "3000", "EMO_WORKER_BATCH_FRAMES": "4", "EMO_WORKER_DETECTOR": "haar"}


@contextmanager
def process(
    host: Namespace, args: list[str], log: Path, env: dict[str, str] | None = None
) -> Iterator["subprocess.Popen[bytes]"]:
    with log.open("ab") as out:
        proc = subprocess.Popen(
            host.command(*args), stdout=out, stderr=subprocess.STDOUT, env={**os.environ, **(env or {})}
        )
    try:
        yield proc
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def emostream(*args: str) -> list[str]:
    return [sys.executable, "-m", "emostream", *args]


def answers(host: Namespace, url: list[str]) -> bool:
    return subprocess.run(host.command(*emostream("status", *url)), capture_output=True, check=False).returncode == 0


def pending_of(net: Network, consumer: str) -> int:
    """Frames ``consumer`` has read and not acknowledged (redis-cli in the hub: one line per field, four a frame)."""
    query = ["redis-cli", "-p", PORT, "XPENDING", keys.FRAMES_STREAM, keys.WORKERS_GROUP, "-", "+", "1000", consumer]
    reply = subprocess.run(net.hub.command(*query), capture_output=True, text=True, check=False)
    return len(reply.stdout.split()) // 4


def cut_off_holding_frames(net: Network, host: Host) -> None:
    """Cut ``host``'s link at a moment its worker (w1) holds frames it can then no longer acknowledge."""
    for _ in range(50):
        wait_for(lambda: pending_of(net, "w1") > 0, 60, "the near worker to hold frames")
        host.cut()
        if pending_of(net, "w1") > 0:
            return
        host.restore()  # it acknowledged them just before the cut: try again
    raise AssertionError("never caught the near worker holding frames")


def batches(log: Path) -> int:
    return log.read_text(errors="replace").count("batch of ") if log.exists() else 0


def complete(out: Path, video_id: str) -> bool:
    summary = out / video_id / "summary.json"
    return summary.exists() and json.loads(summary.read_text())["status"] == "complete"


def test_a_worker_host_cut_off_mid_video_loses_nothing_and_comes_back(tmp_path: Path) -> None:
    if (why := namespaces_available()) is not None:
        pytest.skip(why)
    binary = system_server_binary()
    if binary is None:
        pytest.skip("redis-server is not installed")
    video = require_shared(VIDEOS / "fer_woman2.mp4")
    out = tmp_path / "out"
    with network(2) as net, ExitStack() as stack:
        hub, (near, far) = net.hub, net.hosts
        # Every address of the hub namespace: the hosts reach it over their links, nothing else can.
        server = [str(binary), "--port", PORT, "--bind", "0.0.0.0", "--protected-mode", "no", "--save", "",  # noqa: S104
                  "--appendonly", "no", "--dir", str(tmp_path)]  # fmt: skip
        stack.enter_context(process(hub, server, tmp_path / "redis.log"))
        local = ["--redis-url", f"redis://127.0.0.1:{PORT}/0"]
        wait_for(lambda: answers(hub, local), 30, "redis-server in the hub namespace")
        logs = {name: tmp_path / f"{name}.log" for name in ("w1", "w2")}
        for name, host in (("w1", near), ("w2", far)):
            url = ["--redis-url", f"redis://{net.hub_address(host)}:{PORT}/0"]
            stack.enter_context(process(host, emostream("worker", "--name", name, *url), logs[name], FAST))
        stack.enter_context(process(hub, emostream("aggregator", "--out", str(out), *local), tmp_path / "agg.log"))

        produced = subprocess.run(
            hub.command(*emostream("produce", str(video), "--video-id", "v", "--every-frame", *local)),
            capture_output=True, text=True, timeout=300, check=False,
        )  # fmt: skip
        assert produced.returncode == 0, produced.stderr
        cut_off_holding_frames(net, near)
        cut_at = batches(logs["w1"])
        wait_for(lambda: complete(out, "v"), 180, "the far worker to finish the video")
        assert_exactly_once(out, "v", 464)
        assert "reclaimed" in logs["w2"].read_text(errors="replace")  # it took over the cut worker's frames

        near.restore()
        time.sleep(2)
        again = subprocess.run(  # sampled at 10 fps: 155 frames are enough to see w1 work again
            hub.command(*emostream("produce", str(video), "--video-id", "v2", *local)),
            capture_output=True, text=True, timeout=300, check=False,
        )  # fmt: skip
        assert again.returncode == 0, again.stderr
        wait_for(lambda: complete(out, "v2"), 180, "the second video")
        assert_exactly_once(out, "v2", 155)
        assert batches(logs["w1"]) > cut_at + 1, "the cut worker took no frames after its link came back"
