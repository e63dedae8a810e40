"""Whole-pipeline throughput against the naive loop, per core and on two cores, in one run.

    python bench/throughput.py --videos ../shared/data/videos --yunet ../shared/models/yunet/yunet_s_640_640.onnx
                               [--rounds 3] [--clips fer_woman2 stage 1080p] [--model-path NETWORK-int8.onnx]

The naive loop is what hobby emotion projects write, built here: Haar (``scaleFactor=1.3``) on
every full frame, then one Keras ``model.predict`` per face with the seed CNN
(``models.training.architectures.baseline``; its weights do not change its speed). emostream is the whole
``emostream analyze VIDEO --every-frame`` (embedded server, producer, worker, aggregator), start-up
included, with its default detector (YuNet, from ``--yunet``) and one thread per worker.

One core: each pinned to core 0 (``os.sched_setaffinity``, inherited by every child process).
Two cores: two naive loops side by side (one per core, each on the whole clip) against
``--workers 2`` on both cores. Clips: ``fer_woman2.mp4``, ``short_hamilton_clip.mp4`` and a
1080p clip made here by tiling the first 105 frames of the latter 3x3.

Three ratios. The naive loop is timed twice: its loop alone (after TensorFlow is imported and the
model built) and its whole command (launch to exit). emostream's whole command is compared with
the loop alone (strict: emostream's start-up counts, the naive one's does not) and with the naive
whole command (like for like). These clips are 4 to 15 s long, so emostream's fixed costs (four
Python processes starting on one core, the outputs written at the end: about 3 s of CPU) weigh
heavily in them. The third ratio is sustained throughput, what a longer video or a camera gets:
emostream also analyses the clip re-encoded once and repeated ``REPEATS`` times (both the same
codec, so video decoding costs the same per frame), and the extra frames divided by the extra
seconds is its rate once running; against the naive loop alone.

Then the worker's own stage times (``worker ... stage seconds`` in its log, from its metrics) per
frame, beside the whole command's wall time per frame. They are wall time: on one core they include
the slices the producer, the aggregator and Redis ran in (YuNet took 2.7 ms a stage-clip frame alone
and 4.9 ms by this measure, 2026-12-07); ``perf record`` tells CPU apart. Prints the CPU model and flags, frames per
second and faces found. Needs the training extra (Keras) for the naive loop.

The machine is shared, and its speed moves by a fifth within the hour, the naive loop's most (8.4 to
10.5 frames/s on ``fer_woman2.mp4`` in two runs half an hour apart). So the whole measurement runs
``--rounds`` times, round by round over the clips, and each ratio is the median of the rounds' own
(each round's naive loop and emostream ran one right after the other); the sustained ratio also gives
its lowest and highest round. ``--model-path`` serves another emotion network, such as an
untrained candidate kept by ``bench/students.py``: what the pipeline would gain from it.
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np
from common import cpu_description

CORES = (0, 1)
TILED_FRAMES = 105
REPEATS = 4  # the long run of each clip, for the sustained rate
CLIPS = ("fer_woman2", "stage", "1080p")  # --clips: fer_woman2.mp4, short_hamilton_clip.mp4, it tiled to 1080p


def naive_loop(video: Path) -> dict[str, Any]:
    """Run in a child process already pinned to one core: frames, faces and seconds."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    import keras
    import tensorflow as tf

    tf.config.threading.set_intra_op_parallelism_threads(1)
    tf.config.threading.set_inter_op_parallelism_threads(1)
    cv2.setNumThreads(1)
    from models.training.architectures import baseline

    model = baseline()
    cascade = cv2.CascadeClassifier(cv2.data.haarcascades + "haarcascade_frontalface_default.xml")  # type: ignore[attr-defined]
    model.predict(np.zeros((1, 48, 48, 1), dtype=np.float32), verbose=0)  # build it, as a script would once
    capture = cv2.VideoCapture(str(video))
    started, frames, faces = time.perf_counter(), 0, 0
    while True:
        ok, frame = capture.read()
        if not ok:
            break
        gray = cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY)
        for x, y, w, h in cascade.detectMultiScale(gray, scaleFactor=1.3, minNeighbors=5):
            face = cv2.resize(gray[y : y + h, x : x + w], (48, 48)).astype(np.float32) / 255
            model.predict(face[None, :, :, None], verbose=0)
            faces += 1
        frames += 1
    del keras
    return {"frames": frames, "faces": faces, "seconds": time.perf_counter() - started}


