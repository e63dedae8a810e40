"""Shot cuts: where an edited video cuts from one camera or scene to another.

Tracking sees boxes only, so across a cut it carried a person on to whoever's face came to sit
where theirs had been: on the stage clip, one track ran from an audience member to the
performer and back to the audience. The producer, the one process that sees every frame in
order, finds the cuts; the aggregator starts every track afresh at each (``aggregator.tracking``).

PySceneDetect's ``ContentDetector`` (the mean change of hue, saturation and brightness between
consecutive frames) on **every decoded frame**, not the sampled ones: between frames 33 ms apart
only a cut changes the whole picture, while between samples 100 ms or more apart a pan or a
performer crossing the view does too (on the stage clip shrunk to 320 px, the best non-cut
scored 20 of 255 on every frame, 31 at 10 fps and 47 at 1 fps, against 48 to 60 for its
cuts). Frames are compared 64 px wide, shrunk by the decoder's scaler straight from its own
pixel format (at 160 px the scores were the same within 3 points, at twice the cost); frames
wider than 1024 px in two steps.

Two checks on each cut it names, by the plain change of the pictures' pixels (``picture_change``):
- The change must be real. Hue and saturation are unstable where a picture is nearly black, and
  compression noise there swings them: a static white disc on black was "cut" at a keyframe where
  hue and saturation moved by 93 and 186 of 255 and the pixels by under 1. Letterbox bars and
  dark stages have such pixels. A cut moved the pixels by 27 to 73 on average in the benchmark's
  clips (24 on an HLG copy of the stage clip); it must move them by ``CUT_MIN_PICTURE_CHANGE``.
- The change must stay: the frame ``CUT_SETTLE_S`` after the cut must still differ from the one
  before it by half as much as at the cut. A photo flash changes the whole picture and then
  gives it back: PySceneDetect alone took a two-frame flash for a cut (``bench/shots.py``).

A fade through black changes consecutive frames too little for that score. PySceneDetect's
``ThresholdDetector`` finds it: the picture's mean falls under ``CUT_FADE_DARK`` for
``CUT_FADE_MIN_DARK_FRAMES`` or more and rises again; the cut goes in the middle of the dark frames,
unchecked (nothing before them can be compared). Not where a video opens from black: there is no shot
before.

A dissolve changes consecutive frames too little too, and PySceneDetect has no detector for it.
Its frames are mixes of the shot before and the shot after, so it is looked for as such
(``is_dissolve``) over stretches of each of ``DISSOLVE_LENGTHS_S``, one ending every quarter of that
length: the two ends differ as a cut's do; the frames at a quarter, half and three quarters of the
way are mixes of the ends, by least squares, with the share of the second rising and about half in
the middle, and little of them left unexplained (a pan's or a zoom's middle is not a mix of its
ends); the ends are not one picture lit differently (a fade in or out is a mix too); and no frame
of the stretch is of nearly one colour (``faded``: across a fade through black or white, each frame
mixes what is left of one shot with that colour). The cut goes at the middle of the stretch,
unchecked; stretches found later that overlap it are the same dissolve (a long one holds several
shorter ones, 0.5 s and more apart, which would cut it twice). Light that changes from one look of
a scene to an unrelated one (a stage's) mixes pictures as a dissolve does, so it would be taken for
one (no test clip has such light).
"""

import logging
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Final, cast

import cv2
import numpy as np
import numpy.typing as npt
from scenedetect.common import FrameTimecode
from scenedetect.detectors import ContentDetector, ThresholdDetector

from emostream import keys

if TYPE_CHECKING:
    import av

log = logging.getLogger(__name__)

