"""Shot cuts: where an edited video cuts from one camera or scene to another.

Tracking sees boxes only, so across a cut it carried a person on to whoever's face came to sit
where theirs had been: on the stage clip, one track ran from an audience member to the
performer and back to the audience. The producer, the one process that sees every frame in
order, finds the cuts; the aggregator starts every track afresh at each (``aggregator.tracking``).

PySceneDetect's ``ContentDetector`` (the mean change of hue, saturation and brightness between
consecutive frames) on **every decoded frame**, not the sampled ones: between frames 33 ms apart
only a cut changes the whole picture, while between samples 100 ms or more apart a pan or a
performer crossing the view does too (on the stage clip shrunk to 320 px, the best non-cut
scored 20 of 255 on every frame, 31 at 10 fps and 47 at 1 fps, against 48 to 60 for its cuts). Frames are compared
64 px wide, shrunk by the decoder's scaler straight from its own pixel format (at 160 px the
scores were the same within 3 points, at twice the cost).

A cut must also stay: the frame ``CUT_SETTLE_S`` after it is compared with the one before it,
by the same score. A photo flash changes the whole picture and then gives it back:
PySceneDetect alone took a two-frame flash for a cut (``bench/shots.py``).
"""

import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING, Final, cast

import cv2
import numpy as np
import numpy.typing as npt
from scenedetect.common import FrameTimecode
from scenedetect.detectors import ContentDetector

from emostream import keys

if TYPE_CHECKING:
    import av

log = logging.getLogger(__name__)

Image = npt.NDArray[np.uint8]
RECENT_FRAMES_KEPT: Final = 256  # the detector names a cut up to 0.5 s late, and it settles 0.5 s later


@dataclass(frozen=True)
class Cut:
    """A new shot begins at this frame (its index among the decoded frames, and its time)."""

    frame_index: int
    t_ms: int


class CutFinder:
    """Watches each decoded frame of one video, in order, then ``finish()``; ``cuts`` are the
    first frames of the shots after the first."""

    def __init__(
        self,
        fps: float,
        score: float = keys.CUT_SCORE,
        min_shot_s: float = keys.CUT_MIN_SHOT_S,
        settle_s: float = keys.CUT_SETTLE_S,
        width_px: int = keys.CUT_THUMB_WIDTH_PX,
    ) -> None:
        from av.video.reformatter import VideoReformatter

        self._fps = fps if fps > 0 else 30.0  # frame numbers only: the shortest shot is timed in seconds
        self._score = score
        self._settle_frames = round(settle_s * self._fps)  # 0: PySceneDetect's cuts as they are
        self._detector = ContentDetector(threshold=score, min_scene_len=min_shot_s)
        self._shrink = VideoReformatter()
        self._width = width_px
        self._recent: dict[int, tuple[int, Image]] = {}  # frame index -> (t_ms, HSV thumbnail)
        self._candidates: list[int] = []  # cuts the detector named, waiting to be seen to stay
        self._newest = -1
        self.cuts: list[Cut] = []
        self.failed: str | None = None  # why cuts stopped being looked for (the frames still go)

    def observe(self, frame_index: int, t_ms: float, frame: "av.VideoFrame") -> None:
        if self.failed is not None:
            return
        try:
            small = self._thumbnail(frame)
            found = self._detector.process_frame(FrameTimecode(frame_index, fps=self._fps), small)
        except Exception as exc:  # an odd pixel format or size: the video is still analysed, without cuts
            self.failed = f"{type(exc).__name__}: {exc}"
            log.warning("shot cuts are not looked for in the rest of this video: %s", self.failed)
            return
        self._recent[frame_index] = (round(t_ms), np.asarray(cv2.cvtColor(small, cv2.COLOR_BGR2HSV), dtype=np.uint8))
        self._newest = frame_index
        self._candidates.extend(timecode.frame_num for timecode in found)  # maybe an earlier frame
        self._settle(final=False)
        self._recent.pop(frame_index - RECENT_FRAMES_KEPT, None)

    def finish(self) -> None:
        """The video has ended: a cut in its last half second is judged by its last frame."""
        if self.failed is None:
            self._settle(final=True)

    def _settle(self, final: bool) -> None:
        for cut in list(self._candidates):
            if cut + self._settle_frames > self._newest and not final:
                continue
            self._candidates.remove(cut)
            before, after = self._recent.get(cut - 1), self._recent.get(min(cut + self._settle_frames, self._newest))
            if before is None or after is None or cut not in self._recent:
                continue  # not seen (cannot happen in order); a cut not shown to stay is not one
            if content_change(before[1], after[1]) >= self._score and (
                not self.cuts or cut > self.cuts[-1].frame_index
            ):
                self.cuts.append(Cut(cut, self._recent[cut][0]))

    def _thumbnail(self, frame: "av.VideoFrame") -> Image:
        height = max(2, round(frame.height * self._width / max(frame.width, 1) / 2) * 2)
        small = self._shrink.reformat(frame, width=self._width, height=height, format="bgr24", interpolation="AREA")
        return cast("Image", small.to_ndarray())


def content_change(hsv_a: Image, hsv_b: Image) -> float:
    """ContentDetector's score between two HSV pictures: the mean absolute change of hue,
    saturation and value, averaged over the three (0 to 255)."""
    diff = np.abs(hsv_a.astype(np.int16) - hsv_b.astype(np.int16))
    return float(diff.reshape(-1, 3).mean(axis=0).mean())
