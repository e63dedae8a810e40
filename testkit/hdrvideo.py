"""HDR copies of SDR pictures, as a phone recording the same scene in HDR would write them.

For the tests of ``emostream.hdr``: 10-bit HEVC in BT.2020 colours, with the PQ (HDR10) or HLG
transfer, tagged as phones tag them. The SDR picture is taken as display light with its white
at 203 nits, the reference white of ITU-R BT.2408, and kept as display light: for HLG, through
the inverse of the system gamma of a 1,000-nit display. A faithful SDR rendering of the copy is
therefore the SDR picture again.
"""

from collections.abc import Iterable
from fractions import Fraction
from pathlib import Path
from typing import Literal

import numpy as np
import numpy.typing as npt

from emostream.hdr import ARIB_STD_B67_HLG, BT2020, LIMITED_RANGE, SMPTE2084_PQ

REFERENCE_WHITE_NITS = 203.0
HLG_DISPLAY_PEAK_NITS = 1000.0
HLG_SYSTEM_GAMMA = 1.2
BT709_TO_BT2020 = np.array([[0.6274, 0.3293, 0.0433], [0.0691, 0.9195, 0.0114], [0.0164, 0.0880, 0.8956]])
BT2020_LUMA = np.array([0.2627, 0.6780, 0.0593])
TRANSFERS = {"pq": SMPTE2084_PQ, "hlg": ARIB_STD_B67_HLG}

Transfer = Literal["pq", "hlg"]


def pq_signal(nits: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    """SMPTE ST 2084's inverse EOTF: display light in nits to a signal in [0, 1]."""
    m1, m2, c1, c2, c3 = 0.1593017578125, 78.84375, 0.8359375, 18.8515625, 18.6875
    powered = np.clip(nits / 10000.0, 0, 1) ** m1
    signal: npt.NDArray[np.float64] = ((c1 + c2 * powered) / (1 + c3 * powered)) ** m2
    return signal


def hlg_signal(nits: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    """BT.2100 HLG: display light (RGB, in nits) back to scene light through the inverse OOTF,
    then the OETF."""
    display = nits / HLG_DISPLAY_PEAK_NITS
    luminance = np.maximum(display @ BT2020_LUMA, 1e-9)[..., None]
    scene = np.clip(display / luminance ** (1 - 1 / HLG_SYSTEM_GAMMA), 0, 1)
    a, b, c = 0.17883277, 0.28466892, 0.55991073
    signal: npt.NDArray[np.float64] = np.where(
        scene <= 1 / 12, np.sqrt(3 * scene), a * np.log(np.maximum(12 * scene - b, 1e-9)) + c
    )
    return signal


def hdr_yuv(bgr: npt.NDArray[np.uint8], transfer: Transfer) -> tuple[npt.NDArray[np.uint16], ...]:
    """The 10-bit, limited-range Y, Cb and Cr planes (4:2:0) of ``bgr`` in HDR."""
    light = (bgr[..., ::-1].astype(np.float64) / 255) ** 2.4 @ BT709_TO_BT2020.T * REFERENCE_WHITE_NITS
    signal = pq_signal(light) if transfer == "pq" else hlg_signal(light)
    luma = signal @ BT2020_LUMA
    blue = (signal[..., 2] - luma) / (2 * (1 - BT2020_LUMA[2]))
    red = (signal[..., 0] - luma) / (2 * (1 - BT2020_LUMA[0]))

    def quarter(chroma: npt.NDArray[np.float64]) -> npt.NDArray[np.uint16]:
        height, width = chroma.shape
        pooled: npt.NDArray[np.float64] = chroma.reshape(height // 2, 2, width // 2, 2).mean(axis=(1, 3))
        return np.round(512 + 896 * pooled).astype(np.uint16)

    return np.round(64 + 876 * luma).astype(np.uint16), quarter(blue), quarter(red)


def write_hdr_video(
    path: Path, frames: Iterable[npt.NDArray[np.uint8]], transfer: Transfer, fps: Fraction | int = 10, rotation: int = 0
) -> Path:
    """``frames`` (BGR, all of one even size) as an HDR HEVC video at ``path``, shown turned by
    ``rotation`` degrees (a phone's portrait video)."""
    import av

    trc = TRANSFERS[transfer]
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx265", rate=fps)
        if rotation:
            stream.set_display_rotation(rotation)
        curve = "smpte2084" if transfer == "pq" else "arib-std-b67"
        stream.options = {
            "crf": "12",
            # No B-frames: with them, this build's x265 wrapper now and then hands a short clip's last
            # packets over without times, and the MP4 muxer refuses them (a third of 2-frame files).
            "x265-params": f"log-level=error:bframes=0:colorprim=bt2020:colormatrix=bt2020nc:transfer={curve}",
        }
        for index, image in enumerate(frames):
            height, width = image.shape[:2]
            if index == 0:
                stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p10le"
                context = stream.codec_context
                context.color_primaries, context.colorspace, context.color_range, context.color_trc = (
                    BT2020, BT2020, LIMITED_RANGE, trc
                )  # fmt: skip
            frame = av.VideoFrame(width, height, "yuv420p10le")
            for plane, data in zip(frame.planes, hdr_yuv(image, transfer), strict=True):
                padded = np.zeros((data.shape[0], plane.line_size // 2), np.uint16)
                padded[:, : data.shape[1]] = data
                plane.update(padded.tobytes())
            frame.pts, frame.time_base = index, 1 / Fraction(fps)
            frame.color_primaries, frame.colorspace, frame.color_range, frame.color_trc = (
                BT2020, BT2020, LIMITED_RANGE, trc
            )  # fmt: skip
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return path
