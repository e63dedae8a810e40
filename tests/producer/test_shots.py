"""Shot cuts found in real videos, on every decoded frame as the producer reads them."""

import logging
from pathlib import Path

import av
import cv2
import numpy as np
import numpy.typing as npt
import pytest

from producer.shots import CameraCuts, Cut, CutFinder, faded, grey, is_dissolve
from tests.conftest import VIDEOS, require_shared, write_anamorphic_video

STAGE_CUTS = [20, 82, 211]  # labelled by eye: the wide stage, the crowd, the performer, the crowd


def decoded(video: Path) -> list[tuple[float, av.VideoFrame]]:
    with av.open(str(video)) as container:
        return [(float(frame.time or 0) * 1000, frame) for frame in container.decode(video=0)]


def cuts_in(frames: list[tuple[float, av.VideoFrame]], checked: bool = True, fps: float = 29.97) -> list[Cut]:
    finder = CutFinder(fps, checked=checked)
    for index, (t_ms, frame) in enumerate(frames):
        finder.observe(index, t_ms, frame)
    finder.finish()
    return finder.cuts


def decoder_frame(picture: npt.NDArray[np.uint8]) -> av.VideoFrame:
    """A BGR picture as a decoder gives a frame: yuv420p."""
    return av.VideoFrame.from_ndarray(picture, format="bgr24").reformat(format="yuv420p")


def flashed(frames: list[tuple[float, av.VideoFrame]], at: int) -> list[tuple[float, av.VideoFrame]]:
    """A photo flash: two frames far brighter than those around them."""
    out = list(frames)
    for index in (at, at + 1):
        t_ms, frame = frames[index]
        bright = np.clip(frame.to_ndarray(format="bgr24").astype(np.int16) * 2 + 40, 0, 255).astype(np.uint8)
        out[index] = (t_ms, decoder_frame(bright))
    return out


def dimmed(frames: list[tuple[float, av.VideoFrame]], gains: list[float]) -> list[tuple[float, av.VideoFrame]]:
    """The frames with their pixels scaled by ``gains`` (0: black), one gain a frame."""
    out = []
    for (t_ms, frame), gain in zip(frames, gains, strict=True):
        picture = (frame.to_ndarray(format="bgr24") * gain).astype(np.uint8)
        out.append((t_ms, decoder_frame(picture)))
    return out


def through_black(
    first: list[tuple[float, av.VideoFrame]], second: list[tuple[float, av.VideoFrame]], steps: int
) -> list[tuple[float, av.VideoFrame]]:
    """``first`` fading out to black over ``steps`` frames, then ``second`` fading in over as many."""
    fading = [1 - (i + 1) / steps for i in range(steps)]
    return first[:-steps] + dimmed(first[-steps:], fading) + dimmed(second[:steps], fading[::-1]) + second[steps:]


def whitened(frames: list[tuple[float, av.VideoFrame]], gains: list[float]) -> list[tuple[float, av.VideoFrame]]:
    """The frames mixed with white by ``gains`` (1: white), one gain a frame."""
    out = []
    for (t_ms, frame), gain in zip(frames, gains, strict=True):
        picture = frame.to_ndarray(format="bgr24") * (1 - gain) + 255 * gain
        out.append((t_ms, decoder_frame(picture.round().astype(np.uint8))))
    return out


def dissolved(
    first: list[tuple[float, av.VideoFrame]], second: list[tuple[float, av.VideoFrame]], steps: int
) -> list[tuple[float, av.VideoFrame]]:
    """``first`` dissolving into ``second`` over ``steps`` frames: each of them a mix of both, the
    second's share rising (the first's times are kept)."""
    mixed = []
    for i in range(steps):
        share = (i + 1) / (steps + 1)
        (t_ms, a), (_, b) = first[len(first) - steps + i], second[i]
        before = a.to_ndarray(format="bgr24")
        after = cv2.resize(
            b.to_ndarray(format="bgr24"), (before.shape[1], before.shape[0]), interpolation=cv2.INTER_AREA
        )
        picture = (1 - share) * before + share * after
        mixed.append((t_ms, decoder_frame(picture.round().astype(np.uint8))))
    return first[:-steps] + mixed + second[steps:]


def moving_camera(
    frames: list[tuple[float, av.VideoFrame]], pan: float, zoom: float
) -> list[tuple[float, av.VideoFrame]]:
    """The frames seen by a camera panning across ``pan`` of the width and zooming in to ``zoom``
    times, evenly over them: the picture changes as much as at a cut, gradually."""
    out = []
    for i, (t_ms, frame) in enumerate(frames):
        progress = i / max(1, len(frames) - 1)
        picture = frame.to_ndarray(format="bgr24")
        height, width = picture.shape[:2]
        scale = 1 + (zoom - 1) * progress
        centre = (width / 2 + pan * width * (progress - 0.5), height / 2)
        view = cv2.getRectSubPix(picture, (round(width / scale), round(height / scale)), centre)
        seen = np.asarray(cv2.resize(view, (width, height)), np.uint8)
        out.append((t_ms, decoder_frame(seen)))
    return out


