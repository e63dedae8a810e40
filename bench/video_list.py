"""How long the API's list of videos takes (``GET /v1/videos``, and the browser page), by how many
videos Redis holds: sorted by creation time from one pipelined read, then only the page read,
against reading every registry entry one by one (as the list did before 2026-12-07).

    python bench/video_list.py [--videos 100 1000 5000] [--expired 5000]

Starts its own redis-server on loopback. Prints the CPU, and per size the median of 5 calls each.
``--expired N`` first writes N finished videos' folders whose Redis state has expired: the list
holds them too (by when their summaries were written), one ``stat`` each.
"""

import argparse
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import redis
from common import cpu_description

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from api.videos import VideoStore
from emostream import registry
from emostream.localserver import LocalServer, system_server_binary

CALLS = 5
PAGE = 50


class _NoUploads:
    def __init__(self) -> None:
        self.queued: set[str] = set()


def one_by_one(client: "redis.Redis") -> list[str]:
    records = [registry.read(client, video_id) for video_id in registry.all_video_ids(client)]
    live = sorted((r for r in records if r is not None), key=lambda r: (r.created_at, r.video_id), reverse=True)
    return [r.video_id for r in live[:PAGE]]


def median_ms(call: Callable[[], object]) -> float:
    times = []
    for _ in range(CALLS):
        started = time.perf_counter()
        call()
        times.append((time.perf_counter() - started) * 1000)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--videos", type=int, nargs="+", default=[100, 1000, 5000])
    parser.add_argument("--expired", type=int, default=0, help="finished videos kept on disk after their Redis state")
    args = parser.parse_args()
    binary = system_server_binary()
    if binary is None:
        raise SystemExit("needs redis-server (apt-get install redis-server)")
    print(cpu_description())
    with LocalServer(binary) as server, tempfile.TemporaryDirectory() as out:
        client = redis.Redis.from_url(server.url)
        store = VideoStore(client, Path(out), _NoUploads())  # type: ignore[arg-type]
        for n in range(args.expired):
            (Path(out) / f"expired-{n}").mkdir()
            (Path(out) / f"expired-{n}" / "summary.json").write_text('{"status": "complete", "source": "old.mp4"}')
        if args.expired:
            print(f"and {args.expired} finished videos whose Redis state has expired, kept on disk")
        registered = 0
        for count in sorted(args.videos):
            for n in range(registered, count):
                registry.register(client, f"video-{n}", source=f"video-{n}.mp4", status="complete")
            registered = count
            listed = [v["video_id"] for v in store.recent(PAGE, 0)["videos"]]
            assert listed == one_by_one(client), "the two ways list the same page (the expired ones are older)"
            now = median_ms(lambda: store.recent(PAGE, 0))
            before = median_ms(lambda: one_by_one(client))
            print(f"{count:6d} videos: {now:7.1f} ms a list, one by one {before:7.1f} ms ({before / now:.1f}x)")


if __name__ == "__main__":
    main()