def pinned(
    command: list[str], cores: tuple[int, ...], env: dict[str, str] | None = None, cwd: Path | None = None
) -> "subprocess.Popen[str]":
    def pin() -> None:
        os.sched_setaffinity(0, set(cores))

    return subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, preexec_fn=pin,  # noqa: PLW1509
        env={**os.environ, **(env or {})}, cwd=cwd,
    )  # fmt: skip


def run_naive(video: Path, cores_each: list[tuple[int, ...]]) -> list[dict[str, Any]]:
    """The loop's own figures, plus ``command_seconds``: launch to exit, its start-up included."""
    started = time.perf_counter()
    children = [pinned([sys.executable, __file__, "--naive", str(video)], cores) for cores in cores_each]
    outputs = []
    for child in children:
        out, err = child.communicate(timeout=1800)
        if child.returncode != 0:
            raise SystemExit(f"naive loop failed: {err[-2000:]}")
        outputs.append({**json.loads(out.strip().splitlines()[-1]), "command_seconds": time.perf_counter() - started})
    return outputs


def run_emostream(
    video: Path,
    yunet: Path,
    workers: int,
    cores: tuple[int, ...],
    tree: Path | None = None,
    *,
    model: Path | None = None,
    every_frame: bool = True,
) -> dict[str, Any]:
    """``emostream analyze`` of the checkout at ``tree`` (default: the one on the path), timed; with
    ``model``, serving that emotion network instead of the default; without ``every_frame``, at the
    default sampling rate."""
    out = Path(tempfile.mkdtemp(prefix="emo-throughput-"))
    command = [
        sys.executable, "-m", "emostream", "analyze", str(video), *(["--every-frame"] if every_frame else []),
        "--workers", str(workers),
        "--out", str(out), "--yunet-model", str(yunet), *(["--model-path", str(model)] if model else []),
    ]  # fmt: skip
    started = time.perf_counter()
    child = pinned(command, cores, cwd=tree)  # -m: the tree's package comes first; threads as by default
    _, err = child.communicate(timeout=1800)
    seconds = time.perf_counter() - started
    if child.returncode != 0:
        raise SystemExit(f"emostream analyze failed: {err[-2000:]}")
    summary = json.loads(next(out.glob("*/summary.json")).read_text())
    stages = [json.loads(line.split("stage seconds: ", 1)[1]) for log in sorted((out / "logs").glob("worker-*.log"))
              for line in log.read_text().splitlines() if "stage seconds: " in line]  # fmt: skip
    totals = {stage: sum(s[stage] for s in stages) for stage in stages[0]} if stages else {}
    return {"frames": summary["frames_total"], "faces": summary["faces_total"], "seconds": seconds, "stages": totals}


def tiled_1080p(source: Path, target: Path) -> Path:
    """3x3 tiles of the clip's first frames at 640x360: 1920x1080 with up to nine times its faces."""
    capture = cv2.VideoCapture(str(source))
    fps = capture.get(cv2.CAP_PROP_FPS)
    writer = cv2.VideoWriter(str(target), cv2.VideoWriter.fourcc(*"mp4v"), fps, (1920, 1080))
    for _ in range(TILED_FRAMES):
        ok, frame = capture.read()
        if not ok:
            break
        tile = cv2.resize(frame, (640, 360))
        writer.write(np.vstack([np.hstack([tile, tile[:, ::-1], tile])] * 3))
    writer.release()
    return target


def repeated(source: Path, times: int, target: Path) -> Path:
    """The clip played ``times`` times over, as one video (frames re-encoded as they are)."""
    writer = None
    for _ in range(times):
        capture = cv2.VideoCapture(str(source))
        while True:
            ok, frame = capture.read()
            if not ok:
                break
            if writer is None:
                fourcc, fps = cv2.VideoWriter.fourcc(*"mp4v"), capture.get(cv2.CAP_PROP_FPS)
                writer = cv2.VideoWriter(str(target), fourcc, fps, (frame.shape[1], frame.shape[0]))
            writer.write(frame)
    if writer is not None:
        writer.release()
    return target


