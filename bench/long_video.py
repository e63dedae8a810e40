"""A long recording (a meeting, a lecture): wall time, finalisation and peak memory of each process.

A clip's frames are repeated into one long H.264 file (``--minutes``), which ``emostream analyze``
then analyses as a user runs it. While it runs, the peak resident memory of each of its
processes (producer, workers, aggregator, the embedded server) is sampled from /proc.

    python bench/long_video.py --video ../shared/data/videos/fer_woman2.mp4 \
        --yunet ../shared/models/yunet/yunet_s_640_640.onnx --minutes 60
"""

import argparse
import json
import re
import subprocess
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path

import av
from common import cpu_description

SAMPLE_S = 0.5
LOG_TIME = re.compile(r"^(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3}) ")


def make_long_video(clip: Path, minutes: float, target: Path) -> int:
    """``clip``'s frames, repeated until ``minutes`` long; returns how many frames it holds."""
    with av.open(str(clip)) as source:
        stream = source.streams.video[0]
        rate, width, height = stream.average_rate, stream.codec_context.width, stream.codec_context.height
        frames = [frame.to_ndarray(format="yuv420p") for frame in source.decode(video=0)]
    assert rate is not None
    total = round(minutes * 60 * float(rate))
    with av.open(str(target), "w") as container:
        out = container.add_stream("libx264", rate=rate)
        out.width, out.height, out.pix_fmt = width, height, "yuv420p"
        out.options = {"preset": "ultrafast", "crf": "30"}
        for index in range(total):
            container.mux(out.encode(av.VideoFrame.from_ndarray(frames[index % len(frames)], format="yuv420p")))
        container.mux(out.encode())
    return total


def descendants(root: int) -> dict[int, str]:
    """Every process under ``root``: pid -> its name (``emo-worker``, ``valkey-server``...)."""
    parents: dict[int, int] = {}
    names: dict[int, str] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        name_end = stat.rindex(")")
        names[int(entry.name)] = stat[stat.index("(") + 1 : name_end]
        parents[int(entry.name)] = int(stat[name_end + 2 :].split()[1])
    found: dict[int, str] = {}
    frontier = [root]
    while frontier:
        pid = frontier.pop()
        for child, parent in parents.items():
            if parent == pid and child not in found:
                found[child] = names[child]
                frontier.append(child)
    return found


def rss_mb(pid: int) -> float:
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return 0.0
    line = next((line for line in status.splitlines() if line.startswith("VmRSS:")), "VmRSS: 0 kB")
    return int(line.split()[1]) / 1024


def log_time(log: Path, needle: str) -> datetime | None:
    for line in log.read_text().splitlines():
        if needle in line and (match := LOG_TIME.match(line)):
            return datetime.strptime(match.group(1), "%Y-%m-%d %H:%M:%S,%f")
    return None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--video", type=Path, required=True, help="a clip to repeat")
    parser.add_argument("--yunet", type=Path, required=True)
    parser.add_argument("--minutes", type=float, default=60.0)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    print(f"CPU: {cpu_description()}")
    with tempfile.TemporaryDirectory(prefix="emostream-long-") as tmp:
        long_video, out = Path(tmp) / "long.mp4", Path(tmp) / "out"
        frames = make_long_video(args.video, args.minutes, long_video)
        print(f"video: {args.video.name} repeated to {args.minutes:g} min, {frames} frames, "
              f"{long_video.stat().st_size / 2**20:.0f} MB")  # fmt: skip
        command = [sys.executable, "-m", "emostream", "analyze", str(long_video), "--out", str(out),
                   "--workers", str(args.workers), "--yunet-model", str(args.yunet)]  # fmt: skip
        started = time.monotonic()
        job = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        peaks: dict[str, float] = {}
        while job.poll() is None:
            for pid, name in descendants(job.pid).items():
                peaks[name] = max(peaks.get(name, 0.0), rss_mb(pid))
            time.sleep(SAMPLE_S)
        seconds = time.monotonic() - started
        if job.returncode != 0:
            raise SystemExit(f"analyze exited with {job.returncode}; logs in {out / 'logs'}")
        summary = json.loads((out / "long" / "summary.json").read_text())
        sent = log_time(out / "logs" / "producer-long.log", ": sent ")
        done = log_time(out / "logs" / "aggregator.log", "long: complete")
        print(f"analyze: {seconds:.0f} s wall, {summary['frames_total']} frames sampled "
              f"({summary['frames_total'] / seconds:.0f} a second), {len(summary['people'])} people, "
              f"status {summary['status']}")  # fmt: skip
        if sent and done:
            print(f"complete {(done - sent).total_seconds():.1f} s after the producer sent its last frame")
        sizes = ", ".join(f"{p.name} {p.stat().st_size / 2**20:.1f} MB" for p in sorted((out / "long").iterdir()))
        print(f"outputs: {sizes}")
        print(f"peak resident memory ({args.workers} workers; each process sampled every {SAMPLE_S} s):")
        for name, peak in sorted(peaks.items(), key=lambda item: -item[1]):
            print(f"  {'python (the fork server)' if name == 'python' else name}: {peak:.0f} MB")


if __name__ == "__main__":
    main()
