"""A camera watched for hours: what the aggregator keeps of the people it has seen, and its memory.

A camera has no end, so whatever the aggregator keeps per person must go once that person has
gone. Synthetic results of one camera (a lobby: someone walks across the picture every
``--every-s`` seconds, in view for ``--visible-s``, and now and then a stray box that is no one)
go through the aggregator's camera windows (``aggregator.cameras``, against the embedded server)
on a simulated clock, as fast as they can; every simulated hour it prints how many people it
holds state for, the process's resident memory, and the CPU time the hour took.

    python bench/camera_people.py --hours 6
"""

import argparse
import random
import resource
import sys
import tempfile
import time
from pathlib import Path

import redis
from common import cpu_description

from aggregator.cameras import CameraTimelines
from emostream import keys
from emostream.labels import EMOTIONS
from emostream.localserver import LocalServer, embedded_server_binary
from emostream.schema import Face, Result

WIDTH, FACE_PX = 1280, 80
T0 = 1_800_000_000.0


def faces_at(t: float, every_s: float, visible_s: float, rng: random.Random) -> list[Face]:
    """Everyone in view at ``t`` (each walks left to right at a height of their own), and a stray box
    one frame in fifty."""
    found = []
    first = max(0, int((t - visible_s) // every_s) + 1)
    for person in range(first, int(t // every_s) + 1):
        progress = (t - person * every_s) / visible_s
        x, y = round(progress * (WIDTH - FACE_PX)), 100 + (person * 37) % 400
        found.append(face((x, y, FACE_PX, FACE_PX), EMOTIONS[person % len(EMOTIONS)]))
    if rng.random() < 0.02:
        found.append(face((rng.randrange(WIDTH - 40), rng.randrange(600), 40, 40), "neutral"))
    return found


def face(box: tuple[int, int, int, int], emotion: str) -> Face:
    probs = tuple(0.7 if e == emotion else 0.05 for e in EMOTIONS)
    return Face(box=box, score=0.9, probs=probs, emotion=emotion)


def rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--hours", type=float, default=6.0, help="simulated hours of the camera")
    parser.add_argument("--fps", type=float, default=5.0)
    parser.add_argument("--every-s", type=float, default=4.0, help="a new person every this many seconds")
    parser.add_argument("--visible-s", type=float, default=12.0, help="how long each is in view")
    parser.add_argument("--out", type=Path, help="keep the windows written here (default: a temporary folder)")
    args = parser.parse_args()
    print(f"CPU: {cpu_description()}; Python {sys.version.split()[0]}")
    print(f"a camera at {args.fps:g} fps; a new person every {args.every_s:g} s, each in view {args.visible_s:g} s")
    rng = random.Random(0)
    with LocalServer(embedded_server_binary()) as server, tempfile.TemporaryDirectory() as temporary:
        out = args.out or Path(temporary)
        client = redis.Redis.from_url(server.url)
        client.sadd(keys.CAMERAS_INDEX, "lobby")
        client.hset(keys.camera_key("lobby"), "fps", args.fps)
        timelines = CameraTimelines(out, client)
        print("| hour | people held | people in the last hour's 1 min windows | resident MB | CPU s for the hour |")
        print("| --- | --- | --- | --- | --- |")
        frames_an_hour = round(3600 * args.fps)
        people_seen: set[int] = set()
        cpu = time.process_time()
        for index in range(round(args.hours * frames_an_hour)):
            t = index / args.fps
            result = Result(
                video_id="lobby", frame_index=index, t_ms=round(t * 1000), captured_at=T0 + t, status="ok",
                source_kind="rtsp", faces=tuple(faces_at(t, args.every_s, args.visible_s, rng)),
                model_version="m", detector="d", worker="w",
            )  # fmt: skip
            timelines.add(result, now=T0 + t + 0.05)
            if index % round(args.fps) == 0:
                for record in timelines.flush(now=T0 + t):
                    if record["window"] == "1m":
                        people_seen.update(int(p) for p in record["people_emotion_share"])
            if (index + 1) % frames_an_hour == 0:
                hour, held = (index + 1) // frames_an_hour, timelines.people_held("lobby")
                hour_cpu, cpu = time.process_time() - cpu, time.process_time()
                print(f"| {hour} | {held} | {len(people_seen)} | {rss_mb():.0f} | {hour_cpu:.1f} |")
                people_seen.clear()
        client.close()


if __name__ == "__main__":
    main()
