"""Two checkouts of emostream, or two emotion networks, run alternately on the same clips.

    git worktree add ../baseline COMMIT
    python bench/compare_commits.py --baseline ../baseline --videos ../shared/data/videos \\
        --yunet ../shared/models/yunet/yunet_s_640_640.onnx [--rounds 3] [--sampled]
    python bench/compare_commits.py --model-path NETWORK-int8.onnx --videos ... --yunet ...

This machine's speed drifts by tens of percent within an hour, so two runs of
``bench/throughput.py`` cannot show a 10 % change. Here both trees' ``emostream analyze
--every-frame --workers 1`` run on one core, one after the other, ``--rounds`` times on each clip
and on the clip repeated four times (``bench/throughput.py``'s clips and sustained method), and
medians are printed (``--sampled``: at the default sampling rate instead, as users run it, where the
producer decodes frames it does not send): the whole command's seconds, ms per frame once running (the extra seconds
of the long run over its extra frames), and what is left of the whole command at that rate: the
seconds of starting and stopping. Both trees run with this Python environment, so
a baseline that needs other packages cannot be compared this way. With ``--model-path``, "this"
serves that emotion network (``--model-path`` of ``analyze``; an untrained candidate kept by
``bench/students.py`` serves at a trained one's speed) and the baseline, this tree unless
``--baseline`` names another, serves its default one.
"""

import argparse
import statistics
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

from common import cpu_description
from throughput import CORES, REPEATS, repeated, run_emostream, tiled_1080p


@dataclass(frozen=True)
class Contender:
    tree: Path
    model: Path | None  # None: the tree's served network


@dataclass(frozen=True)
class Comparison:
    contenders: dict[str, Contender]  # baseline first
    yunet: Path
    rounds: int
    work: Path  # where the repeated clips are written
    every_frame: bool


def compare(name: str, video: Path, setup: Comparison) -> None:
    """One table row: both contenders on the clip and on it repeated, alternately, ``setup.rounds`` times."""
    once, long = (repeated(video, times, setup.work / f"{video.stem}-x{times}.mp4") for times in (1, REPEATS))
    seconds: dict[tuple[str, str], list[float]] = {}
    frames = {}
    for _ in range(setup.rounds):
        for label, contender in setup.contenders.items():
            for length, clip in (("once", once), ("long", long)):
                result = run_emostream(
                    clip,
                    setup.yunet,
                    1,
                    (CORES[0],),
                    contender.tree,
                    model=contender.model,
                    every_frame=setup.every_frame,
                )
                seconds.setdefault((label, length), []).append(result["seconds"])
                frames[length] = result["frames"]
    median = {key: statistics.median(values) for key, values in seconds.items()}
    extra = frames["long"] - frames["once"]
    base, this = (
        (median[(label, "once")], (median[(label, "long")] - median[(label, "once")]) / extra * 1000)
        for label in setup.contenders
    )
    # Start and stop: the whole command less its frames at the once-running rate (the time a clip
    # of no frames would take).
    fixed = [whole - frames["once"] * per_frame / 1000 for whole, per_frame in (base, this)]
    print(
        f"| {name} | {base[0]:.2f} s | {this[0]:.2f} s | {this[0] / base[0]:.2f} "
        f"| {base[1]:.2f} ms | {this[1]:.2f} ms | {this[1] / base[1]:.2f} | {fixed[0]:.2f} s | {fixed[1]:.2f} s |",
        flush=True,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--baseline", type=Path, help="another checkout (git worktree add; default: this one)")
    parser.add_argument("--model-path", type=Path, help="the emotion network this tree serves in the comparison")
    parser.add_argument("--videos", type=Path, required=True, help="with fer_woman2.mp4 and short_hamilton_clip.mp4")
    parser.add_argument("--yunet", type=Path, required=True, help="face_detection_yunet_2023mar.onnx")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--sampled", action="store_true", help="the default sampling rate, not --every-frame")
    args = parser.parse_args()
    if args.baseline is None and args.model_path is None:
        parser.error("name --baseline, --model-path or both")
    print(f"CPU: {cpu_description()}")
    if args.model_path is not None:
        print(f"this: serving {args.model_path}; baseline: its served emotion network")
    sampling = "" if args.sampled else " --every-frame"
    print(f"emostream analyze{sampling} --workers 1 on one core; medians of {args.rounds} alternate runs.")
    print(f"Once running: ms per frame between the clip and the clip repeated {REPEATS} times. Ratio: this / baseline.")
    print("Start and stop: the whole command less the clip's frames at the once-running rate.")
    print(
        "| clip | baseline, whole command | this | ratio | baseline, once running | this | ratio "
        "| baseline, start and stop | this |"
    )
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    work = Path(tempfile.mkdtemp(prefix="emo-compare-"))
    this = Path(__file__).resolve().parent.parent
    contenders = {
        "baseline": Contender((args.baseline or this).resolve(), None),
        "this": Contender(this, args.model_path.resolve() if args.model_path else None),
    }
    setup = Comparison(
        contenders, args.yunet.resolve(), args.rounds, work, every_frame=not args.sampled
    )  # the trees run in their own folders
    tiled = tiled_1080p(args.videos / "short_hamilton_clip.mp4", work / "tiled_1080p.mp4")
    for name, video in (
        ("fer_woman2.mp4", args.videos / "fer_woman2.mp4"),
        ("short_hamilton_clip.mp4", args.videos / "short_hamilton_clip.mp4"),
        ("hamilton tiled 3x3 (1080p)", tiled),
    ):
        compare(name, video, setup)


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    main()
