"""Reading a video as players show it: presentation times from the container, upright frames."""

import fractions
import math
from pathlib import Path

import cv2
import numpy as np
import pytest

from emostream.decoding import DecodeReport
from emostream.videofile import (
    Announced,
    FrameClock,
    FrameReader,
    RateWatch,
    _clock_ms,
    announced_length,
    open_upright,
    plausible_rate,
    square_pixel_size,
)
from tests.conftest import damage_packets, write_damaged_video, write_interlaced_video, write_variable_rate_video


def test_reported_times_are_kept_and_unusable_ones_follow_the_last() -> None:
    """No time: a frame at the nominal rate after the last. Not after the last: half a frame after it."""
    clock = FrameClock(nominal_fps=50.0)
    reported = [0.0, 33.4, 33.4, math.nan, -5.0, 200.0, 150.0, math.inf]
    assert [clock.time_of(t) for t in reported] == pytest.approx([0.0, 33.4, 43.4, 63.4, 83.4, 200.0, 210.0, 230.0])
    assert clock.untimed == 5


def test_files_joined_end_to_end_keep_their_own_times_following_on() -> None:
    """``cat`` of two recordings, each clock starting at 0; the second one's frames variably spaced."""
    clock = FrameClock(nominal_fps=25.0)
    times = [clock.time_of(t) for t in [0.0, 40.0, 80.0, 120.0, 0.0, 40.0, 100.0, 120.0]]
    assert times == pytest.approx([0.0, 40.0, 80.0, 120.0, 140.0, 180.0, 240.0, 260.0])
    assert clock.untimed == 1  # the first frame of the second file: not after the last one's


def test_a_duplicated_time_shifts_nothing_after_it() -> None:
    """A screen recorder writing one time twice: every later frame had been placed one by one."""
    clock = FrameClock(nominal_fps=25.0)
    times = [clock.time_of(t) for t in [0.0, 40.0, 40.0, 80.0, 120.0, 160.0]]
    assert times == pytest.approx([0.0, 40.0, 60.0, 80.0, 120.0, 160.0])
    assert clock.untimed == 1


def test_one_stray_time_back_then_the_old_clock_again() -> None:
    clock = FrameClock(nominal_fps=25.0)
    times = [clock.time_of(t) for t in [0.0, 40.0, 80.0, 10.0, 120.0, 160.0]]
    assert times == pytest.approx([0.0, 40.0, 80.0, 100.0, 120.0, 160.0])
    assert clock.untimed == 1


def test_a_first_frame_without_a_time_is_at_zero() -> None:
    clock = FrameClock(nominal_fps=25.0)
    assert clock.time_of(math.nan) == 0.0
    assert clock.untimed == 1


def test_a_variable_frame_rate_video_reads_at_its_own_times(tmp_path: Path) -> None:
    times = [0, 16, 33, 50, 150, 250, 1250]
    video = write_variable_rate_video(tmp_path / "v.mp4", times)
    reader = FrameReader(video, open_upright(video), nominal_fps=30.0)
    assert [t for t, _ in reader] == times
    assert reader.clock.untimed == 0


def test_an_animated_gif_is_read_at_its_own_frame_delays_and_colours(tmp_path: Path) -> None:
    """Reaction clips and screen captures come as GIFs, each frame with its own delay."""
    from PIL import Image

    colours = [(255, 0, 0), (0, 255, 0), (0, 0, 255), (255, 255, 255)]
    frames = [Image.new("RGB", (64, 48), colour) for colour in colours]
    path = tmp_path / "reaction.gif"
    frames[0].save(path, save_all=True, append_images=frames[1:], duration=[100, 250, 50, 100], loop=0)
    read = list(FrameReader(path, open_upright(path), nominal_fps=10.0))
    assert [t for t, _ in read] == [0, 100, 350, 400]
    assert [tuple(int(c) for c in image[24, 32][::-1]) for _, image in read] == colours  # BGR back to RGB


