"""Concurrent uploads through the HTTP API: time to 202, and every video completes, none lost.

Starts its own redis-server (loopback, free port), one worker, the aggregator and the API, then
sends ``--uploads`` copies of a small clip at once (``--concurrency`` in flight), each as its own
video, and waits until every one is complete. Loopback only, bounded in count and time.

    python bench/api_load.py --uploads 20 --concurrency 20
"""

import argparse
import asyncio
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
import numpy as np
from common import cpu_description

from emostream.localserver import LocalServer, free_port, system_server_binary
from emostream.sample import make_sample_video

TOKEN = "bench-token"  # noqa: S105 (a throwaway token for the API this run starts)
HEADERS = {"Authorization": f"Bearer {TOKEN}"}
DEADLINE_S = 600.0


def start(args: list[str], log: Path, env: dict[str, str] | None = None) -> "subprocess.Popen[bytes]":
    with log.open("ab") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "emostream", *args], stdout=out, stderr=subprocess.STDOUT,
            env={**os.environ, **(env or {})},
        )  # fmt: skip


async def upload(client: httpx.AsyncClient, clip: bytes, n: int, gate: asyncio.Semaphore) -> tuple[str, float]:
    async with gate:
        started = time.perf_counter()
        answer = await client.post("/v1/videos", files={"file": (f"clip-{n}.mp4", clip, "video/mp4")})
        elapsed = time.perf_counter() - started
    if answer.status_code != 202:
        raise SystemExit(f"upload {n}: {answer.status_code} {answer.text}")
    return answer.json()["video_id"], elapsed


async def wait_complete(client: httpx.AsyncClient, ids: list[str]) -> float:
    started = time.perf_counter()
    waiting = set(ids)
    while waiting and time.perf_counter() - started < DEADLINE_S:
        for video_id in sorted(waiting):
            state = (await client.get(f"/v1/videos/{video_id}")).json()
            if state.get("status") == "complete":
                waiting.discard(video_id)
            elif state.get("status") in ("partial", "failed"):
                raise SystemExit(f"{video_id} ended {state['status']}: {state}")
        await asyncio.sleep(0.5)
    if waiting:
        raise SystemExit(f"{len(waiting)} videos not complete after {DEADLINE_S:.0f} s: {sorted(waiting)}")
    return time.perf_counter() - started


async def load(url: str, clip: bytes, uploads: int, concurrency: int) -> None:
    gate = asyncio.Semaphore(concurrency)
    async with httpx.AsyncClient(base_url=url, headers=HEADERS, timeout=120) as client:
        started = time.perf_counter()
        sent = await asyncio.gather(*(upload(client, clip, n, gate) for n in range(uploads)))
        accepted_s = time.perf_counter() - started
        ids = [video_id for video_id, _ in sent]
        assert len(set(ids)) == uploads, "two uploads got the same id"
        done_s = await wait_complete(client, ids)
        frames = [(await client.get(f"/v1/videos/{v}/summary")).json()["frames_total"] for v in ids]
    times = np.array([elapsed for _, elapsed in sent]) * 1000
    print(f"CPU: {cpu_description()}")
    print(f"{uploads} uploads of {len(clip) / 1024:.0f} KB, {concurrency} at once: all accepted in {accepted_s:.2f} s")
    p50, p95 = np.percentile(times, 50), np.percentile(times, 95)
    print(f"time to 202: p50 {p50:.0f} ms, p95 {p95:.0f} ms, max {times.max():.0f} ms")
    print(
        f"all {uploads} complete {done_s:.1f} s later, {sum(frames)} frames, none lost (each has {set(frames)} frames)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--uploads", type=int, default=20)
    parser.add_argument("--concurrency", type=int, default=20)
    args = parser.parse_args()
    binary = system_server_binary()
    if binary is None:
        raise SystemExit("redis-server is not installed (apt-get install redis-server)")
    folder = Path(tempfile.mkdtemp(prefix="emo-api-load-"))
    clip_path = folder / "clip.mp4"
    make_sample_video(clip_path)
    port = free_port()
    with LocalServer(binary) as server:
        processes = [
            start(["worker", "--redis-url", server.url], folder / "worker.log"),
            start(["aggregator", "--out", str(folder / "out"), "--redis-url", server.url], folder / "aggregator.log"),
            start(
                ["api", "--out", str(folder / "out"), "--port", str(port), "--redis-url", server.url],
                folder / "api.log", {"EMO_API_TOKENS": TOKEN},
            ),
        ]  # fmt: skip
        try:
            url = f"http://127.0.0.1:{port}"
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline:
                try:
                    if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                        break
                except httpx.HTTPError:
                    time.sleep(0.2)
            asyncio.run(load(url, clip_path.read_bytes(), args.uploads, args.concurrency))
        finally:
            for process in processes:
                process.terminate()
            for process in processes:
                process.wait(timeout=30)


if __name__ == "__main__":
    main()
