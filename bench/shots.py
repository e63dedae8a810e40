"""Shot cuts: found against cuts known, what they change in people, and what finding them costs.

- **Found**: the stage clip's three real cuts (labelled by eye: frames 20, 82 and 211), and an
  edited clip made here from the two test videos, whose cuts are where its shots were joined.
  Its shots are chosen to be hard: a cut from the woman of ``fer_woman2.mp4`` to the stage
  clip's performer moved so that his face sits where hers was, and back; a shot of the crowd; and
  a last shot of her that is uncut but has what fools cut finders: a fast pan, someone passing
  close in front of the lens, a zoom, camera shake and a photo flash. Also a 0.5 s dissolve and a
  1 s fade through black; a 0.5 s dissolve from her to the performer moved so that his face sits
  where hers was; and, with no cut at all, her whole clip shaken throughout, her clip as it is, and
  a still white disc on black from an old encoder.
- **People**: ``emostream analyze`` (YuNet) on the stage clip and the edited clips, with cut finding
  off (``EMO_PRODUCER_FIND_CUTS=false``, as before) and on: the people found, and how many run
  across a true cut (two people as one).
- **Cost**: the cut finder's time a frame, at 640x360 and 1920x1080, against decoding the frame.

    python bench/shots.py --videos ../shared/data/videos --yunet ../shared/models/yunet/yunet_s_640_640.onnx
"""

import tempfile
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any

import av
import cv2
import numpy as np
import numpy.typing as npt
from common import analysed_timeline, clip_bench_arguments, cpu_description, frames_of, write_video

from producer.shots import CutFinder
from worker.detectors.yunet import YuNetDetector

Image = npt.NDArray[np.uint8]
WIDTH, HEIGHT = 640, 360
RATE = Fraction(30000, 1001)
STAGE_CUTS = (20, 82, 211)  # the stage clip's first frames of a new shot, labelled by eye


@dataclass(frozen=True)
class Clip:
    name: str
    path: Path
    cuts: tuple[int, ...]  # first frame of each shot after the first
    slack: int = 1  # frames a cut found may be off by (a gradual transition: its length)
    transitions: tuple[tuple[int, int], ...] = ()  # gradual ones: (first frame, first frame after it)

    def spans(self) -> list[tuple[int, int]]:
        """Where one shot gives way to the next: a cut's frame, or a transition's frames."""
        return list(self.transitions) or [(cut, cut) for cut in self.cuts]


def sized(frames: Sequence[Image]) -> list[Image]:
    return [np.asarray(cv2.resize(f, (WIDTH, HEIGHT), interpolation=cv2.INTER_AREA), dtype=np.uint8) for f in frames]


def face_centre(frame: Image, detector: YuNetDetector) -> tuple[float, float]:
    faces = sorted(detector.detect(frame), key=lambda d: d.box[2] * d.box[3])
    if not faces:
        raise SystemExit("no face where the edited clip needs one")
    x, y, w, h = faces[-1].box
    return x + w / 2, y + h / 2


def moved(frames: Sequence[Image], dx: float, dy: float) -> list[Image]:
    shift = np.array([[1, 0, dx], [0, 1, dy]], dtype=np.float32)
    return [
        np.asarray(cv2.warpAffine(f, shift, (WIDTH, HEIGHT), borderMode=cv2.BORDER_REPLICATE), dtype=np.uint8)
        for f in frames
    ]


def camera_work(frames: Sequence[Image], seed: int, pan_zoom: bool) -> list[Image]:
    """What an uncut shot may do: shake (a random walk of the view, as a hand-held camera), and
    with ``pan_zoom`` a fast pan (a fifth of the width in 0.5 s), someone passing close in front
    of the camera (a dark shape 40 % of the width, across in 0.4 s), a zoom to 1.5x in 0.7 s and a
    photo flash (two frames 1.8x as bright)."""
    rng = np.random.default_rng(seed)
    out, x, y = [], 0.0, 0.0
    n = len(frames)
    for i, frame in enumerate(frames):
        x, y = 0.9 * x + rng.normal(0, 3), 0.9 * y + rng.normal(0, 3)
        zoom, pan = 1.1, 0.0
        if pan_zoom:
            pan = WIDTH * 0.2 * float(np.clip((i - n * 0.2) / 15, 0, 1))
            zoom = 1.1 + 0.4 * float(np.clip((i - n * 0.5) / 21, 0, 1))
        centre = (WIDTH / 2 + x - pan + WIDTH * 0.1, HEIGHT / 2 + y)
        view = cv2.getRectSubPix(frame, (round(WIDTH / zoom), round(HEIGHT / zoom)), centre)
        image = np.asarray(cv2.resize(view, (WIDTH, HEIGHT), interpolation=cv2.INTER_LINEAR), dtype=np.uint8)
        if pan_zoom and i in (round(n * 0.85), round(n * 0.85) + 1):
            image = np.asarray(cv2.convertScaleAbs(image, alpha=1.8, beta=30), dtype=np.uint8)
        passing = (i - round(n * 0.38)) / 12  # 0 to 1 while someone passes
        if pan_zoom and 0 <= passing <= 1:
            left = round(-0.4 * WIDTH + passing * 1.4 * WIDTH)
            image[:, max(0, left) : max(0, left + round(0.4 * WIDTH))] //= 5
        out.append(image)
    return out