def sustained(short: dict[str, Any], long: dict[str, Any]) -> float:
    """Frames per second once running: the long run's extra frames over its extra seconds."""
    return float((long["frames"] - short["frames"]) / max(long["seconds"] - short["seconds"], 1e-9))


def rate(result: dict[str, Any]) -> float:
    return float(result["frames"] / result["seconds"])


@dataclass(frozen=True)
class Clip:
    name: str
    video: Path
    once: Path  # re-encoded once: the short run of the sustained rate
    long: Path  # re-encoded and repeated REPEATS times: its long run


def clip_of(name: str, video: Path, work: Path) -> Clip:
    once, long = (repeated(video, times, work / f"{video.stem}-x{times}.mp4") for times in (1, REPEATS))
    return Clip(name, video, once, long)


def measure(clip: Clip, yunet: Path, model: Path | None = None) -> dict[str, Any]:
    """One round on one clip, each run right after the other: the naive loop and emostream (the clip, once,
    repeated) on one core, then two naive loops and ``--workers 2`` on two cores."""
    (naive,) = run_naive(clip.video, [(CORES[0],)])
    single = [run_emostream(v, yunet, 1, (CORES[0],), model=model) for v in (clip.video, clip.once, clip.long)]
    pair = run_naive(clip.video, [(core,) for core in CORES])
    double = [run_emostream(v, yunet, 2, CORES, model=model) for v in (clip.video, clip.once, clip.long)]
    return {"naive": naive, "single": single, "pair": pair, "double": double}


def figures(measured: dict[str, Any], cores: int) -> dict[str, float]:
    """One round's frames/s and ratios for one core or two."""
    if cores == 1:
        naive = measured["naive"]
        loop, command = rate(naive), naive["frames"] / naive["command_seconds"]
        ours, ours_once, ours_long = measured["single"]
    else:
        pair = measured["pair"]
        loop = sum(r["frames"] for r in pair) / max(r["seconds"] for r in pair)
        command = sum(r["frames"] for r in pair) / max(r["command_seconds"] for r in pair)
        ours, ours_once, ours_long = measured["double"]
    once_running = sustained(ours_once, ours_long)
    return {
        "loop": loop, "command": command, "ours": rate(ours), "sustained": once_running,
        "strict": rate(ours) / loop, "like": rate(ours) / command, "sustained_ratio": once_running / loop,
    }  # fmt: skip


def rows(clip: Clip, rounds: list[dict[str, Any]]) -> list[str]:
    """The clip's two table rows: medians over the rounds, and the sustained ratio's range where there are several."""
    lines = []
    for cores, label in ((1, "1 core"), (2, "2 cores")):
        each = [figures(measured, cores) for measured in rounds]
        mid = {key: statistics.median(f[key] for f in each) for key in each[0]}
        spread = [f["sustained_ratio"] for f in each]
        ranged = f" ({min(spread):.1f} to {max(spread):.1f})" if len(each) > 1 else ""
        faces = f"{rounds[0]['naive']['faces']} / {rounds[0]['single'][0]['faces']}"
        name = clip.name if cores == 1 else ""
        lines.append(
            f"| {name} | {label} | {mid['loop']:.1f} / {mid['command']:.1f} | {mid['ours']:.1f} "
            f"| {mid['sustained']:.1f} | {mid['strict']:.1f}x | {mid['like']:.1f}x "
            f"| **{mid['sustained_ratio']:.1f}x**{ranged} | {faces} |"
        )
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--videos", type=Path, help="folder with fer_woman2.mp4 and short_hamilton_clip.mp4")
    parser.add_argument("--yunet", type=Path, help="face_detection_yunet_2023mar.onnx")
    parser.add_argument(
        "--model-path", type=Path, help="the emotion network emostream serves (default: the served one)"
    )
    parser.add_argument(
        "--rounds", type=int, default=3,
        help="rounds over the clips (default 3): the table gives medians, and the sustained ratio's range",
    )  # fmt: skip
    parser.add_argument(
        "--clips", nargs="+", choices=CLIPS, default=list(CLIPS),
        help="which clips (default all three): the stage clip alone takes a third of the time",
    )  # fmt: skip
    parser.add_argument("--naive", type=Path, help=argparse.SUPPRESS)  # the child process's job
    args = parser.parse_args()
    if args.naive is not None:
        print(json.dumps(naive_loop(args.naive)))
        return
    if args.videos is None or args.yunet is None:
        parser.error("--videos and --yunet are required")
    print(f"CPU: {cpu_description()}")
    if args.model_path is not None:
        print(f"emostream serves {args.model_path} (--model-path), not the served emotion network")
    work = Path(tempfile.mkdtemp(prefix="emo-throughput-clips-"))
    rounds: dict[Clip, list[dict[str, Any]]] = {
        clip_of(*source(key, args.videos, work), work): [] for key in CLIPS if key in args.clips
    }
    for number in range(1, args.rounds + 1):  # round by round, so each clip's rounds span the whole run
        for clip, measured in rounds.items():
            measured.append(measure(clip, args.yunet, args.model_path))
            once = figures(measured[-1], 1)
            print(
                f"round {number} of {args.rounds}, {clip.name}: naive {once['loop']:.1f} frames/s, emostream sustained"
                f" {once['sustained']:.1f} ({once['sustained_ratio']:.1f}x) on one core", flush=True,
            )  # fmt: skip
    print_tables(rounds)


