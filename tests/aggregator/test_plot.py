import io

import matplotlib.pyplot as plt
import numpy as np
import pytest
from matplotlib.collections import LineCollection, PolyCollection
from matplotlib.colors import to_rgba
from PIL import Image

from aggregator.plot import MAX_PEOPLE, WIDTH_IN, timeline_figure, timeline_png
from aggregator.segments import Segment
from emostream.labels import EMOTION_COLORS

SEGMENTS = [
    Segment(track=3, label="happy", start_ms=0, end_ms=900, frames=9, mean_confidence=0.9),
    Segment(track=3, label="sad", start_ms=900, end_ms=2000, frames=11, mean_confidence=0.8),
    Segment(track=123456, label="uncertain", start_ms=500, end_ms=1500, frames=10, mean_confidence=0.4),
]


def test_each_person_is_one_row_coloured_by_their_segments() -> None:
    figure = timeline_figure(SEGMENTS, 2000, "clip.mp4")
    try:
        axes = figure.axes[0]
        rows = [c for c in axes.collections if isinstance(c, PolyCollection)]
        assert [t.get_text() for t in axes.get_yticklabels()] == ["person 3", "person 123456"]
        assert len(rows) == 2
        colours = [tuple(c) for c in np.asarray(rows[0].get_facecolor())]
        assert colours == [to_rgba(EMOTION_COLORS["happy"]), to_rgba(EMOTION_COLORS["sad"])]
    finally:
        plt.close(figure)


def test_each_shot_cut_is_a_line_across_every_row() -> None:
    figure = timeline_figure(SEGMENTS, 2000, "clip.mp4", cuts_ms=[950])
    uncut = timeline_figure(SEGMENTS, 2000, "clip.mp4")
    try:
        (lines,) = [c for c in figure.axes[0].collections if isinstance(c, LineCollection)]
        ((start, end),) = lines.get_segments()
        assert start[0] == end[0] == 0.95
        assert sorted((start[1], end[1])) == [-0.6, 1.6]  # both rows
        assert not [c for c in uncut.axes[0].collections if isinstance(c, LineCollection)]
    finally:
        plt.close(figure)
        plt.close(uncut)


@pytest.mark.parametrize("segments", [SEGMENTS, []], ids=["people", "nobody"])
def test_labels_title_and_legend_fit_in_the_fixed_margins(segments: list[Segment]) -> None:
    figure = timeline_figure(segments, 2000, "a-rather-long-video-name-2026-12-06.mp4")
    try:
        renderer = figure.canvas.get_renderer()  # type: ignore[attr-defined]
        bounds = figure.bbox
        texts = [*figure.axes[0].get_yticklabels(), figure.axes[0].title, *figure.legends]
        for text in texts:
            box = text.get_window_extent(renderer)
            assert bounds.x0 <= box.x0, text
            assert box.x1 <= bounds.x1, text
            assert bounds.y0 <= box.y0, text
            assert box.y1 <= bounds.y1, text
    finally:
        plt.close(figure)


def test_png_is_ten_inches_wide_and_grows_with_people() -> None:
    one = Image.open(io.BytesIO(timeline_png(SEGMENTS[:2], 2000, "clip")))
    two = Image.open(io.BytesIO(timeline_png(SEGMENTS, 2000, "clip")))
    assert one.format == "PNG"
    assert one.width == two.width == WIDTH_IN * 100
    assert two.height > one.height


def test_a_crowd_is_plotted_as_the_people_seen_longest_in_order_of_appearance() -> None:
    crowd = [Segment(t, "happy", t * 100, t * 100 + 500, frames=1 + t % 7, mean_confidence=0.9) for t in range(120)]
    figure = timeline_figure(crowd, 13_000, "crowd.mp4")
    try:
        axes = figure.axes[0]
        shown = [int(t.get_text().removeprefix("person ")) for t in axes.get_yticklabels()]
        longest = sorted(range(120), key=lambda t: -(1 + t % 7))[:MAX_PEOPLE]
        assert shown == sorted(longest)
        assert axes.get_title() == f"crowd.mp4: the {MAX_PEOPLE} people seen longest, of 120"
    finally:
        plt.close(figure)
