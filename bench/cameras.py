"""Live-camera latency benchmark: N cameras at F fps through real RTSP, workers and aggregator.

    .venv/bin/python bench/cameras.py --video ../shared/data/videos/short_hamilton_clip.mp4 [--cameras 4]
        [--fps 5] [--workers 1] [--seconds 60] [--detector haar|yunet --yunet MODEL.onnx] [--batch-frames 16]


Starts a redis-server and GStreamer's RTSP server (Debian packages, as the tests do)
on free loopback ports, one ``emostream camera`` process with every camera (all
reading the same looping clip with faces), worker processes, and the aggregator
in this process so that every result's latency (capture wall-clock time to the
moment the aggregator folds it into its windows) is recorded exactly, not from
histogram buckets. Prints median and 95th percentile latency, the dropped-frame
ratio, and throughput. A figure printer, not a test: the machine is shared.
"""

import argparse
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np
from common import cpu_description

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from aggregator import aggregator as aggregator_module  # noqa: E402
from aggregator.aggregator import Aggregator  # noqa: E402
from emostream import keys  # noqa: E402
from emostream.localserver import LocalServer, system_server_binary  # noqa: E402
from emostream.redisconn import connect  # noqa: E402
from emostream.schema import Result  # noqa: E402
from emostream.settings import AggregatorSettings  # noqa: E402
from testkit.rtsp import PACKAGES, RtspServer, extract_frames, gstreamer_available  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--video", type=Path, required=True, help="a clip with faces, looped by every camera")
    parser.add_argument("--yunet", type=Path, help="the YuNet model file, for --detector yunet")
    parser.add_argument("--cameras", type=int, default=4)
    parser.add_argument("--fps", type=float, default=5.0)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--warmup", type=float, default=10.0, help="seconds left out at the start")
    parser.add_argument("--detector", choices=["haar", "yunet"], default="haar")
    parser.add_argument("--batch-frames", type=int, default=16, help="worker read size")
    args = parser.parse_args()
    if not gstreamer_available():
        sys.exit(f"GStreamer's RTSP server is not installed ({PACKAGES})")
    if args.detector == "yunet" and args.yunet is None:
        sys.exit("--detector yunet needs --yunet MODEL.onnx")
    print(f"CPU: {cpu_description()}", flush=True)
    binary = system_server_binary()
    if binary is None:
        sys.exit("redis-server is not installed")
    with tempfile.TemporaryDirectory() as tmp, LocalServer(binary) as server:
        work = Path(tmp)
        rtsp = RtspServer(extract_frames(args.video, work / "frames"), work / "rtsp.log")
        rtsp.start()
        try:
            run(args, server.url, rtsp, work)
        finally:
            rtsp.stop()


def run(args: argparse.Namespace, url: str, rtsp: RtspServer, work: Path) -> None:
    latencies: list[tuple[float, float]] = []  # (when, seconds)
    observe = aggregator_module._observe_new_result

    def record(result: Result, now: float) -> None:
        if result.source_kind != "file":
            latencies.append((now, now - result.captured_at))
        observe(result, now)

    aggregator_module._observe_new_result = record
    config = work / "cameras.toml"
    config.write_text(
        "".join(
            f'[[cameras]]\ncamera_id = "cam{i}"\nurl = "{rtsp.url()}"\nfps = {args.fps}\n\n'
            for i in range(args.cameras)
        )
    )
    env = {**os.environ, "EMO_REDIS_URL": url, "EMO_WORKER_DETECTOR": args.detector}
    env["EMO_WORKER_BATCH_FRAMES"] = str(args.batch_frames)
    if args.detector == "yunet":
        env["EMO_WORKER_YUNET_MODEL"] = str(args.yunet)
    emostream = [sys.executable, "-m", "emostream"]
    log = (work / "processes.log").open("wb")
    processes = [
        subprocess.Popen([*emostream, "worker", "--name", f"w{i}"], env=env, stdout=log, stderr=log)
        for i in range(args.workers)
    ]
    client = connect(url)
    aggregator = Aggregator(AggregatorSettings(redis_url=url, out_dir=work / "out"), client)
    thread = threading.Thread(target=aggregator.run, daemon=True)
    thread.start()
    processes.append(subprocess.Popen([*emostream, "camera", "--config", str(config)], env=env, stdout=log, stderr=log))
    started = time.time()
    time.sleep(args.warmup)
    sent_before, dropped_before = counters(client, args.cameras)
    measure_from = time.time()
    time.sleep(args.seconds)
    sent_after, dropped_after = counters(client, args.cameras)
    measure_to = time.time()
    for process in processes:
        process.terminate()
    for process in processes:
        process.wait(timeout=60)
    aggregator.request_stop()
    thread.join(timeout=30)
    report(
        args, latencies, start=measure_from, end=measure_to,
        sent=sent_after - sent_before, dropped=dropped_after - dropped_before,
    )  # fmt: skip
    print(f"(camera connect and warm-up: {measure_from - started:.0f} s left out)")


def counters(client: object, cameras: int) -> tuple[int, int]:
    sent = dropped = 0
    for i in range(cameras):
        state = client.hgetall(keys.camera_key(f"cam{i}"))  # type: ignore[attr-defined]
        sent += int(state.get(b"frames_sent", 0))
        dropped += int(state.get(b"frames_dropped", 0))
    return sent, dropped


def report(
    args: argparse.Namespace,
    latencies: list[tuple[float, float]],
    *,
    start: float,
    end: float,
    sent: int,
    dropped: int,
) -> None:
    window = np.array([s for when, s in latencies if start <= when <= end]) * 1000
    print(
        f"{args.cameras} cameras x {args.fps:g} fps, {args.workers} worker(s), detector {args.detector}, "
        f"batch {args.batch_frames}, {end - start:.0f} s measured"
    )
    if window.size == 0:
        print("no results in the measured window")
        return
    print(f"results aggregated: {window.size} ({window.size / (end - start):.1f} per s)")
    print(
        f"latency capture -> aggregated: median {np.percentile(window, 50):.0f} ms, "
        f"p95 {np.percentile(window, 95):.0f} ms, max {window.max():.0f} ms"
    )
    # A frame trimmed from a camera's stream (live policy) was sent first: the ratio is of frames sent.
    print(f"frames sent {sent}, dropped {dropped}: dropped ratio {dropped / sent if sent else 0:.4f}")


if __name__ == "__main__":
    main()