def source(key: str, videos: Path, work: Path) -> tuple[str, Path]:
    """One of ``CLIPS``: its name in the table and its video (the 1080p one made here)."""
    if key == "fer_woman2":
        return "fer_woman2.mp4 (596x336, 464 frames)", videos / "fer_woman2.mp4"
    if key == "stage":
        return "short_hamilton_clip.mp4 (640x360, 275 frames)", videos / "short_hamilton_clip.mp4"
    tiled = tiled_1080p(videos / "short_hamilton_clip.mp4", work / "tiled_1080p.mp4")
    return f"hamilton tiled 3x3 (1920x1080, {TILED_FRAMES} frames)", tiled


def print_tables(rounds: dict[Clip, list[dict[str, Any]]]) -> None:
    count = len(next(iter(rounds.values())))
    print(f"\nframes/s, every frame; medians of {count} rounds (each round runs both, one right after the other).")
    print("Naive (Haar 1.3 on full frames + Keras predict per face): its loop alone / its whole command. emostream:")
    print("its whole analyze command on the clip, start-up included; and sustained, once running (the clip")
    print(f"re-encoded {REPEATS} times over against once). 2 cores: two naive loops, --workers 2. Ratios (medians of")
    print("each round's): whole command against the naive loop alone (strict) and against its whole command (like")
    print("for like); sustained against the naive loop alone, with its lowest and highest round. Faces: found by the")
    print("naive loop / by emostream.")
    print("| clip | cores | naive | emostream | emostream sustained | strict | like for like | sustained | faces |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    for clip, measured in rounds.items():
        print("\n".join(rows(clip, measured)))
    print(
        "\nemostream, 1 core: the worker's own stage times (its metrics, wall time: with the other processes' slices"
        " on this core), ms per frame of the clip (frames whose faces were interpolated, not detected, count in"
        " interpolate), and the whole command's wall time per frame; medians of the rounds"
    )
    print("| clip | decode | detect | interpolate | infer | publish | worker total | whole command |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- |")
    stages = ("decode", "detect", "interpolate", "infer", "publish_results")
    for clip, measured in rounds.items():
        singles = [one["single"][0] for one in measured]
        per_frame = [{stage: s["stages"].get(stage, 0.0) / s["frames"] * 1000 for stage in stages} for s in singles]
        ms = {stage: statistics.median(p[stage] for p in per_frame) for stage in stages}
        total = statistics.median(sum(p.values()) for p in per_frame)
        whole = statistics.median(s["seconds"] / s["frames"] * 1000 for s in singles)
        row = " | ".join(f"{ms[stage]:.1f}" for stage in stages)
        print(f"| {clip.name} | {row} | {total:.1f} | {whole:.1f} |")


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    main()
