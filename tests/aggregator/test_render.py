"""annotated.mp4: H.264 a browser plays, same size and rate as the source, faces drawn or blurred."""

import json
from pathlib import Path

import av
import numpy as np
import pytest

from aggregator.render import SampledFaces, annotate, render_video
from emostream.errors import SourceError
from emostream.labels import EMOTIONS
from tests.conftest import write_damaged_video, write_variable_rate_video, write_video

BOX = [40, 30, 60, 50]


def face(track: int | None = 0, label: str = "happy") -> dict[str, object]:
    smoothed = {e: (0.8 if e == "happy" else 0.2 / 6) for e in EMOTIONS}
    return {"box": BOX, "track": track, "label": label, "smoothed": smoothed}


def analysed(
    folder: Path, sampled_every: int = 3, frames: int = 30, samples: list[tuple[int, int]] | None = None
) -> None:
    """The files the aggregator would have written for a video shown every 100 ms and sampled every
    few frames, or for the given samples: (frame index, t_ms)."""
    samples = samples or [(i, i * 100) for i in range(0, frames, sampled_every)]
    timeline = {
        "box_scale": 1.0,
        "frames": [{"index": i, "t_ms": t_ms, "status": "ok", "faces": [face()]} for i, t_ms in samples],
    }
    folder.mkdir(parents=True)
    (folder / "timeline.json").write_text(json.dumps(timeline))
    (folder / "segments.json").write_text(json.dumps([]))
    (folder / "timeline.png").write_bytes(b"")
    summary = {
        "video_id": "v", "source": "v.mp4", "status": "complete", "fps": 3.3, "frames_total": 10, "frames_failed": 0,
        "dominant_emotion": "happy", "people": [], "phantom_faces": 0,
    }  # fmt: skip
    (folder / "summary.json").write_text(json.dumps(summary))


def decoded(path: Path) -> tuple[str, int, int, float, list[np.ndarray]]:
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        images = [frame.to_ndarray(format="bgr24") for frame in container.decode(stream)]
        return stream.codec_context.name, stream.width, stream.height, float(stream.average_rate or 0), images


def test_every_source_frame_is_rendered_in_h264_at_the_source_size_and_rate(tmp_path: Path) -> None:
    source = write_video(tmp_path / "v.mp4", frames=30, fps=10.0, size=(160, 120))
    analysed(tmp_path / "out" / "v")
    stats = render_video(source, tmp_path / "out" / "v")
    codec, width, height, rate, images = decoded(stats.path)
    assert (codec, width, height, round(rate, 2), len(images)) == ("h264", 160, 120, 10.0, 30)
    assert stats.frames == 30
    report = (tmp_path / "out" / "v" / "report.html").read_text()
    assert 'src="annotated.mp4"' in report
    # Frame 1 was not sampled: it carries frame 0's box, drawn in the happy colour (F0E442 as BGR).
    top_edge = images[1][BOX[1], BOX[0] + 10 : BOX[0] + 50].astype(int)
    assert np.abs(top_edge.mean(axis=0) - [0x42, 0xE4, 0xF0]).max() < 40


def test_the_video_is_tagged_bt709_and_its_colours_come_back_as_drawn(tmp_path: Path) -> None:
    """Untagged, a player guesses the colour matrix (Chrome: BT.601 under 720 lines, BT.709 from
    720 up); the frames were converted with BT.601 at any size, so HD renders showed shifted colours."""
    source = write_video(tmp_path / "v.mp4", frames=6, fps=10.0, size=(160, 120))
    analysed(tmp_path / "out" / "v", sampled_every=1, frames=6)
    stats = render_video(source, tmp_path / "out" / "v")
    with av.open(str(stats.path)) as container:
        context = container.streams.video[0].codec_context
        tags = (context.colorspace, context.color_primaries, context.color_trc, context.color_range)
        frame = next(container.decode(video=0))
    assert tags == (1, 1, 1, 1)  # BT.709 matrix, primaries and transfer; video range
    shown = frame.to_ndarray(format="bgr24")  # converted as the tags say
    top_edge = shown[BOX[1], BOX[0] + 10 : BOX[0] + 50].astype(int)
    assert np.abs(top_edge.mean(axis=0) - [0x42, 0xE4, 0xF0]).max() < 12  # the happy colour, F0E442


