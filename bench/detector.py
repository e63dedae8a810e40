"""YuNet per frame, one thread: OpenCV's FaceDetectorYN against the worker's ONNX Runtime detector.

    python bench/detector.py --videos ../shared/data/videos --yunet ../shared/models/yunet/yunet_s_640_640.onnx

Both run the same 2023mar model file on the same frames, shrunk as the worker shrinks them (the
smallest wanted face, 24 px, at YuNet's smallest, 15 px; at most 640 px a side). "OpenCV" is the
worker's path before ONNX Runtime: area resampling, then ``FaceDetectorYN.detect``. "emostream" is
``worker.detectors.yunet.YuNetDetector`` (halving, bilinear, ONNX Runtime, our decoding and NMS).
Also the 1080p clip ``bench/throughput.py`` makes (the stage clip tiled 3x3). Prints the CPU, ms
per frame and faces found; the machine is shared, so compare the ratios of one run.

Then whether detecting in batches pays: the detector's network alone (ONNX Runtime, one thread)
on the frames one worker batch detects at 25 fps (``keys.WORKER_BATCH_FRAMES`` frames,
``worker.keyframes.plan``), one call a frame against all of them in one call; the outputs are
checked equal.
"""

import argparse
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np
import numpy.typing as npt
import onnxruntime as ort
from common import cpu_description

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from emostream import keys
from worker.detectors.base import clip_box
from worker.detectors.yunet import CANDIDATES_TOP_K, NMS_THRESHOLD, SCORE_THRESHOLD, InputBlob, YuNetDetector
from worker.keyframes import FrameTime, plan

Frame = npt.NDArray[np.uint8]


def read_frames(video: Path) -> list[Frame]:
    capture, frames = cv2.VideoCapture(str(video)), list[Frame]()
    while True:
        ok, frame = capture.read()
        if not ok:
            return frames
        frames.append(np.asarray(frame, dtype=np.uint8))


def opencv_path(model: Path, detector: YuNetDetector) -> Callable[[Frame], int]:
    """The worker's detector before ONNX Runtime: INTER_AREA to the same size, then FaceDetectorYN."""
    net = cv2.FaceDetectorYN.create(str(model), "", (320, 320), SCORE_THRESHOLD, NMS_THRESHOLD, CANDIDATES_TOP_K)

    def detect(frame: Frame) -> int:
        height, width = frame.shape[:2]
        side = detector.side_for(height, width)
        scale = min(1.0, side / max(height, width))
        small = cv2.resize(frame, (round(width * scale), round(height * scale)), interpolation=cv2.INTER_AREA)
        net.setInputSize((small.shape[1], small.shape[0]))
        _, rows = net.detect(small)
        boxes = [clip_box(tuple(row[:4]), 1 / scale, width, height) for row in rows] if rows is not None else []
        return sum(box is not None for box in boxes)

    return detect


def timed(detect: Callable[[Frame], int], frames: list[Frame]) -> tuple[float, int]:
    detect(frames[0])  # first call allocates
    started = time.perf_counter()
    faces = sum(detect(frame) for frame in frames)
    return (time.perf_counter() - started) / len(frames) * 1000, faces


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--videos", type=Path, required=True, help="folder with the two shared clips")
    parser.add_argument("--yunet", type=Path, required=True, help="face_detection_yunet_2023mar.onnx")
    args = parser.parse_args()
    from throughput import tiled_1080p

    cv2.setNumThreads(1)
    cache = Path(tempfile.mkdtemp(prefix="emo-detector-"))
    detector = YuNetDetector(args.yunet, 640, 24, threads=1, cache=cache)
    print(f"CPU: {cpu_description()}")
    print("| clip | OpenCV FaceDetectorYN | emostream (ONNX Runtime) | ratio |")
    print("| --- | --- | --- | --- |")
    clips = [args.videos / "fer_woman2.mp4", args.videos / "short_hamilton_clip.mp4"]
    clips.append(tiled_1080p(clips[1], cache / "tiled_1080p.mp4"))
    for clip in clips:
        frames = read_frames(clip)
        before, before_faces = timed(opencv_path(args.yunet, detector), frames)
        after, after_faces = timed(lambda frame: len(detector.detect(frame)), frames)
        print(
            f"| {clip.name} ({frames[0].shape[1]}x{frames[0].shape[0]}) | {before:.2f} ms ({before_faces} faces) "
            f"| {after:.2f} ms ({after_faces} faces) | {before / after:.1f}x |",
            flush=True,
        )
    detected = frames_detected_per_batch()
    print(f"\nThe network alone, ms a frame: one call a frame, or the {detected} frames a worker batch detects in one")
    print("| clip | network input | one call a frame | one call for the batch | batch / one a frame |")
    print("| --- | --- | --- | --- | --- |")
    for clip in clips:
        blobs = network_inputs(read_frames(clip)[:detected], detector)
        single, batched = batched_against_single(detector.network, blobs)
        print(
            f"| {clip.name} | {blobs[0].shape[3]}x{blobs[0].shape[2]} | {single:.2f} ms | {batched:.2f} ms "
            f"| {batched / single:.2f} |",
            flush=True,
        )


def frames_detected_per_batch() -> int:
    """How many of a worker batch's frames are detected at 25 fps (the rest are interpolated)."""
    times = [FrameTime("clip", index, index * 40) for index in range(keys.WORKER_BATCH_FRAMES)]
    return sum(between is None for between in plan(times, keys.DETECT_INTERVAL_MS))


def network_inputs(frames: list[Frame], detector: YuNetDetector) -> list[npt.NDArray[np.float32]]:
    """Each frame as the worker gives it to the network: shrunk as it shrinks it, NCHW, padded to a multiple of 32."""
    return [InputBlob().fill(detector.shrink(frame)[0]) for frame in frames]


def batched_against_single(
    network: ort.InferenceSession, blobs: list[npt.NDArray[np.float32]], rounds: int = 7
) -> tuple[float, float]:
    """Median ms a frame over ``rounds``, alternating: one call a frame, then one call for all."""
    name, batch = network.get_inputs()[0].name, np.concatenate(blobs)
    single = [network.run(None, {name: blob}) for blob in blobs]
    together = network.run(None, {name: batch})
    for k, output in enumerate(together):  # the network flattens its batch into its outputs' rows
        if not np.array_equal(np.concatenate([s[k].reshape(-1) for s in single]), output.reshape(-1)):
            raise SystemExit("the batched outputs differ from the single ones")
    calls: dict[str, Callable[[], object]] = {
        "single": lambda: [network.run(None, {name: blob}) for blob in blobs],
        "batched": lambda: network.run(None, {name: batch}),
    }
    times: dict[str, list[float]] = {way: [] for way in calls}
    for _ in range(rounds):
        for way, call in calls.items():
            started = time.perf_counter()
            call()
            times[way].append((time.perf_counter() - started) / len(blobs) * 1000)
    return float(np.median(times["single"])), float(np.median(times["batched"]))


if __name__ == "__main__":
    main()
