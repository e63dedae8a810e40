"""What a file's reading found, said as warnings."""

from emostream.decoding import DecodeReport


def test_a_clean_file_has_no_warning_and_small_shortfalls_are_not_one() -> None:
    assert DecodeReport(250, 0, 0, decoded_ms=9600, announced_ms=10_000).warnings("v.mp4") == []
    assert DecodeReport(250, 0, 0, decoded_ms=4000, announced_ms=0).missing_end_ms == 0  # duration not stated
    assert DecodeReport(250, 0, 0, decoded_ms=9400, announced_ms=10_000).missing_end_ms == 600


def test_every_listed_frame_read_means_nothing_is_missing_however_long_the_last_is_shown() -> None:
    every_frame_read = DecodeReport(246, 4, 0, decoded_ms=4000, announced_ms=10_000, announced_frames=250)
    assert every_frame_read.missing_end_ms == 0
    assert DecodeReport(100, 0, 0, decoded_ms=4000, announced_ms=10_000, announced_frames=250).missing_end_ms == 6000


def test_each_kind_of_damage_is_its_own_warning_naming_the_file() -> None:
    report = DecodeReport(90, undecodable_packets=2, untimed_frames=3, decoded_ms=4000, announced_ms=10_000)
    assert report.warnings("clip.mp4") == [
        "clip.mp4: 2 damaged packet(s) could not be decoded and were skipped; "
        "the frames around them are missing or may show artefacts",
        "clip.mp4: decoding stopped at 4.0 s of the 10.0 s the file announces (truncated or damaged); "
        "the rest is not analysed",
        "clip.mp4: 3 of 90 frames had no usable time (none, or not after the previous frame's) "
        "and were placed after the previous one",
    ]


def test_a_raw_stream_without_any_frame_time_is_said_to_be_one() -> None:
    """CCTV exports are often raw H.264 (``.h264``), which has no container and no times at all."""
    report = DecodeReport(120, 0, untimed_frames=119, decoded_ms=4800, announced_ms=0)
    assert report.warnings("cctv.h264") == [
        "cctv.h264 states no frame times (a raw stream, as CCTV exports often are): its frames were placed "
        "one frame apart at the rate the stream states"
    ]


def test_a_hole_in_a_steady_video_says_where() -> None:
    report = DecodeReport(46, 0, 0, decoded_ms=6000, announced_ms=6000, gap_start_ms=2000, gap_ms=1400)
    assert report.warnings("capture.ts") == [
        "capture.ts: no frame from 2.0 s to 3.4 s, in a video otherwise steady at its rate (a damaged stretch, "
        "or a recording that paused); nothing there is analysed"
    ]
