"""Smoothing: spurious label switches against lag, on a clip whose expression changes at known times.

The clip is cut from ``fer_woman2.mp4`` (one woman; stretches labelled by eye from a contact
sheet): happy 1.0-4.0 s, neutral 8.5-10.5 s, happy 1.0-3.0 s, neutral 12.8-14.3 s, so the truth
changes at 3, 5 and 7 s. The real pipeline (``emostream analyze``, YuNet) analyses it once; each
smoother then relabels the same per-frame probabilities. Also prints label switches per minute,
raw against smoothed, on the videos given with ``--also``.

    python bench/smoothing.py --videos ../shared/data/videos --yunet ../shared/models/yunet/yunet_s_640_640.onnx \
        --also fer_woman2.mp4 short_hamilton_clip.mp4
"""

import argparse
import itertools
import tempfile
from pathlib import Path
from typing import Any

import cv2
import numpy as np
from common import analysed_timeline

from aggregator.people import analyse_people
from aggregator.smoothing import UNCERTAIN, SmoothingConfig, labels, smooth
from emostream.labels import EMOTIONS
from emostream.schema import Result

CUTS = [("happy", 1.0, 4.0), ("neutral", 8.5, 10.5), ("happy", 1.0, 3.0), ("neutral", 12.8, 14.3)]
HOLD_S = 0.5  # a change has settled once the label stays right this long
SETTLE_S = 1.0  # switches within this long after a true change are the change itself, not spurious


def make_cut_clip(source: Path, path: Path) -> tuple[float, list[tuple[str, float, float]]]:
    """Write the cut clip; returns its fps and the truth as (label, start_s, end_s) in clip time."""
    capture = cv2.VideoCapture(str(source))
    fps = capture.get(cv2.CAP_PROP_FPS)
    frames = []
    while True:
        ok, frame = capture.read()
        if not ok:
            break
        frames.append(frame)
    height, width = frames[0].shape[:2]
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter.fourcc(*"mp4v"), fps, (width, height))
    truth, clock = [], 0.0
    for label, start, end in CUTS:
        chosen = frames[round(start * fps) : round(end * fps)]
        for frame in chosen:
            writer.write(frame)
        truth.append((label, clock, clock + len(chosen) / fps))
        clock += len(chosen) / fps
    writer.release()
    return fps, truth


def track_series(timeline: dict[str, Any]) -> dict[int, tuple[list[int], np.ndarray]]:
    """Per track: the time stamps and raw probabilities of its faces."""
    series: dict[int, tuple[list[int], list[list[float]]]] = {}
    for frame in timeline["frames"]:
        for face in frame["faces"]:
            if face["track"] is not None:
                t, p = series.setdefault(face["track"], ([], []))
                t.append(frame["t_ms"])
                p.append([face["probs"][e] for e in EMOTIONS])
    return {k: (t, np.array(p)) for k, (t, p) in series.items()}


def switches(track_labels: list[str]) -> int:
    """Changes of label, ignoring stretches of uncertain (uncertain -> x -> uncertain is no switch)."""
    named = [label for label in track_labels if label != UNCERTAIN]
    return sum(1 for a, b in itertools.pairwise(named) if a != b)


def score_cut(t_ms: list[int], track_labels: list[str], truth: list[tuple[str, float, float]]) -> dict[str, float]:
    """Scored as smiling or not: on this woman's talking, unsmiling face the served model says fear, sad
    or happy far more than neutral, so "neutral" stands for "not happy" here. Every visible change of
    label away from a true change counts as spurious."""
    truth_at = [next(label for label, start, end in truth if start <= t / 1000 < end + 1e-9) for t in t_ms]
    smiling = [label == "happy" for label in track_labels]
    correct = sum(1 for a, b in zip(smiling, truth_at, strict=True) if a == (b == "happy"))
    changes = [start for _, start, _ in truth[1:]]
    spurious = 0
    for n in range(1, len(track_labels)):
        if track_labels[n] != track_labels[n - 1] and not any(0 <= t_ms[n] / 1000 - c < SETTLE_S for c in changes):
            spurious += 1
    lags = [_settled_after(t_ms, smiling, label == "happy", start, end) for label, start, end in truth[1:]]
    return {
        "accuracy": correct / len(t_ms),
        "uncertain": track_labels.count(UNCERTAIN) / len(t_ms),
        "spurious_per_min": spurious / ((t_ms[-1] - t_ms[0]) / 60000),
        "lag_s": float(np.mean(lags)),
    }