def edited_clip(folder: Path, woman: list[Image], stage: list[Image], detector: YuNetDetector) -> Clip:
    """Shots joined at known frames: her, the performer where her face was, her, the crowd, her with camera work."""
    her = woman[:75]
    performer = stage[84:159]
    dx, dy = np.subtract(face_centre(her[-1], detector), face_centre(performer[0], detector))
    shots = [her, moved(performer, dx, dy), woman[150:225], stage[213:273], camera_work(woman[300:420], 1, True)]
    cuts: list[int] = []
    frames: list[Image] = []
    for shot in shots:
        if frames:
            cuts.append(len(frames))
        frames.extend(shot)
    path = write_video(folder / "edited.mp4", frames, RATE, "libx264", {"crf": "20", "preset": "veryfast"})
    return Clip("edited (5 shots)", path, tuple(cuts))


def dissolving(first: Sequence[Image], second: Sequence[Image]) -> list[Image]:
    """The frames of a dissolve from ``first`` to ``second`` (as many of each): mixes of the two,
    the second's share rising evenly."""
    steps = len(first)
    return [
        np.asarray(cv2.addWeighted(a, 1 - (i + 1) / (steps + 1), b, (i + 1) / (steps + 1), 0), dtype=np.uint8)
        for i, (a, b) in enumerate(zip(first, second, strict=True))
    ]


def transitions_clip(folder: Path, woman: list[Image], stage: list[Image]) -> Clip:
    """Her, a dissolve to the crowd over 0.5 s, the crowd, a fade through black over 1 s back to her:
    each counted found if a cut is placed within the transition."""
    her, crowd = woman[:90], stage[228:273]  # the crowd's shot starts at 211
    mix = dissolving(woman[90:105], stage[213:228])
    fade = [np.asarray(crowd[-1] * (1 - (i + 1) / 15), dtype=np.uint8) for i in range(15)]
    fade += [np.asarray(woman[120 + i] * ((i + 1) / 15), dtype=np.uint8) for i in range(15)]
    frames = her + mix + crowd + fade + woman[135:225]
    path = write_video(folder / "transitions.mp4", frames, RATE, "libx264", {"crf": "20", "preset": "veryfast"})
    name = "a dissolve (0.5 s) and a fade through black (1 s)"
    return Clip(name, path, (90, 150), slack=30, transitions=((90, 105), (150, 180)))


def dissolve_clip(folder: Path, woman: list[Image], stage: list[Image], detector: YuNetDetector) -> Clip:
    """Her, dissolving over 0.5 s into the performer moved so that his face sits where hers was: as
    the edited clip's first cut, but gradual, so a tracker that is not told carries her on to him."""
    her = woman[:90]
    performer = stage[84:159]
    dx, dy = np.subtract(face_centre(her[-1], detector), face_centre(performer[0], detector))
    him = moved(performer, dx, dy)
    mix = dissolving(her[75:90], him[:15])
    frames = her[:75] + mix + him[15:]
    path = write_video(folder / "dissolve.mp4", frames, RATE, "libx264", {"crf": "20", "preset": "veryfast"})
    return Clip("a dissolve (0.5 s) from her to him where her face was", path, (75,), slack=15, transitions=((75, 90),))


def still_disc(folder: Path) -> Clip:
    """A still white disc on black, 160x90 in MPEG-4 Part 2 at its default bit rate (an old, cheap
    encoder): no cut, but its keyframes change the compression noise in the black, where hue and
    saturation swing (at 320x180 and in letterboxed 640x360 clips they did not)."""
    image = np.zeros((90, 160, 3), np.uint8)
    cv2.circle(image, (80, 45), 22, (255, 255, 255), -1)
    path = write_video(folder / "disc.mp4", [image] * 90, RATE, "mpeg4", {})
    return Clip("a still white disc on black (160x90, MPEG-4 Part 2)", path, ())


def found_cuts(video: Path, checked: bool = True) -> tuple[list[int], float, float]:
    """The cut finder's cuts, and its ms a frame against decoding's, as the producer runs it
    (``checked`` False: the cuts PySceneDetect names)."""
    with av.open(str(video)) as container:
        stream = container.streams.video[0]
        finder = CutFinder(float(stream.average_rate or 30), checked=checked)
        decode_s = find_s = 0.0
        frames = container.decode(stream)
        index = 0
        while True:
            started = time.perf_counter()
            frame = next(frames, None)
            decoded = time.perf_counter()
            if frame is None:
                break
            finder.observe(index, (frame.time or 0) * 1000, frame)
            decode_s += decoded - started
            find_s += time.perf_counter() - decoded
            index += 1
        finder.finish()
    return [cut.frame_index for cut in finder.cuts], 1000 * find_s / index, 1000 * decode_s / index


