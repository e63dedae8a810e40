"""Frames in BGR as an ordinary (SDR) screen shows them, HDR ones included.

Phones record HDR by default: iPhones since the 12 write HEVC in HLG (Dolby Vision 8.4, whose
base layer is HLG), many Android phones HDR10 (PQ). Both are 10-bit, in BT.2020 colours, with a
transfer curve other than SDR's. Converted to BGR as if they were SDR, a PQ picture comes out
grey and flat and an HLG one dark, and the emotion network, trained on SDR pictures, misreads the
faces: on a PQ copy of the stage clip 81 % of the faces had the emotion found in the original,
against 92 % for an SDR copy coded alike (docs/outputs.md, ``bench/hdr.py``). So an HDR frame is
tone-mapped to SDR BT.709 by FFmpeg's swscale (FFmpeg 8's, in PyAV's wheel, maps transfer and
primaries when the target's are given), as a player showing it on an SDR screen would; an SDR
frame is converted as before.

Tone mapping costs ten times the plain conversion (30 against 2.5 ms a 1080p frame, 104 against
9 at 4K, on an AMD EPYC), so where the caller shrinks frames anyway (the producer sends at most
1,280 px a side) an HDR frame is shrunk first, still in 10-bit YUV: 17 ms at 4K.
"""

from typing import TYPE_CHECKING, cast

import numpy as np
import numpy.typing as npt

if TYPE_CHECKING:
    import av

# FFmpeg's codes (AVColorTransferCharacteristic, AVColorPrimaries, AVColorSpace, AVColorRange), as
# PyAV's frames and codec contexts carry them
SMPTE2084_PQ = 16
ARIB_STD_B67_HLG = 18
BT2020 = 9  # the primaries, and the matrix (non-constant luminance)
BT709 = 1  # primaries, transfer and matrix alike
LIMITED_RANGE = 1  # video range: 16 to 235 in 8 bits


def is_hdr(frame: "av.VideoFrame") -> bool:
    """Whether ``frame`` needs tone mapping to be shown on an SDR screen: its transfer is PQ or
    HLG, or its colours are BT.2020's (a wide-gamut SDR picture is mapped into BT.709's too)."""
    return frame.color_trc in (SMPTE2084_PQ, ARIB_STD_B67_HLG) or frame.color_primaries == BT2020


def shrunk_size(width: int, height: int, max_side_px: int | None) -> tuple[int, int] | None:
    """(width, height) with the longest side ``max_side_px``, as ``preprocess.downscale`` makes
    it; None where the frame is no larger."""
    if max_side_px is None or max(width, height) <= max_side_px:
        return None
    scale = max_side_px / max(width, height)
    return round(width * scale), round(height * scale)


class SdrPictures:
    """Converts one stream's frames to BGR as shown on an SDR screen. One for a stream: each
    conversion is set up once (tone mapping's setup takes 40 ms), so each has its own reformatter."""

    def __init__(self) -> None:
        from av.video.reformatter import VideoReformatter

        self._to_bgr = VideoReformatter()
        self._shrink = VideoReformatter()
        self._tone_map = VideoReformatter()

    def bgr(self, frame: "av.VideoFrame", shrink_to: tuple[int, int] | None = None) -> npt.NDArray[np.uint8]:
        """``frame`` in BGR; an HDR one shrunk first to ``shrink_to`` (width, height, as stored)
        where that is smaller. An SDR frame comes at its own size: the caller scales it, as before."""
        if not is_hdr(frame):
            return cast("npt.NDArray[np.uint8]", self._to_bgr.reformat(frame, format="bgr24").to_ndarray())
        if shrink_to is not None and shrink_to[0] * shrink_to[1] < frame.width * frame.height:
            frame = self._shrink.reformat(frame, width=shrink_to[0], height=shrink_to[1], interpolation="AREA")
        mapped = self._tone_map.reformat(frame, format="bgr24", dst_color_trc=BT709, dst_color_primaries=BT709)
        return cast("npt.NDArray[np.uint8]", mapped.to_ndarray())
