"""What one Redis primary carries: its own CPU time, memory and disk per frame, with the real messages.

    python bench/redis_capacity.py [--frames 3000] [--jpeg-kb 50] [--faces 2]

Starts a ``redis-server`` (Debian package) with the deployment's persistence (AOF, fsync every
second, no RDB) on a free loopback port, then drives the three hops with the messages the
services send (``emostream.schema``), batched as they batch them:

- in: the producer's transaction, 8 frames of ``--jpeg-kb`` random bytes (JPEG does not compress
  further) with their sent-bit and progress record;
- out: the worker's read of 16 frames, then its transaction writing each result (``--faces``
  faces) and acknowledging and deleting the frames;
- store: the aggregator's read of 256 results, then its transaction storing them in the video's
  hash and acknowledging and deleting them.

Redis runs one command thread, so what limits it is its own CPU time per frame (``INFO cpu``,
before and after each hop), not the client's. Prints that per hop, the frames per second one
Redis core sustains, memory per waiting frame (``used_memory`` with the backlog full), and AOF
bytes per frame. The clients run in this process on the same machine: compare the Redis CPU
figures, not wall times. A figure printer, not a test.
"""

import argparse
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

import redis

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from common import cpu_description  # noqa: E402

from emostream import keys  # noqa: E402
from emostream.localserver import LocalServer, system_server_binary  # noqa: E402
from emostream.redisconn import ensure_group, group_entries  # noqa: E402
from emostream.schema import Face, Frame, FrameMeta, Result, encode_frame, encode_result  # noqa: E402

PRODUCER_CHUNK, WORKER_BATCH, AGGREGATOR_BATCH = 8, 16, 256


def redis_cpu_s(client: "redis.Redis") -> float:
    info = client.info("cpu")
    return float(info["used_cpu_user"]) + float(info["used_cpu_sys"])


def produce(client: "redis.Redis", frames: int, jpeg: bytes) -> None:
    for first in range(0, frames, PRODUCER_CHUNK):
        with client.pipeline(transaction=True) as pipe:
            for index in range(first, min(first + PRODUCER_CHUNK, frames)):
                meta = FrameMeta(video_id="v", frame_index=index, t_ms=index * 100, captured_at=time.time(),
                                 source_kind="file", jpeg_size=len(jpeg))  # fmt: skip
                pipe.xadd(keys.FRAMES_STREAM, encode_frame(Frame(meta=meta, payload=jpeg)))  # type: ignore[arg-type]
                pipe.setbit(keys.video_sent_key("v"), index, 1)
            pipe.hset(keys.video_key("v"), mapping={"last_index": index, "frames_sent": index + 1})
            pipe.execute()


def work(client: "redis.Redis", faces: int) -> None:
    probs = (0.05, 0.05, 0.05, 0.6, 0.1, 0.05, 0.1)
    face = Face(box=(100, 120, 64, 64), score=0.93, probs=probs, emotion="happy")
    while entries := group_entries(
        client.xreadgroup(keys.WORKERS_GROUP, "w", {keys.FRAMES_STREAM: ">"}, count=WORKER_BATCH)
    ):
        with client.pipeline(transaction=True) as pipe:
            for _, fields in entries:
                index = int(json.loads(fields[b"meta"])["frame_index"])
                result = Result(video_id="v", frame_index=index, t_ms=index * 100, captured_at=time.time(),
                                status="ok", faces=(face,) * faces, model_version="m", detector="yunet", worker="w",
                                timings_ms={"decode": 1.0, "detect": 10.0, "infer_batch": 2.0})  # fmt: skip
                encoded = encode_result(result)
                pipe.xadd(keys.RESULTS_STREAM, encoded, maxlen=keys.RESULTS_STREAM_MAXLEN, approximate=True)  # type: ignore[arg-type]
            ids = [entry_id for entry_id, _ in entries]
            pipe.xack(keys.FRAMES_STREAM, keys.WORKERS_GROUP, *ids)
            pipe.xdel(keys.FRAMES_STREAM, *ids)
            pipe.execute()