def matched(found: Sequence[int], truth: Sequence[int], slack: int = 1) -> tuple[int, int, int]:
    """(cuts found within ``slack`` frames of a true one, false cuts, true cuts missed)."""
    hits = sum(1 for t in truth if any(abs(f - t) <= slack for f in found))
    false = sum(1 for f in found if not any(abs(f - t) <= slack for t in truth))
    return hits, false, len(truth) - hits


def people_across_cuts(timeline: dict[str, Any], spans: Sequence[tuple[int, int]]) -> tuple[int, int]:
    """(people, people seen before and after a true cut or transition)."""
    frames_of_track: dict[int, list[int]] = {}
    for frame in timeline["frames"]:
        for face in frame["faces"]:
            if face["track"] is not None:
                frames_of_track.setdefault(face["track"], []).append(frame["index"])
    spanning = sum(
        1 for seen in frames_of_track.values() if any(min(seen) < start and max(seen) >= end for start, end in spans)
    )
    return len(frames_of_track), spanning


def upscaled(video: Path, side: tuple[int, int], limit: int) -> Iterator["av.VideoFrame"]:
    for index, image in enumerate(frames_of(video)):
        if index >= limit:
            return
        big = np.asarray(cv2.resize(image, side, interpolation=cv2.INTER_CUBIC), dtype=np.uint8)
        yield av.VideoFrame.from_ndarray(big, format="bgr24").reformat(format="yuv420p")


def large_frames(video: Path, side: tuple[int, int]) -> tuple[float, list[int]]:
    """ms a frame of this size (as a decoder gives it: yuv420p) costs the cut finder, and the cuts
    it finds in the video enlarged to it (the stage clip's: frames 20, 82 and 211)."""
    finder, seconds, count = CutFinder(float(RATE)), 0.0, 0
    for index, frame in enumerate(upscaled(video, side, 240)):  # one at a time: 240 4K frames are 3 GB
        started = time.perf_counter()
        finder.observe(index, index * 33.3, frame)
        seconds += time.perf_counter() - started
        count += 1
    finder.finish()
    return 1000 * seconds / count, [cut.frame_index for cut in finder.cuts]


def main() -> None:
    args = clip_bench_arguments(__doc__.splitlines()[0], "the clips and outputs")
    print(cpu_description())
    folder = args.keep or Path(tempfile.mkdtemp(prefix="emo-shots-"))
    folder.mkdir(parents=True, exist_ok=True)
    woman_video, stage_video = args.videos / "fer_woman2.mp4", args.videos / "short_hamilton_clip.mp4"
    woman, stage = sized(list(frames_of(woman_video))), sized(list(frames_of(stage_video)))
    detector = YuNetDetector(args.yunet, 640)
    shaken = write_video(
        folder / "shaken.mp4", camera_work(woman, 2, False), RATE, "libx264", {"crf": "20", "preset": "veryfast"}
    )
    clips = [
        Clip("stage clip", stage_video, STAGE_CUTS),
        edited_clip(folder, woman, stage, detector),
        transitions_clip(folder, woman, stage),
        dissolve_clip(folder, woman, stage, detector),
        Clip("fer_woman2, shaken throughout", shaken, ()),
        still_disc(folder),
        Clip("fer_woman2", woman_video, ()),
    ]
    print(
        "\n| clip | frames | true cuts | found (within a frame, or the transition) | false | missed "
        "| PySceneDetect alone: found, false | finder ms/frame | decode ms/frame |"
    )
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    for clip in clips:
        found, find_ms, decode_ms = found_cuts(clip.path)
        hits, false, missed = matched(found, clip.cuts, clip.slack)
        alone_hits, alone_false, _ = matched(found_cuts(clip.path, checked=False)[0], clip.cuts, clip.slack)
        frames = sum(1 for _ in frames_of(clip.path))
        print(
            f"| {clip.name} | {frames} | {len(clip.cuts)} | {hits} | {false} | {missed} | {alone_hits}, {alone_false} "
            f"| {find_ms:.2f} | {decode_ms:.2f} |"
        )
        if false or missed:
            print(f"|  found at {found}, true {list(clip.cuts)} | | | | | | | | |")
    for side in ((1920, 1080), (3840, 2160)):
        ms, cuts = large_frames(stage_video, side)
        size = f"{side[0]}x{side[1]}"
        print(f"\n{size} (the stage clip's first 240 frames enlarged): {ms:.2f} ms a frame, cuts at {cuts}")
    print("\n| clip | cut finding | people | people across a true cut or transition |")
    print("| --- | --- | --- | --- |")
    for clip in clips[:4]:
        for find_cuts in (False, True):
            out = folder / f"out-{'cuts' if find_cuts else 'nocuts'}"
            timeline = analysed_timeline(clip.path, out, args.yunet, {"EMO_PRODUCER_FIND_CUTS": str(find_cuts).lower()})
            people, spanning = people_across_cuts(timeline, clip.spans())
            print(f"| {clip.name} | {'on' if find_cuts else 'off'} | {people} | {spanning} |")


if __name__ == "__main__":
    main()