def test_a_damaged_stretch_of_the_source_is_skipped_and_the_rest_rendered(tmp_path: Path) -> None:
    source = write_damaged_video(tmp_path / "d.avi", frames=30, damaged=range(10, 13))
    analysed(tmp_path / "out" / "d")
    stats = render_video(source, tmp_path / "out" / "d")
    with av.open(str(stats.path)) as container:
        times = [round(float(frame.time) * 1000) for frame in container.decode(video=0)]
    assert stats.frames == 27
    assert times == [i * 100 for i in range(30) if i not in (10, 11, 12)]


def test_blurring_hides_the_face_but_keeps_its_label() -> None:
    rng = np.random.default_rng(0)
    image = rng.integers(0, 256, (120, 160, 3), dtype=np.uint8)
    plain, blurred = image.copy(), image.copy()
    annotate(plain, [face()], 1.0, blur_faces=False)
    annotate(blurred, [face()], 1.0, blur_faces=True)
    x, y, w, h = BOX
    inside = (slice(y + 4, y + h - 4), slice(x + 4, x + w - 4))
    assert blurred[inside].std() < 0.3 * plain[inside].std()  # the face's detail is gone
    label_strip = (slice(y - 14, y - 4), slice(x, x + 30))
    assert np.array_equal(blurred[label_strip], plain[label_strip])  # the label is drawn the same


def test_a_phantom_is_blurred_but_not_labelled() -> None:
    image = np.full((120, 160, 3), 128, dtype=np.uint8)
    annotate(image, [face(track=None)], 1.0, blur_faces=False)
    assert (image == 128).all()


def test_rendering_before_analysing_says_what_is_missing(tmp_path: Path) -> None:
    source = write_video(tmp_path / "v.mp4", frames=5)
    with pytest.raises(SourceError, match="analyse the video first"):
        render_video(source, tmp_path / "out" / "v")


@pytest.mark.parametrize(
    ("recorded", "reason"),
    [
        ({"decoding": {"announced_ms": 2000, "announced_frames": 20}}, "30 frames long, not 20"),
        ({"decoding": {"announced_ms": 2000, "announced_frames": 0}}, "3.00 s long, not 2.00 s"),
        ({"width": 64, "height": 48}, "160x120, not 64x48"),
    ],
)
def test_a_file_other_than_the_one_analysed_is_refused_not_drawn_with_its_faces(
    tmp_path: Path, recorded: dict[str, object], reason: str
) -> None:
    """Another VID_0001.mp4: another length (as its container states it) or frame size."""
    source, folder = write_video(tmp_path / "v.mp4", frames=30), tmp_path / "out" / "v"
    analysed(folder)
    for name in ("summary.json", "timeline.json"):
        content = json.loads((folder / name).read_text())
        fields = {k: v for k, v in recorded.items() if (k == "decoding") == (name == "summary.json")}
        (folder / name).write_text(json.dumps({**content, **fields}))
    with pytest.raises(SourceError, match=f"not the video analysed as v: it is {reason}"):
        render_video(source, folder)
    assert list(folder.glob("*annotated*")) == []


def test_the_analysed_file_itself_passes_the_check(tmp_path: Path) -> None:
    source, folder = write_video(tmp_path / "v.mp4", frames=30), tmp_path / "out" / "v"
    analysed(folder)
    summary = json.loads((folder / "summary.json").read_text())
    (folder / "summary.json").write_text(
        json.dumps({**summary, "decoding": {"announced_ms": 3000, "announced_frames": 30}})
    )
    timeline = json.loads((folder / "timeline.json").read_text())
    (folder / "timeline.json").write_text(json.dumps({**timeline, "width": 160, "height": 120}))
    assert render_video(source, folder).frames == 30