def test_a_fade_through_black_is_a_cut_in_its_darkest_frames() -> None:
    """Frame by frame the picture hardly changes, so the content score misses it; the picture's
    brightness falls under PySceneDetect's fade threshold and rises again."""
    woman = decoded(require_shared(VIDEOS / "fer_woman2.mp4"))
    stage = decoded(require_shared(VIDEOS / "short_hamilton_clip.mp4"))
    frames = through_black(woman[:90], stage[100:190], steps=15)  # dark from about frame 86 to 94
    (cut,) = cuts_in(frames)
    assert 84 <= cut.frame_index <= 96
    assert cut.t_ms == round(frames[cut.frame_index][0])


def test_a_cut_through_a_few_black_frames_is_one_cut_though_both_detectors_name_it() -> None:
    """The content score names the change into black and the fade detector the black's middle:
    one shot of two frames between them would leave its faces phantoms."""
    woman = decoded(require_shared(VIDEOS / "fer_woman2.mp4"))
    stage = decoded(require_shared(VIDEOS / "short_hamilton_clip.mp4"))
    frames = woman[:90] + dimmed(woman[90:94], [0.0] * 4) + stage[100:190]
    (cut,) = cuts_in(frames)
    assert 90 <= cut.frame_index <= 94


def test_a_video_that_opens_or_ends_in_black_or_blinks_black_for_a_frame_has_no_cut() -> None:
    woman = decoded(require_shared(VIDEOS / "fer_woman2.mp4"))[:120]
    opens = [min(1.0, max(0.0, i - 30) / 30) for i in range(120)]  # black for a second, then fading in
    ends = [min(1.0, (119 - i) / 30) for i in range(120)]
    blinks = [0.0 if i == 60 else 1.0 for i in range(120)]  # a dropped, black frame
    for gains in (opens, ends, blinks):
        assert cuts_in(dimmed(woman, gains)) == []


def test_the_stage_clips_three_cuts_are_found_at_their_frames() -> None:
    frames = decoded(require_shared(VIDEOS / "short_hamilton_clip.mp4"))
    cuts = cuts_in(frames)
    assert [cut.frame_index for cut in cuts] == STAGE_CUTS
    assert [cut.t_ms for cut in cuts] == [round(frames[i][0]) for i in STAGE_CUTS]


def test_one_uninterrupted_shot_has_no_cut() -> None:
    assert cuts_in(decoded(require_shared(VIDEOS / "fer_woman2.mp4"))) == []


def test_a_photo_flash_is_not_a_cut_because_the_picture_comes_back() -> None:
    frames = flashed(decoded(require_shared(VIDEOS / "fer_woman2.mp4"))[:120], at=60)
    assert cuts_in(frames) == []
    assert [cut.frame_index for cut in cuts_in(frames, checked=False)] == [60]  # PySceneDetect's own verdict


def test_compression_noise_on_black_is_not_a_cut(tmp_path: Path) -> None:
    """A still white disc on black: at each keyframe the noise in the black swings hue and
    saturation, which PySceneDetect's score counts, while the pixels hardly move."""
    frames = decoded(write_anamorphic_video(tmp_path / "disc.mp4", frames=40, fps=10.0))
    assert [cut.frame_index for cut in cuts_in(frames, checked=False, fps=10.0)] != []  # PySceneDetect's verdict
    assert cuts_in(frames, fps=10.0) == []


def test_a_cut_in_the_last_half_second_counts_once_the_video_ends() -> None:
    stage = decoded(require_shared(VIDEOS / "short_hamilton_clip.mp4"))
    frames = stage[190:216]  # the crowd shot starts at 211: five frames before the end
    assert [cut.frame_index for cut in cuts_in(frames)] == [21]


def test_a_frame_it_cannot_read_stops_the_search_with_a_warning_not_the_video(
    caplog: pytest.LogCaptureFixture,
) -> None:
    finder = CutFinder(25.0)
    with caplog.at_level(logging.WARNING):
        finder.observe(0, 0.0, object())  # type: ignore[arg-type]  # not a frame
        finder.observe(1, 40.0, object())  # type: ignore[arg-type]
    finder.finish()
    assert finder.cuts == []
    assert finder.failed is not None
    assert sum("shot cuts are not looked for" in r.message for r in caplog.records) == 1