def test_frames_stored_sideways_with_a_display_rotation_come_upright(tmp_path: Path) -> None:
    import av

    path = tmp_path / "phone.mp4"
    with av.open(str(path), "w") as container:
        stream = container.add_stream("mpeg4", rate=10)
        stream.width, stream.height = 120, 160  # stored sideways
        stream.set_display_rotation(90)
        sideways = np.zeros((160, 120, 3), np.uint8)
        sideways[:, -10:] = 255  # the picture's top edge, as a phone held upright stores it: at the right
        for _ in range(3):
            container.mux(stream.encode(av.VideoFrame.from_ndarray(sideways, format="bgr24")))
        container.mux(stream.encode())
    (_, image), *_ = list(FrameReader(path, open_upright(path), nominal_fps=10.0))
    assert image.shape == (120, 160, 3)
    assert image[:8].mean() > 200  # the white edge is on top again
    assert image[20:].mean() < 50


def test_frames_not_wanted_are_timed_and_counted_but_not_converted(tmp_path: Path) -> None:
    video = write_damaged_video(tmp_path / "v.avi", frames=8, damaged=range(0))
    reader = FrameReader(video, open_upright(video), nominal_fps=10.0)
    wanted_times = []

    def every_third(t_ms: float) -> bool:
        wanted_times.append(t_ms)
        return round(t_ms) % 300 == 0

    read = [(t, image is not None) for t, image in reader.sampled(every_third)]
    assert read == [(0.0, True), (100.0, False), (200.0, False), (300.0, True), (400.0, False), (500.0, False),
                    (600.0, True), (700.0, False)]  # fmt: skip
    assert wanted_times == [t for t, _ in read]  # asked once a frame, in order
    assert (reader.frames, reader.undecodable) == (8, 0)


def test_a_damaged_stretch_is_skipped_and_the_frames_after_it_keep_their_times(tmp_path: Path) -> None:
    video = write_damaged_video(tmp_path / "d.avi", frames=40, damaged=range(10, 13))
    reader = FrameReader(video, open_upright(video), nominal_fps=10.0)
    assert [t for t, _ in reader] == pytest.approx([i * 100 for i in range(40) if i not in (10, 11, 12)])
    report = reader.report(announced_length(video))
    assert report == DecodeReport(
        frames_decoded=37, undecodable_packets=3, untimed_frames=0, decoded_ms=4000, announced_ms=4000,
        announced_frames=40,
    )  # fmt: skip
    assert report.warnings("d.avi") == [
        "d.avi: 3 damaged packet(s) could not be decoded and were skipped; "
        "the frames around them are missing or may show artefacts"
    ]