def test_a_variable_frame_rate_keeps_its_times_and_every_frame_its_faces(tmp_path: Path) -> None:
    """60 fps for a second, then 10 fps, sampled every 100 ms: six frames to a sample, then one.
    Every frame still shows (or, blurred, hides) the face, and keeps its time."""
    times = [round(i * 1000 / 60) for i in range(60)] + [1000 + i * 100 for i in range(20)]
    source = write_variable_rate_video(tmp_path / "v.mp4", times)
    folder = tmp_path / "out" / "v"
    analysed(folder, samples=[(i, t) for i, t in enumerate(times) if i % 6 == 0 or i >= 60])
    stats = render_video(source, folder, blur_faces=True)
    with av.open(str(stats.path)) as container:
        frames = list(container.decode(video=0))
    shown = [(round(float(f.time or 0) * 1000), f.to_ndarray(format="bgr24")) for f in frames]
    assert [t for t, _ in shown] == times
    x, y = BOX[:2]
    for t, image in shown:  # the box's top edge, drawn in the happy colour (F0E442 as BGR), on every frame
        top_edge = image[y, x + 10 : x + 50].astype(int)
        assert np.abs(top_edge.mean(axis=0) - [0x42, 0xE4, 0xF0]).max() < 40, t


def test_each_frame_shows_the_faces_of_the_sample_nearest_in_time(tmp_path: Path) -> None:
    """Samples every third frame, each with its face somewhere else: the timeline is read alongside
    the source, and frames between samples take the nearer one's (frame 1 sample 0's, frame 2 sample 3's)."""
    source, folder = write_video(tmp_path / "v.mp4", frames=30, fps=10.0, size=(320, 120)), tmp_path / "out" / "v"
    analysed(folder)
    timeline = json.loads((folder / "timeline.json").read_text())
    for n, frame in enumerate(timeline["frames"]):
        frame["faces"] = [{**face(), "box": [10 + 25 * n, 30, 40, 40]}]
    (folder / "timeline.json").write_text(json.dumps(timeline, indent=1))  # as an older or edited file may be
    _, _, _, _, images = decoded(render_video(source, folder).path)
    for index, image in enumerate(images):
        sample = round(index / 3)  # the nearest sample in time: 0, 0, 1, 1, 1, 2, ...
        x = 10 + 25 * min(sample, 9)
        drawn = [x0 for x0 in range(0, 300, 25) if is_happy_edge(image, x0 + 10)]
        assert drawn == [x - 10], (index, drawn)


def is_happy_edge(image: np.ndarray, x: int) -> bool:
    """Whether the box's top edge at row 30, from ``x``, is drawn in the happy colour (F0E442 as BGR)."""
    return bool(np.abs(image[30, x + 5 : x + 30].astype(int).mean(axis=0) - [0x42, 0xE4, 0xF0]).max() < 40)


def test_faces_are_found_for_times_that_go_back(tmp_path: Path) -> None:
    """The timeline is read alongside the source, forward; a time before the last one read reads it again."""
    folder = tmp_path / "out" / "v"
    analysed(folder)
    timeline = json.loads((folder / "timeline.json").read_text())
    for n, frame in enumerate(timeline["frames"]):
        frame["faces"] = [{**face(), "box": [n, 0, 10, 10]}]
    (folder / "timeline.json").write_text(json.dumps(timeline))
    times = [float(frame["t_ms"]) for frame in timeline["frames"]]
    sampled = SampledFaces(folder / "timeline.json", times, frame_ms=100.0, scale=1.0)
    asked = [0, 100, 900, 300, 2700, 2800, 600, 3000]
    assert [sampled.faces_at(t)[0]["box"][0] if sampled.faces_at(t) else None for t in asked] == [
        0, 0, 3, 1, 9, 9, 2, 9,
    ]  # fmt: skip