def test_a_live_sources_cuts_are_the_frames_sent_first_after_them_though_found_later() -> None:
    """The stage clip as a camera sends it at 5 fps (every 6th frame): its cuts at frames 20, 82
    and 211 are confirmed half a second on, by when later frames have gone; each shot begins at
    the first frame sent at or after its cut (frames 24, 84 and 216: sent as 4, 14 and 36)."""
    cuts, starts = CameraCuts(29.97), []
    for number, (_, frame) in enumerate(decoded(require_shared(VIDEOS / "short_hamilton_clip.mp4"))):
        next_index = (number + 5) // 6  # frames 0, 6, 12, ... are sent as 0, 1, 2, ...
        starts += cuts.observe(number, frame, next_index)
        if number % 6 == 0:
            cuts.sent(number, number // 6)
    assert starts == [4, 14, 36]


@pytest.mark.parametrize("steps", [8, 15, 60, 75, 90, 120])  # 0.27 to 4 s; a long one holds shorter ones
def test_a_dissolve_is_one_cut_within_it(steps: int) -> None:
    """Frame by frame a dissolve changes the picture too little for the content score, and it
    never darkens; its frames are mixes of the two shots."""
    woman = decoded(require_shared(VIDEOS / "fer_woman2.mp4"))
    stage = decoded(require_shared(VIDEOS / "short_hamilton_clip.mp4"))
    frames = dissolved(woman[:150], stage[86:211], steps)  # the performer's shot; mixed from 150 - steps to 149
    assert [cut.frame_index for cut in cuts_in(frames, checked=False)] == []  # PySceneDetect misses it
    (cut,) = cuts_in(frames)
    assert 150 - steps <= cut.frame_index < 150
    assert cut.t_ms == round(frames[cut.frame_index][0])


def test_a_fade_through_white_is_one_cut_though_its_frames_are_mixes_too() -> None:
    """Each frame of a fade to white is its picture mixed with white, and across the white what is
    left of the shot before and of the shot after: no stretch that spans its palest frames is a
    dissolve, or the fade would be cut twice, around a shot of white."""
    woman = decoded(require_shared(VIDEOS / "fer_woman2.mp4"))
    stage = decoded(require_shared(VIDEOS / "short_hamilton_clip.mp4"))
    rising = [(i + 1) / 15 for i in range(15)]
    frames = woman[:75] + whitened(woman[75:90], rising) + whitened(stage[100:115], rising[::-1]) + stage[115:190]
    (cut,) = cuts_in(frames)
    assert 75 <= cut.frame_index <= 105


def test_a_pan_or_a_zoom_changes_the_picture_as_much_but_is_not_a_dissolve() -> None:
    woman = decoded(require_shared(VIDEOS / "fer_woman2.mp4"))[:90]
    panned, zoomed = moving_camera(woman, pan=0.5, zoom=1.0), moving_camera(woman, pan=0.0, zoom=2.0)
    for frames in (panned, zoomed):
        thumbnails = [grey(np.asarray(frame.to_ndarray(format="bgr24"), np.uint8)) for _, frame in frames]
        assert float(np.abs(thumbnails[-1] - thumbnails[0]).mean()) >= 10  # as much as a cut's change
        assert cuts_in(frames) == []


def textured(rng: np.random.Generator) -> npt.NDArray[np.float32]:
    """A grey thumbnail with a picture's contrast: a coarse random pattern, enlarged smoothly."""
    coarse = rng.uniform(0, 255, (9, 16)).astype(np.float32)
    return np.asarray(np.clip(cv2.resize(coarse, (64, 36), interpolation=cv2.INTER_CUBIC), 0, 255), np.float32)


def test_is_dissolve_tells_a_mix_of_two_pictures_from_what_else_changes_a_picture_gradually() -> None:
    rng = np.random.default_rng(0)
    first, last = textured(rng), textured(rng)
    mix = [np.asarray((1 - q) * first + q * last, np.float32) for q in (0.0, 0.25, 0.5, 0.75, 1.0)]
    assert is_dissolve(mix)
    assert not is_dissolve([*mix[:4], first + 1])  # the ends hardly differ
    dimmed = [np.asarray(first * gain, np.float32) for gain in (1.0, 0.85, 0.7, 0.55, 0.4)]
    assert not is_dissolve(dimmed)  # a fade out: the ends are one picture lit differently
    shifted = [np.asarray(np.roll(first, 6 * k, axis=1), np.float32) for k in range(5)]
    assert not is_dissolve(shifted)  # a pan: what is between is not a mix of the ends
    cut = [first, first, last, last, last]
    assert not is_dissolve(cut)  # a cut inside the stretch: the second picture's share jumps


def test_a_fades_black_and_pale_frames_are_faded_a_pictures_are_not() -> None:
    picture = textured(np.random.default_rng(1))
    assert not faded(picture)
    assert faded(np.zeros((36, 64), np.float32))  # black
    assert faded(np.asarray(picture * 0.04, np.float32))  # nearly black
    assert faded(np.full((36, 64), 250, np.float32))  # white
    assert faded(np.asarray(picture * 0.1 + 255 * 0.9, np.float32))  # nearly white
    assert not faded(np.asarray(picture * 0.5 + 255 * 0.5, np.float32))  # half: still a picture


def test_a_live_source_whose_frames_are_not_all_looked_at_still_has_its_dissolve_found() -> None:
    """A camera's frames that PyAV did not decode are not looked at: the stretches over them are
    not tested, the others are."""
    woman = decoded(require_shared(VIDEOS / "fer_woman2.mp4"))
    stage = decoded(require_shared(VIDEOS / "short_hamilton_clip.mp4"))
    frames = dissolved(woman[:150], stage[100:200], 15)
    cuts, starts = CameraCuts(29.97), []
    for number, (_, frame) in enumerate(frames):
        starts += cuts.observe(number, None if number % 10 == 3 else frame, number)
        cuts.sent(number, number)
    (start,) = starts
    assert 135 <= start < 150