def store(client: "redis.Redis") -> None:
    read: dict[Any, Any] = {keys.RESULTS_STREAM: ">"}
    while entries := group_entries(client.xreadgroup(keys.AGGREGATORS_GROUP, "a", read, count=AGGREGATOR_BATCH)):
        with client.pipeline(transaction=True) as pipe:
            for _, fields in entries:
                index = json.loads(fields[b"meta"])["frame_index"]
                pipe.hset(keys.video_results_key("v"), str(index), fields[b"meta"])
                pipe.hset(keys.video_key("v"), "last_result_at", time.time())
            ids = [entry_id for entry_id, _ in entries]
            pipe.xack(keys.RESULTS_STREAM, keys.AGGREGATORS_GROUP, *ids)
            pipe.xdel(keys.RESULTS_STREAM, *ids)
            pipe.execute()


def measure(client: "redis.Redis", hop: Any, *args: Any) -> tuple[float, float, int]:
    """(Redis CPU seconds, wall seconds, AOF bytes) spent on one hop."""
    cpu, wall = redis_cpu_s(client), time.perf_counter()
    aof = int(client.info("persistence")["aof_current_size"])
    hop(client, *args)
    return (
        redis_cpu_s(client) - cpu,
        time.perf_counter() - wall,
        int(client.info("persistence")["aof_current_size"]) - aof,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--frames", type=int, default=3000)
    parser.add_argument("--jpeg-kb", type=float, default=50.0)
    parser.add_argument("--faces", type=int, default=2, help="faces per result")
    args = parser.parse_args()
    binary = system_server_binary()
    if binary is None:
        sys.exit("redis-server is not installed (apt-get install redis-server)")
    jpeg = os.urandom(int(args.jpeg_kb * 1024))
    print(f"CPU: {cpu_description()}")
    with LocalServer(binary, ("--appendonly", "yes", "--appendfsync", "everysec")) as server:
        client = redis.Redis.from_url(server.url)
        print(f"server: {client.info('server')['redis_version']}, AOF everysec, no RDB")
        ensure_group(client, keys.FRAMES_STREAM, keys.WORKERS_GROUP)
        ensure_group(client, keys.RESULTS_STREAM, keys.AGGREGATORS_GROUP)
        before = int(client.info("memory")["used_memory"])
        figures = {"in": measure(client, produce, args.frames, jpeg)}
        backlog_bytes = int(client.info("memory")["used_memory"]) - before
        figures["out"] = measure(client, work, args.faces)
        figures["store"] = measure(client, store)
        rows = []
        for hop, (cpu, wall, aof) in figures.items():
            per_frame_us, per_frame_kb = cpu / args.frames * 1e6, aof / args.frames / 1024
            rows.append(f"| {hop} | {per_frame_us:,.0f} | {args.frames / wall:,.0f} | {per_frame_kb:,.1f} |")
        total_us = sum(cpu for cpu, _, _ in figures.values()) / args.frames * 1e6
        print(f"\n{args.frames} frames of {args.jpeg_kb:g} KB, {args.faces} faces per result\n")
        print("| hop | Redis CPU per frame (us) | frames/s here (client-bound) | AOF KB per frame |")
        print("| --- | --- | --- | --- |")
        print("\n".join(rows))
        print(f"\nRedis CPU per frame, all hops: {total_us:,.0f} us: one core carries {1e6 / total_us:,.0f} frames/s")
        waiting_kb = backlog_bytes / args.frames / 1024
        print(f"memory per waiting frame: {waiting_kb:,.1f} KB (used_memory with {args.frames} waiting)")
        kept = int(client.memory_usage(keys.video_results_key("v")) or 0)
        print(f"results kept per frame: {kept / args.frames:,.0f} bytes")


if __name__ == "__main__":
    main()
