"""``timeline.png``: one row per person, their emotion over time as coloured bands.

At most ``MAX_PEOPLE`` rows, the people seen in the most frames, in order of appearance: past
that a plot is unreadable, and its cost grows with its rows (1,600 people took 10.8 s and made a
72,000 px tall image, embedded in ``report.html``). The files and the report's tables keep everyone.
"""

import io
from collections import Counter
from collections.abc import Sequence

import matplotlib

matplotlib.use("Agg")  # no display: files only

import matplotlib.pyplot as plt
from matplotlib.figure import Figure
from matplotlib.patches import Patch

from aggregator.segments import Segment
from aggregator.smoothing import UNCERTAIN
from emostream.labels import EMOTION_COLORS, EMOTIONS

ROW_HEIGHT_IN = 0.45
WIDTH_IN = 10.0
# Fixed margins, in inches, instead of tight_layout: it renders the whole figure once more just to
# measure it, a third of the plot's cost (141 segments of 50 people: 450 -> 250 to 330 ms with the
# grouped bars below). Left holds "person 123456"; bottom the time axis and the legend under it.
MARGIN_IN = {"left": 1.3, "right": 0.25, "top": 0.45, "bottom": 1.0}
MAX_PEOPLE = 50


def timeline_png(segments: list[Segment], duration_ms: int, title: str, cuts_ms: Sequence[int] = ()) -> bytes:
    """The plot as PNG bytes (also embedded in report.html)."""
    figure = timeline_figure(segments, duration_ms, title, cuts_ms)
    try:
        buffer = io.BytesIO()
        figure.savefig(buffer, format="png")
    finally:
        plt.close(figure)
    return buffer.getvalue()


def timeline_figure(segments: list[Segment], duration_ms: int, title: str, cuts_ms: Sequence[int] = ()) -> Figure:
    """The plot, drawn by the caller and closed with ``plt.close``; a dotted line at each shot cut."""
    by_person: dict[int, list[Segment]] = {}
    for s in segments:
        by_person.setdefault(s.track, []).append(s)
    frames = Counter({track: sum(s.frames for s in mine) for track, mine in by_person.items()})
    tracks = sorted(track for track, _ in frames.most_common(MAX_PEOPLE))
    if len(frames) > len(tracks):
        title = f"{title}: the {len(tracks)} people seen longest, of {len(frames)}"
    height = 1.4 + ROW_HEIGHT_IN * max(1, len(tracks))
    figure, axes = plt.subplots(figsize=(WIDTH_IN, height), dpi=100)
    for row, track in enumerate(tracks):
        mine = by_person[track]
        spans = [(s.start_ms / 1000, max(s.end_ms - s.start_ms, 1) / 1000) for s in mine]
        # One collection per person, not per segment: drawing cost grows with artists.
        axes.broken_barh(spans, (row - 0.4, 0.8), facecolors=[EMOTION_COLORS[s.label] for s in mine])
    axes.set_yticks(range(len(tracks)), [f"person {t}" for t in tracks])
    axes.set_ylim(-0.6, max(len(tracks), 1) - 0.4)
    if cuts_ms:
        axes.vlines([t / 1000 for t in cuts_ms], -0.6, max(len(tracks), 1) - 0.4, colors="#777", linestyles="dotted")
    axes.invert_yaxis()
    axes.set_xlim(0, max(duration_ms, 1) / 1000)
    axes.set_xlabel("time (s)")
    axes.set_title(title if tracks else f"{title}: no person found")
    legend = [Patch(color=EMOTION_COLORS[label], label=label) for label in (*EMOTIONS, UNCERTAIN)]
    figure.legend(handles=legend, loc="lower center", ncol=8, frameon=False, fontsize="small")
    figure.subplots_adjust(
        left=MARGIN_IN["left"] / WIDTH_IN, right=1 - MARGIN_IN["right"] / WIDTH_IN,
        top=1 - MARGIN_IN["top"] / height, bottom=MARGIN_IN["bottom"] / height,
    )  # fmt: skip
    return figure