Image = npt.NDArray[np.uint8]
Grey = npt.NDArray[np.float32]  # a thumbnail's mean of its three channels
THIRDS: Final = np.full((1, 3), 1 / 3, np.float32)
# The detector names a cut up to 0.5 s late, and it settles 0.5 s later; dissolves are looked for over
# up to 4 s (at over 64 fps, the longest stretch is not tested).
RECENT_FRAMES_KEPT: Final = 256
# A cut stays when the picture after it still differs from the one before by half as much as at the
# cut: 0.5 s on, a flash's picture differed by 0.31 of its change (24 against 78, with camera shake),
# the benchmark's cuts by 0.87 to 1.07 of theirs.
KEPT_SHARE_OF_CHANGE: Final = 0.5
TWO_STEPS_ABOVE_PX: Final = 1024  # wider frames are shrunk in two steps (cheaper from 1280 px up)


@dataclass(frozen=True, slots=True)
class _Seen:
    """A frame as the finder keeps it while it may still be compared."""

    t_ms: int
    thumbnail: Image
    grey: Grey  # for dissolves


@dataclass(frozen=True)
class Cut:
    """A new shot begins at this frame (its index among the decoded frames, and its time)."""

    frame_index: int
    t_ms: int


class CutFinder:
    """Watches each decoded frame of one video, in order, then ``finish()``; ``cuts`` are the
    first frames of the shots after the first."""

    def __init__(self, fps: float, *, checked: bool = True) -> None:
        """``checked`` False: PySceneDetect's cuts as it names them (for the benchmark and tests)."""
        from av.video.reformatter import VideoReformatter

        self._fps = fps if fps > 0 else 30.0  # frame numbers only: the shortest shot is timed in seconds
        self._settle_frames = round(keys.CUT_SETTLE_S * self._fps)
        self._checked = checked
        self._detector = ContentDetector(threshold=keys.CUT_SCORE, min_scene_len=keys.CUT_MIN_SHOT_S)
        self._fades = ThresholdDetector(
            threshold=keys.CUT_FADE_DARK, min_scene_len=keys.CUT_MIN_SHOT_S, fade_bias=0.0,
            min_out_length=keys.CUT_FADE_MIN_DARK_FRAMES,
        )  # fmt: skip
        self._lit = False  # a frame brighter than a fade's black seen: a video that opens dark has no cut
        self._shrink = VideoReformatter()
        self._recent: dict[int, _Seen] = {}  # frame index -> what was seen of it
        self._last_faded = -1  # the last frame of nearly one colour (a fade's): no dissolve spans it
        self._dissolving_until = -1  # the end of the last stretch found to be a dissolve
        self._candidates: list[int] = []  # cuts the detector named, waiting to be seen to stay
        self._gradual: set[int] = set()  # candidates in a fade through black or a dissolve: taken unchecked
        # In frames; under 4, five evenly spaced pictures would repeat one (short lengths at a low rate)
        self._dissolve_lengths = sorted({round(s * self._fps) for s in keys.DISSOLVE_LENGTHS_S} - set(range(4)))
        self._newest = -1
        self.cuts: list[Cut] = []
        self.failed: str | None = None  # why cuts stopped being looked for (the frames still go)

    def observe(self, frame_index: int, t_ms: float, frame: "av.VideoFrame") -> None:
        if self.failed is not None:
            return
        try:
            small = self._thumbnail(frame)
            timecode = FrameTimecode(frame_index, fps=self._fps)
            found = self._detector.process_frame(timecode, small)
            faded_in = [cut.frame_num for cut in self._fades.process_frame(timecode, small)] if self._lit else []
        except Exception as exc:  # an odd pixel format or size: the video is still analysed, without cuts
            self.failed = f"{type(exc).__name__}: {exc}"
            log.warning("shot cuts are not looked for in the rest of this video: %s", self.failed)
            return
        seen = self._recent[frame_index] = _Seen(round(t_ms), small, grey(small))
        if faded(seen.grey):
            self._last_faded = frame_index
        self._newest = frame_index
        self._lit = self._lit or float(seen.grey.mean()) >= keys.CUT_FADE_DARK
        self._candidates.extend(cut.frame_num for cut in found)  # maybe an earlier frame
        dissolved = self._dissolves_ending(frame_index) if self._checked else []
        self._candidates.extend(faded_in + dissolved)
        self._gradual.update(faded_in + dissolved)
        self._settle(final=False)
        self._recent.pop(frame_index - RECENT_FRAMES_KEPT, None)

    def finish(self) -> None:
        """The video has ended: a cut in its last half second is judged by its last frame."""
        if self.failed is None:
            self._settle(final=True)

    def _settle(self, final: bool) -> None:
        for cut in sorted(self._candidates):
            if cut + self._settle_frames > self._newest and not final:
                continue
            self._candidates.remove(cut)
            at = self._recent.get(cut)
            if at is not None and self._is_cut(cut) and (not self.cuts or cut >= self._next_shot_from()):
                self.cuts.append(Cut(cut, at.t_ms))
            self._gradual.discard(cut)

    def _is_cut(self, cut: int) -> bool:
        """A fade through black or a dissolve is one; a cut the content detector names must be real and stay."""
        if cut in self._gradual or not self._checked:
            return True
        before, at = self._recent.get(cut - 1), self._recent.get(cut)
        after = self._recent.get(min(cut + self._settle_frames, self._newest))
        if before is None or at is None or after is None:
            return False  # not seen (cannot happen in order); a cut not shown to be one is not one
        change = picture_change(before.thumbnail, at.thumbnail)
        real = change >= keys.CUT_MIN_PICTURE_CHANGE
        return real and picture_change(before.thumbnail, after.thumbnail) >= change * KEPT_SHARE_OF_CHANGE

    def _dissolves_ending(self, newest: int) -> list[int]:
        """The middles of the stretches of each length ending at ``newest`` that are dissolves, but of
        those that overlap the last one found: a long dissolve holds several short ones."""
        found = []
        for length in self._dissolve_lengths:
            # Every quarter of its length (so windows' middles fall within a dissolve they span, and
            # a frame costs a test or so); not across a fade through black or another colour, which
            # mixes pictures too (a fade to white: each with white; across it, what is left of each).
            if newest % max(1, length // 4) or self._last_faded >= newest - length:
                continue
            spaced = [self._recent.get(newest - length + round(length * q)) for q in (0.0, 0.25, 0.5, 0.75, 1.0)]
            pictures = [seen.grey for seen in spaced if seen is not None]
            if len(pictures) == len(spaced) and is_dissolve(pictures):  # not at the start, nor over frames not seen
                if newest - length > self._dissolving_until:  # a new dissolve, not the last one going on
                    found.append(newest - length + length // 2)
                self._dissolving_until = newest
        return found

    def _next_shot_from(self) -> int:
        """The first frame at which another shot may begin: both detectors may name one transition."""
        return self.cuts[-1].frame_index + max(1, round(keys.CUT_MIN_SHOT_S * self._fps))

    def _thumbnail(self, frame: "av.VideoFrame") -> Image:
        width = keys.CUT_THUMB_WIDTH_PX
        height = _even(frame.height * width / max(frame.width, 1))
        if frame.width <= TWO_STEPS_ABOVE_PX:
            small = self._shrink.reformat(frame, width=width, height=height, format="bgr24", interpolation="AREA")
            return cast("Image", small.to_ndarray())
        # The scaler's averaging reads every pixel (1.7 ms a 4K frame): a fast pass to 4x the size
        # first, then the average (0.5 ms), scores alike (bench/shots.py).
        mid_width = 4 * width
        mid = self._shrink.reformat(
            frame, width=mid_width, height=_even(frame.height * mid_width / frame.width),
            format="bgr24", interpolation="FAST_BILINEAR",
        )  # fmt: skip
        return np.asarray(cv2.resize(mid.to_ndarray(), (width, height), interpolation=cv2.INTER_AREA), dtype=np.uint8)


def _even(side: float) -> int:
    return max(2, round(side / 2) * 2)


def picture_change(a: Image | Grey, b: Image | Grey) -> float:
    """The mean absolute change of two pictures' pixels (0 to 255), BGR or grey: no colour space
    whose hue and saturation are undefined at black. OpenCV's norm: a tenth of numpy's time."""
    return float(cv2.norm(a, b, cv2.NORM_L1)) / a.size


def grey(picture: Image) -> Grey:
    """The mean of a BGR picture's three channels (``cv2.transform``: 3 µs a thumbnail, numpy's mean 66)."""
    return np.asarray(cv2.transform(picture.astype(np.float32), THIRDS), dtype=np.float32)


def faded(picture: Grey) -> bool:
    """Of nearly one colour all over, black, white or another: a fade's darkest or palest frames."""
    _, deviation = cv2.meanStdDev(picture)
    return float(deviation[0, 0]) < keys.CUT_FLAT_STD


def is_dissolve(pictures: Sequence[Grey]) -> bool:
    """Whether five grey pictures evenly spaced over a stretch of video (its first, at a quarter, half
    and three quarters of the way, and its last) are a dissolve from the first to the last (the
    module's docstring): a pan, a zoom, someone passing or a flash is not, nor a fade in or out. A fade
    through a colour is the finder's to leave out: it tests no stretch with a ``faded`` frame. Cheapest
    tests first (OpenCV's norms: a tenth of numpy's time on thumbnails), as most stretches fail the
    first or second."""
    first, quarter, middle, three_quarters, last = pictures
    change = picture_change(first, last)
    if change < keys.CUT_MIN_PICTURE_CHANGE:
        return False
    towards = (last - first).ravel()
    square = float(np.dot(towards, towards))
    shares = []
    for between in (middle, quarter, three_quarters):
        moved = (between - first).ravel()
        share = float(np.dot(moved, towards)) / square  # least squares: between ~ first + share * (last - first)
        if cv2.norm(moved, share * towards, cv2.NORM_L1) / first.size > keys.DISSOLVE_MAX_UNEXPLAINED * change:
            return False
        shares.append(share)
    middle_share, quarter_share, three_quarters_share = shares
    if not (quarter_share < middle_share < three_quarters_share and 0.25 <= middle_share <= 0.75):
        return False
    return float(np.corrcoef(first.ravel(), last.ravel())[0, 1]) < keys.DISSOLVE_MAX_CORRELATION


class CameraCuts:
    """A live source's cut finder. A cut is known half a second or more after its frame, when
    frames after it may have been sent already: it is given as the index of the first frame sent
    at or after it, the frame from which the aggregator tracks people afresh."""

    def __init__(self, fps: float) -> None:
        self._finder = CutFinder(fps if fps > 0 else 25.0)  # a stream that states no rate: PAL's
        self._sent: deque[tuple[int, int]] = deque(maxlen=RECENT_FRAMES_KEPT)  # (decoded number, frame index)
        self._given = 0

    def observe(self, number: int, frame: "av.VideoFrame | None", next_index: int) -> list[int]:
        """Look at the ``number``-th decoded frame (None: not decoded by PyAV, not looked at); the
        shots that began since the last call, as frame indices (``next_index``: the next to be sent)."""
        if frame is not None:
            self._finder.observe(number, 0.0, frame)  # its time is not needed: cuts go by frame index
        new = self._finder.cuts[self._given :]
        self._given = len(self._finder.cuts)
        return [self._first_sent_from(cut.frame_index, next_index) for cut in new]

    def sent(self, number: int, frame_index: int) -> None:
        """The ``number``-th decoded frame went as ``frame_index``."""
        self._sent.append((number, frame_index))

    def _first_sent_from(self, number: int, next_index: int) -> int:
        return next((index for sent, index in self._sent if sent >= number), next_index)