def _settled_after(t_ms: list[int], smiling: list[bool], want: bool, start: float, end: float) -> float:
    """Seconds from a true change until the label is right and stays right for ``HOLD_S`` (or the stretch ends)."""
    inside = [(t / 1000, smile) for t, smile in zip(t_ms, smiling, strict=True) if start <= t / 1000 < end]
    for n, (t, _) in enumerate(inside):
        window = [smile for u, smile in inside[n:] if u < t + HOLD_S]
        if all(smile == want for smile in window):
            return t - start
    return end - start


def configs() -> dict[str, SmoothingConfig]:
    found = {"raw (no smoothing)": SmoothingConfig(method="none")}
    for tau in (0.3, 0.5, 1.0):
        found[f"EMA, tau {tau:g} s"] = SmoothingConfig(method="ema", ema_tau_s=tau)
    for rate in (0.5, 1.0, 2.0, 4.0):
        for weight in (0.5, 1.0):
            found[f"HMM, {rate:g} switches/s, evidence x{weight:g}"] = SmoothingConfig(
                switch_per_s=rate, evidence_weight=weight
            )
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--videos", type=Path, required=True, help="folder with fer_woman2.mp4")
    parser.add_argument("--yunet", type=Path, required=True, help="face_detection_yunet_2023mar.onnx")
    parser.add_argument(
        "--also", nargs="*", default=[], help="video files in --videos: switches per minute, raw vs served"
    )
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="emo-smoothing-"))
    clip = folder / "cut.mp4"
    _, truth = make_cut_clip(args.videos / "fer_woman2.mp4", clip)
    series = track_series(analysed_timeline(clip, folder / "out", args.yunet))
    t_ms, probs = max(series.values(), key=lambda s: len(s[0]))  # the woman's track
    print(f"cut clip: truth {[(label, round(start, 2)) for label, start, _ in truth]}, {len(t_ms)} sampled frames")
    print("| smoothing | smiling right | uncertain | spurious switches / min | lag after a change (s) |")
    print("| --- | --- | --- | --- | --- |")
    for name, config in configs().items():
        s = score_cut(t_ms, labels(smooth(probs, t_ms, config), config.uncertain_below), truth)
        print(
            f"| {name} | {s['accuracy']:.2f} | {s['uncertain']:.2f} | {s['spurious_per_min']:.1f} | {s['lag_s']:.2f} |"
        )
    for name in args.also:
        timeline = analysed_timeline(args.videos / name, folder / "out", args.yunet)
        results = [Result.model_validate(_result(frame)) for frame in timeline["frames"]]
        minutes = sum((t[-1] - t[0]) / 60000 for t, _ in track_series(timeline).values() if len(t) > 1)
        raw = sum(switches([EMOTIONS[int(p.argmax())] for p in probs]) for _, probs in track_series(timeline).values())
        served = analyse_people(results, float(timeline["fps"]), cuts=first_frames_of_shots(timeline))
        views = [view for _, view in served.views()]  # in frame order
        smoothed = sum(
            switches([v.label for v in views if v.track == track])
            for track in {v.track for v in views if v.track is not None}
        )
        rates = f"raw {raw / minutes:.1f}, smoothed {smoothed / minutes:.1f}"
        print(f"{name}: {minutes * 60:.1f} person-seconds tracked; label switches per minute {rates}")


def first_frames_of_shots(timeline: dict[str, Any]) -> list[int]:
    """The first sampled frame of each shot after the first (its shot cuts, as frame indices)."""
    starts = (
        next((f["index"] for f in timeline["frames"] if f["t_ms"] >= cut), None) for cut in timeline["cuts_ms"] or ()
    )
    return [index for index in starts if index is not None]


def _result(frame: dict[str, Any]) -> dict[str, Any]:
    """A timeline frame back as a worker result (for relabelling with the served settings)."""
    faces = [
        {"box": f["box"], "score": f["score"], "probs": [f["probs"][e] for e in EMOTIONS], "emotion": f["emotion"]}
        for f in frame["faces"]
    ]
    return {
        "video_id": "bench", "frame_index": frame["index"], "t_ms": frame["t_ms"], "captured_at": 0.0,
        "status": frame["status"], "faces": faces, "model_version": "m", "detector": "d", "worker": "w",
    }  # fmt: skip


if __name__ == "__main__":
    main()
