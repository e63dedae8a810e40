"""Finalising a long, crowded video: the aggregator's time and peak memory as it writes the outputs.

The aggregator reads a video's results back from Redis in passes (``aggregator.stored``) and keeps a
few numbers a face between them, so its peak memory grows with the video's faces by what this
prints a face: what bounds the length of a crowded video one aggregator can finish. Synthetic results
(``--faces`` faces a frame, drifting slowly, random emotions) are stored in a real server (the
embedded one), then the aggregator finishes the video as its loop does (``finish_ready_videos``:
it takes the video's finalising lease and writes the outputs), timed in this process, alone.

While it does, a thread watches what others see of it every 0.1 s: the age of its liveness beat
(``/healthz`` and ``--check`` call it dead past ``keys.HEALTH_TTL_S``, and the Kubernetes manifest's
liveness probe then restarts it)
and the time left on the video's finalising lease (past ``keys.FINALISE_LEASE_S`` another
aggregator may take the video over).

    python bench/finalise.py --frames 3600 --faces 20
"""

import argparse
import random
import resource
import sys
import tempfile
import threading
import time
from pathlib import Path

import redis
from common import cpu_description

from aggregator.aggregator import Aggregator
from emostream import keys, registry
from emostream.localserver import LocalServer, embedded_server_binary
from emostream.schema import Face, Result
from emostream.settings import AggregatorSettings

STORE_BATCH = 1000


def store_results(client: "redis.Redis", video_id: str, frames: int, faces: int) -> None:
    rng = random.Random(0)
    registry.register(client, video_id, source=f"{video_id}.mp4", sample_fps=10.0, width=1920, height=1080)
    pipe = client.pipeline(transaction=False)
    for index in range(frames):
        found = []
        for k in range(faces):
            x, y = 60 + (k % 10) * 180 + index % 50, 100 + (k // 10) * 200
            weights = [rng.random() for _ in range(7)]
            probs = tuple(w / sum(weights) for w in weights)
            found.append(Face(box=(x, y, 60, 60), score=0.9, probs=probs, emotion="happy"))
        result = Result(
            video_id=video_id, frame_index=index, t_ms=index * 100, captured_at=1.0, status="ok",
            faces=tuple(found), model_version="m", detector="d", worker="w",
        )  # fmt: skip
        pipe.hset(keys.video_results_key(video_id), str(index), result.model_dump_json())
        if index % STORE_BATCH == STORE_BATCH - 1:
            pipe.execute()
    pipe.execute()
    registry.update(client, video_id, status="produced", frames_expected=frames)


def peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


class Watch:
    """A thread sampling, every 0.1 s, the age of the aggregator's liveness beat and the time left on the
    video's finalising lease (the worst of each), as a health check and another aggregator would see them."""

    def __init__(self, aggregator: Aggregator, client: "redis.Redis", video_id: str) -> None:
        self.aggregator, self.client, self.key = aggregator, client, keys.video_finalising_key(video_id)
        self.oldest_beat_s, self.least_lease_s = 0.0, float(keys.FINALISE_LEASE_S)
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def __enter__(self) -> "Watch":
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._done.set()
        self._thread.join()
        self.client.close()

    def _sample(self) -> None:
        while not self._done.wait(0.1):
            self.oldest_beat_s = max(self.oldest_beat_s, self.aggregator.liveness.state()[1])
            left_ms = int(self.client.pttl(self.key))  # -2: no lease (not taken yet, or lapsed)
            if left_ms >= 0:
                self.least_lease_s = min(self.least_lease_s, left_ms / 1000)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--frames", type=int, default=3600, help="sampled frames (3600: 6 min at 10 fps)")
    parser.add_argument("--faces", type=int, default=20, help="faces in each frame")
    args = parser.parse_args()
    print(f"CPU: {cpu_description()}; Python {sys.version.split()[0]}")
    with LocalServer(embedded_server_binary()) as server, tempfile.TemporaryDirectory() as out:
        client = redis.Redis.from_url(server.url)
        store_results(client, "crowd", args.frames, args.faces)
        aggregator = Aggregator(AggregatorSettings(out_dir=Path(out), name="bench"), client)
        watch = Watch(aggregator, redis.Redis.from_url(server.url), "crowd")
        before, started = peak_mb(), time.perf_counter()
        with watch:
            assert aggregator.finish_ready_videos() == ["crowd"]
        seconds, after = time.perf_counter() - started, peak_mb()
        folder = Path(out) / "crowd"
        faces = args.frames * args.faces
        print(f"{args.frames} frames x {args.faces} faces ({faces} faces): finalised in {seconds:.1f} s "
              f"({faces / seconds:,.0f} faces/s)")  # fmt: skip
        print(f"peak resident memory {after:.0f} MB, {after - before:.0f} MB more than before finalising "
              f"({(after - before) * 1024 / faces:.2f} KB a face)")  # fmt: skip
        print(f"while finalising: its liveness beat at most {watch.oldest_beat_s:.1f} s old (dead past "
              f"{keys.HEALTH_TTL_S} s); its finalising lease at least {watch.least_lease_s:.1f} s from lapsing "
              f"(taken for {keys.FINALISE_LEASE_S} s)")  # fmt: skip
        sizes = ", ".join(f"{p.name} {p.stat().st_size / 2**20:.1f} MB" for p in sorted(folder.iterdir()))
        print(f"outputs: {sizes}")
        client.close()


if __name__ == "__main__":
    main()
