"""How much of a video file decoded, and the warnings a user must read beside its results.

Made by ``emostream.videofile.FrameReader``, stored with the video (``emostream.registry``), shown
in its summary, report, API status and ``analyze``'s output. Kept apart from the reading so that
the registry's readers (``emostream status``, the API) do not load OpenCV.
"""

from dataclasses import dataclass

# How far the last frame may end before the duration the container announces without a warning:
# timestamps are rounded, and variable-rate frames are not one nominal interval long.
ENDS_EARLY_SLACK_MS = 500.0


@dataclass(frozen=True)
class DecodeReport:
    """What a file's reading found; ``warnings`` says it in sentences (none for a clean file)."""

    frames_decoded: int
    undecodable_packets: int  # skipped: a damaged stretch, the frames around it may show artefacts
    untimed_frames: int  # placed after the previous one: no time, or not after the previous one's
    decoded_ms: int  # where the last decoded frame ends
    announced_ms: int  # the video stream's duration as the container states it; 0: not stated
    announced_frames: int = 0  # the frames the container lists (MP4 and MOV do); 0: not stated
    # A hole in a video otherwise steady at its rate: no frame for gap_ms from gap_start_ms (0: none).
    # MPEG-TS (broadcast captures) resyncs past a damaged stretch without a decoding error.
    gap_start_ms: int = 0
    gap_ms: int = 0

    @property
    def missing_end_ms(self) -> int:
        """How much of the announced duration is after the last decoded frame (truncated files).

        Where the container lists its frames and every one was read (decoded or skipped), nothing
        is missing however long the last frame is shown (a screen recording's still ending)."""
        if not self.announced_ms or self.announced_ms - self.decoded_ms <= ENDS_EARLY_SLACK_MS:
            return 0
        if self.announced_frames and self.frames_decoded + self.undecodable_packets >= self.announced_frames:
            return 0
        return self.announced_ms - self.decoded_ms

    def warnings(self, name: str) -> list[str]:
        found = []
        if self.undecodable_packets:
            found.append(
                f"{name}: {self.undecodable_packets} damaged packet(s) could not be decoded and were skipped; "
                "the frames around them are missing or may show artefacts"
            )
        if self.missing_end_ms:
            found.append(
                f"{name}: decoding stopped at {self.decoded_ms / 1000:.1f} s of the "
                f"{self.announced_ms / 1000:.1f} s the file announces (truncated or damaged); "
                "the rest is not analysed"
            )
        if self.gap_ms:
            found.append(
                f"{name}: no frame from {self.gap_start_ms / 1000:.1f} s to "
                f"{(self.gap_start_ms + self.gap_ms) / 1000:.1f} s, in a video otherwise steady at its rate "
                "(a damaged stretch, or a recording that paused); nothing there is analysed"
            )
        if self.untimed_frames and self.untimed_frames >= self.frames_decoded - 1:  # the first is at 0 s anyway
            found.append(
                f"{name} states no frame times (a raw stream, as CCTV exports often are): its frames "
                "were placed one frame apart at the rate the stream states"
            )
        elif self.untimed_frames:
            found.append(
                f"{name}: {self.untimed_frames} of {self.frames_decoded} frames had no usable time "
                "(none, or not after the previous frame's) and were placed after the previous one"
            )
        return found
