"""What interpolating faces between detected frames changes, and what it saves (``worker.keyframes``).

    python bench/detect_interval.py --videos ../shared/data/videos --yunet ../shared/models/yunet/yunet_s_640_640.onnx

Every frame of each clip goes through the worker's own ``BatchProcessor`` (YuNet, the served
model, one thread) in batches of the worker's size, as raw I420 frames: once detecting on every
frame (``--interval-ms 0``) and once with the default interval. Prints, per clip: frames
detected, worker time per frame, faces found; and on the interpolated frames, against detection
on the same frame: faces matched (IoU >= 0.5), missed and extra, the boxes' IoU (median, 5th
percentile), and how often the emotion agrees. For scale, how often the emotion of one face
agrees between consecutive frames when every frame is detected (what an emotion does anyway in
33 ms). Also the 1080p clip ``bench/throughput.py`` makes.
"""

import argparse
import itertools
import sys
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np
import numpy.typing as npt
from common import cpu_description
from throughput import tiled_1080p

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from emostream import keys
from emostream.framecodec import encode_i420
from emostream.schema import Fields, Frame, FrameMeta, Result, encode_frame
from models.classifier import EmotionClassifier, load_classifier
from worker.batch import BatchProcessor
from worker.detectors.yunet import YuNetDetector
from worker.keyframes import iou, match

MATCH_IOU = 0.5


def frame_entries(video: Path) -> list[tuple[bytes, Fields]]:
    capture = cv2.VideoCapture(str(video))
    fps = capture.get(cv2.CAP_PROP_FPS)
    entries: list[tuple[bytes, Fields]] = []
    index = 0
    while True:
        ok, image = capture.read()
        if not ok:
            return entries
        pixels, size = encode_i420(np.asarray(image, dtype=np.uint8))
        meta = FrameMeta(
            video_id=video.stem, frame_index=index, t_ms=round(index * 1000 / fps), captured_at=0.0,
            source_kind="file", i420=size,
        )  # fmt: skip
        entries.append((f"{index}-0".encode(), encode_frame(Frame(meta=meta, payload=pixels))))
        index += 1


def analysed(processor: BatchProcessor, entries: list[tuple[bytes, Fields]]) -> tuple[list[Result], float]:
    """Results in frame order, and the processor's seconds."""
    results: list[Result] = []
    started = time.process_time()
    for start in range(0, len(entries), keys.WORKER_BATCH_FRAMES):
        outcomes = processor.process(entries[start : start + keys.WORKER_BATCH_FRAMES])
        results += [outcome.result for outcome in outcomes if outcome.result is not None]
    return sorted(results, key=lambda result: result.frame_index), time.process_time() - started


def matched(first: Result, second: Result) -> list[tuple[int, int, float]]:
    pairs = match([face.box for face in first.faces], [face.box for face in second.faces], MATCH_IOU)
    return [(i, j, iou(first.faces[i].box, second.faces[j].box)) for i, j in pairs.items()]


def agreement(pairs: list[tuple[Result, Result]]) -> tuple[int, int, int, list[float], float]:
    """Faces matched, missed (in the first only), extra (in the second only), IoUs, emotion agreement."""
    found = missed = extra = agree = 0
    overlaps: list[float] = []
    for first, second in pairs:
        kept = matched(first, second)
        found += len(kept)
        missed += len(first.faces) - len(kept)
        extra += len(second.faces) - len(kept)
        overlaps += [overlap for _, _, overlap in kept]
        agree += sum(first.faces[i].emotion == second.faces[j].emotion for i, j, _ in kept)
    return found, missed, extra, overlaps, agree / max(found, 1)


def report(name: str, video: Path, detector: YuNetDetector, classifier: EmotionClassifier, interval_ms: int) -> None:
    entries = frame_entries(video)
    every, every_s = analysed(BatchProcessor(detector, classifier, "bench"), entries)
    some, some_s = analysed(BatchProcessor(detector, classifier, "bench", interval_ms), entries)
    between = [(full, mixed) for full, mixed in zip(every, some, strict=True) if "interpolate" in mixed.timings_ms]
    found, missed, extra, overlaps, agree = agreement(between)
    _, _, _, _, consecutive = agreement(list(itertools.pairwise(every)))
    detected = len(some) - len(between)
    percentile: npt.NDArray[np.float64] = np.percentile(overlaps, [50, 5]) if overlaps else np.zeros(2)
    print(f"\n{name}: {len(entries)} frames, every frame detected / interval {interval_ms} ms")
    print(f"  frames detected {len(every)} / {detected}")
    print(f"  worker ms a frame {every_s * 1000 / len(every):.2f} / {some_s * 1000 / len(some):.2f}")
    print(f"  faces found {sum(len(r.faces) for r in every)} / {sum(len(r.faces) for r in some)}")
    print(
        f"  on the {len(between)} interpolated frames, against detection: {found} faces matched, {missed} missed, "
        f"{extra} extra; IoU median {percentile[0]:.3f}, 5th percentile {percentile[1]:.3f}; emotion agrees "
        f"{agree:.1%} (one face on consecutive detected frames: {consecutive:.1%})"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--videos", type=Path, required=True)
    parser.add_argument("--yunet", type=Path, required=True)
    parser.add_argument("--interval-ms", type=int, default=keys.DETECT_INTERVAL_MS)
    args = parser.parse_args()
    print(cpu_description())
    cv2.setNumThreads(1)
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        detector = YuNetDetector(args.yunet, None, keys.DETECT_MIN_FACE_PX, cache=work)
        classifier = load_classifier(threads=1)
        clips = [
            ("fer_woman2.mp4", args.videos / "fer_woman2.mp4"),
            ("short_hamilton_clip.mp4", args.videos / "short_hamilton_clip.mp4"),
            ("hamilton tiled 3x3 (1920x1080)", tiled_1080p(args.videos / "short_hamilton_clip.mp4", work / "t.mp4")),
        ]
        for name, video in clips:
            report(name, video, detector, classifier, args.interval_ms)


if __name__ == "__main__":
    main()