def test_a_file_cut_short_says_how_much_of_its_announced_duration_was_not_decoded(tmp_path: Path) -> None:
    import av

    whole = tmp_path / "whole.mp4"
    with av.open(str(whole), "w", options={"movflags": "+faststart"}) as container:  # the index first, as on the web
        stream = container.add_stream("mpeg4", rate=10)
        stream.width, stream.height = 160, 120
        noise = np.random.default_rng(0).integers(0, 256, (40, 120, 160, 3), dtype=np.uint8)
        for image in noise:  # 4 s
            container.mux(stream.encode(av.VideoFrame.from_ndarray(image, format="bgr24")))
        container.mux(stream.encode())
    cut = tmp_path / "cut.mp4"
    cut.write_bytes(whole.read_bytes()[: whole.stat().st_size // 2])  # an upload or a copy that stopped
    reader = FrameReader(cut, open_upright(cut), nominal_fps=10.0)
    frames = sum(1 for _ in reader)
    report = reader.report(announced_length(cut))
    assert 10 < frames < 30
    assert (report.decoded_ms, report.announced_ms, report.missing_end_ms) == (frames * 100, 4000, 4000 - frames * 100)
    assert report.warnings("cut.mp4")[-1] == (
        f"cut.mp4: decoding stopped at {frames / 10:.1f} s of the 4.0 s the file announces (truncated or damaged); "
        "the rest is not analysed"
    )


def test_a_last_frame_shown_for_seconds_is_not_a_truncated_file(tmp_path: Path) -> None:
    import av

    path = tmp_path / "screen.mp4"
    with av.open(str(path), "w") as container:  # 1 s of frames, then the last one held for 3 s
        stream = container.add_stream("mpeg4", rate=10)
        stream.width, stream.height = 64, 48
        stream.codec_context.time_base = fractions.Fraction(1, 1000)
        frames = []
        for i in range(11):
            frame = av.VideoFrame.from_ndarray(np.full((48, 64, 3), i * 20, np.uint8), format="bgr24")
            frame.pts, frame.time_base = i * 100, fractions.Fraction(1, 1000)
            frames.append(frame)
        for packet in [p for frame in frames for p in stream.encode(frame)] + list(stream.encode()):
            packet.duration = 3000 if packet.pts == 1000 else 100
            container.mux(packet)
    reader = FrameReader(path, open_upright(path), nominal_fps=10.0)
    assert sum(1 for _ in reader) == 11
    report = reader.report(announced_length(path))
    assert (report.announced_ms, report.announced_frames) == (4000, 11)
    assert report.warnings("screen.mp4") == []


@pytest.mark.parametrize(("suffix", "frames"), [(".mp4", 10), (".mkv", 0)])  # FFmpeg's Matroska lists no frames
def test_the_announced_duration_is_the_video_streams_not_a_longer_audio_tracks(
    tmp_path: Path, suffix: str, frames: int
) -> None:
    import av

    path = tmp_path / f"talk{suffix}"
    with av.open(str(path), "w") as container:
        video = container.add_stream("mpeg4", rate=10)
        video.width, video.height = 64, 48
        audio = container.add_stream("aac", rate=16_000)
        for i in range(10):  # 1 s of video
            container.mux(video.encode(av.VideoFrame.from_ndarray(np.full((48, 64, 3), i, np.uint8), format="bgr24")))
        container.mux(video.encode())
        for i in range(3 * 16_000 // 1024):  # 3 s of silence
            sound = av.AudioFrame.from_ndarray(np.zeros((1, 1024), np.float32), format="fltp", layout="mono")
            sound.sample_rate, sound.pts = 16_000, i * 1024
            container.mux(audio.encode(sound))
        container.mux(audio.encode())
    announced = announced_length(path)
    assert announced.ms == pytest.approx(1000, abs=1)
    assert announced.frames == frames
    assert announced_length(tmp_path / "missing.mp4") == Announced(0.0, 0)


def test_matroska_track_tags_are_read_as_mkvmerge_and_ffmpeg_write_them() -> None:
    assert _clock_ms("00:01:02.500000000") == 62_500
    assert _clock_ms("") == _clock_ms("garbage") == 0


def test_a_video_whose_file_name_is_not_utf8_opens(tmp_path: Path) -> None:
    """OpenCV's binding crashes the process (SIGSEGV) on such a name, so this runs in a child."""
    import os
    import shutil
    import subprocess
    import sys

    from tests.conftest import write_video

    latin1 = os.fsdecode(os.fsencode(tmp_path) + b"/R\xe9union.mp4")
    shutil.move(write_video(tmp_path / "v.mp4", frames=3), latin1)
    script = (
        "import os, sys\n"
        "from emostream.videofile import FrameReader, open_upright\n"
        "from pathlib import Path\n"
        "path = Path(os.fsdecode(sys.argv[1].encode('utf-8', 'surrogateescape')))\n"
        "capture = open_upright(path)\n"
        "print(sum(1 for _ in FrameReader(path, capture, 10.0)))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script, latin1], capture_output=True, text=True, errors="surrogateescape", check=False
    )
    assert (done.returncode, done.stdout.strip()) == (0, "3"), done.stderr[-1000:]


def test_an_anamorphic_video_is_read_with_square_pixels_as_players_show_it(tmp_path: Path) -> None:
    """HDV and AVCHD store 1440x1080 for 16:9, DV and DVD 720x576: read as stored, faces are squeezed."""
    from tests.conftest import write_anamorphic_video, write_video

    video = write_anamorphic_video(tmp_path / "hdv.mp4", frames=3)
    capture = open_upright(video)
    assert square_pixel_size(capture) == (160, 90)
    images = [image for _, image in FrameReader(video, capture, nominal_fps=10.0)]
    assert [image.shape for image in images] == [(90, 160, 3)] * 3
    disc = images[0][:, :, 0] > 128
    rows, columns = np.nonzero(disc)
    assert np.ptp(columns) == pytest.approx(np.ptp(rows), abs=2)  # round again
    assert square_pixel_size(open_upright(write_video(tmp_path / "square.mp4", frames=2))) is None


def _stripes(size: tuple[int, int], frames: int) -> list[np.ndarray]:
    """Moving green gradients with red on every other line (what a field-coded picture keeps apart)."""
    width, height = size
    images = []
    for i in range(frames):
        image = np.zeros((height, width, 3), np.uint8)
        image[:, :, 1] = (np.arange(width) + i * 7) % 256
        image[::2, :, 2] = 200
        images.append(image)
    return images


def _dv(path: Path, frames: int) -> Path:
    """DV (PAL, 720x576): camcorders' tape format, coded as fields; FFmpeg's own encoder."""
    import av

    with av.open(str(path), "w") as container:
        stream = container.add_stream("dvvideo", rate=25)
        stream.width, stream.height, stream.pix_fmt = 720, 576, "yuv420p"
        for image in _stripes((720, 576), frames):
            container.mux(stream.encode(av.VideoFrame.from_ndarray(image, format="bgr24")))
        container.mux(stream.encode())
    return path


@pytest.mark.parametrize("kind", ["1080i-style H.264", "DV"])
def test_an_interlaced_video_is_read_as_its_pictures_not_black(tmp_path: Path, kind: str) -> None:
    """OpenCV's conversion refuses frames coded as fields and leaves a black or stale picture while
    saying it succeeded: a DV or 1080i video was analysed as having no face, without a word."""
    import av

    if kind == "DV":
        video, fps = _dv(tmp_path / "tape.dv", frames=6), 25.0
    else:
        video, fps = write_interlaced_video(tmp_path / "i.mp4", _stripes((160, 120), 6)), 10.0
    read = list(FrameReader(video, open_upright(video), fps))
    with av.open(str(video)) as container:
        decoded = [frame.to_ndarray(format="bgr24") for frame in container.decode(video=0)]
    assert len(read) == len(decoded) == 6
    assert [t for t, _ in read] == pytest.approx([i * 1000 / fps for i in range(6)])
    shown = (768, 576) if kind == "DV" else (160, 120)  # PAL DV's pixels are 16:15 wide: 768 square ones
    for (_, image), picture in zip(read, decoded, strict=True):
        assert image.shape == (shown[1], shown[0], 3)
        expected = cv2.resize(picture, shown, interpolation=cv2.INTER_LINEAR)
        assert np.abs(image.astype(int) - expected).mean() < 1  # the picture, not black
        assert image[:, :, 1].mean() > 60


def test_a_recording_that_switches_to_fields_partway_is_read_as_its_pictures_not_the_last_one(
    tmp_path: Path,
) -> None:
    """A broadcast recording: coded as frames, then as fields from a programme or an advert on. OpenCV's
    reader gave the last picture it had converted for every frame after the switch, as if the video had
    frozen, and said nothing; no check of a video's first frames finds such a switch."""
    pictures = [np.full((120, 160, 3), 90, np.uint8) for _ in range(30)]
    for i, picture in enumerate(pictures):
        picture[40:80, 4 * i : 4 * i + 24] = 230  # a block moving 4 pixels a frame
    first = write_interlaced_video(tmp_path / "a.ts", pictures[:10], fields=False)
    then = write_interlaced_video(tmp_path / "b.ts", pictures[10:])
    recording = tmp_path / "recording.ts"
    recording.write_bytes(first.read_bytes() + then.read_bytes())  # as a recorder appends the stream
    read = [image for _, image in FrameReader(recording, open_upright(recording), 10.0)]
    assert len(read) == 30
    nearest = [int(np.argmin([np.abs(image.astype(int) - picture).mean() for picture in pictures])) for image in read]
    assert nearest == list(range(30))  # each frame its own picture


def test_frames_after_a_change_of_resolution_come_at_the_size_announced(tmp_path: Path) -> None:
    """A video call recorded in a browser follows the network's resolution; a broadcast switches
    to HD for a programme. Read at their own size, the frames after a change had boxes in other
    pixels than the timeline's, and each change started a new person (one woman became three)."""

    def picture(size: tuple[int, int], shade: int) -> np.ndarray:
        width, height = size
        image = np.full((height, width, 3), shade, np.uint8)
        image[height // 4 : height // 2, width // 4 : width // 2] = 240  # the same place at any size
        return image

    parts = [((160, 120), 60), ((320, 240), 90), ((96, 72), 120)]  # larger, then smaller
    segments = [
        write_interlaced_video(tmp_path / f"{n}.ts", [picture(size, shade)] * 4, fields=False)
        for n, (size, shade) in enumerate(parts)
    ]
    recording = tmp_path / "call.ts"
    recording.write_bytes(b"".join(segment.read_bytes() for segment in segments))
    read = [image for _, image in FrameReader(recording, open_upright(recording), 10.0)]

    assert [image.shape for image in read] == [(120, 160, 3)] * 12
    expected = [picture((160, 120), shade) for _, shade in parts for _ in range(4)]
    assert max(float(np.abs(image.astype(int) - want).mean()) for image, want in zip(read, expected, strict=True)) < 6


def test_an_interlaced_video_is_read_past_damaged_packets_with_the_frames_after_them_at_their_times(
    tmp_path: Path,
) -> None:
    video = damage_packets(write_interlaced_video(tmp_path / "i.mp4", _stripes((160, 120), 20)), range(5, 8))
    reader = FrameReader(video, open_upright(video), 10.0)
    times = [t for t, _ in reader]
    assert reader.undecodable == 3
    assert len(times) == 17
    assert times == sorted(times)
    assert set(times) <= {i * 100.0 for i in range(20)}  # the frames after the damage at their own times
    assert reader.report(announced_length(video)).undecodable_packets == 3


def test_an_interlaced_video_comes_upright_and_with_square_pixels(tmp_path: Path) -> None:
    sideways = np.zeros((160, 120, 3), np.uint8)
    sideways[:, -10:] = 255  # the picture's top edge, stored at the right as a phone held upright does
    video = write_interlaced_video(tmp_path / "turned.mp4", [sideways] * 3, rotation=90)
    (_, image), *_ = list(FrameReader(video, open_upright(video), 10.0))
    assert image.shape == (120, 160, 3)
    assert image[:8].mean() > 200  # the white edge is on top, as OpenCV turns a progressive one
    assert image[20:].mean() < 50

    disc = np.zeros((96, 120, 3), np.uint8)  # fields of 4:2:0 need a height of whole 4 lines
    cv2.ellipse(disc, (60, 48), (21, 28), 0, 0, 360, (255, 255, 255), -1)  # round once 4:3 pixels are shown
    video = write_interlaced_video(tmp_path / "hdv.mp4", [disc] * 3, pixel_aspect=fractions.Fraction(4, 3))
    (_, image), *_ = list(FrameReader(video, open_upright(video), 10.0))
    assert image.shape == (96, 160, 3)
    rows, columns = np.nonzero(image[:, :, 0] > 128)
    assert abs((columns.max() - columns.min()) - (rows.max() - rows.min())) <= 3


def test_a_time_base_stated_as_a_frame_rate_gives_way_to_the_rate_of_the_frames(tmp_path: Path) -> None:
    """A raw DV file states 60000 fps (its time base), a screen recorder's MKV 1000: sampling, tracking
    and smoothing count in frames at the video's rate, and every-frame analysis took it for 60000."""
    assert plausible_rate(fractions.Fraction(60000), fractions.Fraction(25)) == 25
    assert plausible_rate(fractions.Fraction(30000, 1001), fractions.Fraction(120)) == fractions.Fraction(30000, 1001)
    assert plausible_rate(fractions.Fraction(1000), fractions.Fraction(1000)) == 1000  # a 1000 fps camera's own
    assert plausible_rate(None, fractions.Fraction(25)) == 25
    video = _dv(tmp_path / "tape.dv", frames=6)
    assert announced_length(video).rate == 25


def test_a_progressive_video_is_read_as_opencv_reads_it(tmp_path: Path) -> None:
    """The same times and the same pixels as OpenCV's reader, used before 2026-12-07: results of
    earlier analyses stand, and a render drawn on OpenCV's frames matches."""
    video = write_variable_rate_video(tmp_path / "vfr.mp4", [0, 40, 100, 400, 433, 1000, 1033])
    ours = list(FrameReader(video, open_upright(video), 30.0))
    capture, opencvs = open_upright(video), []
    while (read := capture.read())[0]:
        opencvs.append((capture.get(cv2.CAP_PROP_POS_MSEC), read[1]))
    assert [t for t, _ in ours] == [t for t, _ in opencvs] == pytest.approx([0, 40, 100, 400, 433, 1000, 1033])
    for (_, image), (_, expected) in zip(ours, opencvs, strict=True):
        assert np.array_equal(image, expected)


def _watched(times_ms: list[float], fps: float = 10.0) -> tuple[int, int]:
    watch = RateWatch(fps)
    for t_ms in times_ms:
        watch.observe(t_ms)
    return watch.hole()


def test_a_hole_is_found_in_a_steady_video_and_not_in_a_variable_rate_or_short_one() -> None:
    steady = [i * 100.0 for i in range(20)] + [3400.0 + i * 100 for i in range(26)]  # 2.0 s to 3.4 s lost
    assert _watched(steady) == (2000, 1400)
    assert _watched([i * 100.0 for i in range(60)]) == (0, 0)  # no hole
    assert _watched(steady[:5] + steady[-5:]) == (0, 0)  # too few frames to call it steady
    phone = [0.0]
    for i in range(60):  # a phone's variable rate: intervals of 30 to 70 ms, and a 1.5 s pause
        phone.append(phone[-1] + (1500 if i == 30 else 30 + (i * 37) % 41))
    assert _watched(phone, fps=20.0) == (0, 0)
    assert _watched([*steady[:20], 2500.0, *steady[20:]]) == (0, 0)  # 0.9 s at most between frames: not a hole


def test_a_broadcast_capture_that_resyncs_past_damage_says_where_its_hole_is(tmp_path: Path) -> None:
    """MPEG-TS (DVB and IPTV recordings) reads on past a damaged stretch without a decoding error: the
    frames lost there were not said anywhere."""
    import av

    video = tmp_path / "capture.ts"
    with av.open(str(video), "w") as container:
        stream = container.add_stream("libx264", rate=10)
        stream.width, stream.height, stream.pix_fmt = 160, 120, "yuv420p"
        stream.options = {"x264-params": "keyint=10"}
        for image in _stripes((160, 120), 60):
            container.mux(stream.encode(av.VideoFrame.from_ndarray(image, format="bgr24")))
        container.mux(stream.encode())
    damage_packets(video, range(20, 34))
    reader = FrameReader(video, open_upright(video), 10.0)
    list(reader)
    report = reader.report(announced_length(video))
    assert report.undecodable_packets == 0  # nothing else tells of the loss
    assert (report.gap_start_ms, report.gap_ms) == (2000, 1400)
    assert report.warnings("capture.ts")[0].startswith("capture.ts: no frame from 2.0 s to 3.4 s")


def test_a_video_opencv_opens_and_pyav_cannot_decode_is_a_clear_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """OpenCV's FFmpeg (the probe) and PyAV's (the frames) are builds of their own: a file the one
    opens, the other may refuse. That is the video's error, said with FFmpeg's reason, not a crash."""
    import av

    from emostream.errors import SourceError

    video = write_damaged_video(tmp_path / "v.avi", frames=3, damaged=range(0))
    capture = open_upright(video)

    def refuse(*args: object, **kwargs: object) -> None:
        raise av.error.InvalidDataError(1094995529, "Invalid data found when processing input")

    monkeypatch.setattr(av, "open", refuse)
    with pytest.raises(SourceError, match=r"^v\.avi: its video cannot be decoded \(Invalid data found"):
        list(FrameReader(video, capture, 10.0))
