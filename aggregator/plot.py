"""``timeline.png``: one row per person, their emotion over time as coloured bands."""

import io

import matplotlib

matplotlib.use("Agg")  # no display: files only

import matplotlib.pyplot as plt
from matplotlib.patches import Patch

from aggregator.people import Segment
from aggregator.smoothing import UNCERTAIN
from emostream.labels import EMOTION_COLORS, EMOTIONS

ROW_HEIGHT_IN = 0.45
WIDTH_IN = 10.0


def timeline_png(segments: list[Segment], duration_ms: int, title: str) -> bytes:
    """The plot as PNG bytes (also embedded in report.html)."""
    tracks = sorted({s.track for s in segments})
    height = 1.4 + ROW_HEIGHT_IN * max(1, len(tracks))
    figure, axes = plt.subplots(figsize=(WIDTH_IN, height), dpi=100)
    try:
        for row, track in enumerate(tracks):
            for s in (s for s in segments if s.track == track):
                span = max(s.end_ms - s.start_ms, 1) / 1000
                axes.broken_barh([(s.start_ms / 1000, span)], (row - 0.4, 0.8), color=EMOTION_COLORS[s.label])
        axes.set_yticks(range(len(tracks)), [f"person {t}" for t in tracks])
        axes.set_ylim(-0.6, max(len(tracks), 1) - 0.4)
        axes.invert_yaxis()
        axes.set_xlim(0, max(duration_ms, 1) / 1000)
        axes.set_xlabel("time (s)")
        axes.set_title(title if tracks else f"{title}: no person found")
        legend = [Patch(color=EMOTION_COLORS[label], label=label) for label in (*EMOTIONS, UNCERTAIN)]
        figure.legend(handles=legend, loc="lower center", ncol=8, frameon=False, fontsize="small")
        figure.tight_layout(rect=(0, 0.6 / height, 1, 1))  # room for the legend below the axis
        buffer = io.BytesIO()
        figure.savefig(buffer, format="png")
    finally:
        plt.close(figure)
    return buffer.getvalue()
