"""``report.html``: one self-contained page per video (no network needed to view it).

The plot is embedded as a data URL; the annotated video, when rendered, is the sibling file
``annotated.mp4`` in the same folder, played by the browser's own ``<video>`` element.
"""

import base64
import html
from collections.abc import Iterable, Sequence
from typing import Any

from aggregator.segments import Segment
from emostream.labels import EMOTION_COLORS

STYLE = """
body{font-family:system-ui,sans-serif;margin:2em auto;max-width:64em;color:#222}
table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #ccc;padding:.25em .6em;text-align:left}
th{background:#f4f4f4}.chip{display:inline-block;width:.9em;height:.9em;border-radius:.2em;margin-right:.3em;
vertical-align:middle}img,video{max-width:100%}.muted{color:#666}
.warning{background:#fff4ce;border-left:.3em solid #d89b00;padding:.5em .8em;margin:1em 0}
"""


def report_html(summary: dict[str, Any], segments: Sequence[Segment], png: bytes, has_video: bool) -> str:
    title = f"emostream: {summary['video_id']}"
    parts = [
        f"<!doctype html><html lang=en><head><meta charset=utf-8><title>{_e(title)}</title>",
        f"<style>{STYLE}</style></head><body><h1>{_e(title)}</h1>",
        *(f"<p class=warning>{_e(warning)}</p>" for warning in summary.get("warnings", [])),
        _overview(summary),
        f'<img alt="emotion timeline per person" src="data:image/png;base64,{base64.b64encode(png).decode()}">',
    ]
    if has_video:
        parts.append('<h2>Annotated video</h2><video controls preload="metadata" src="annotated.mp4"></video>')
    parts += [
        "<h2>People</h2>",
        _table(
            ("person", "first (s)", "last (s)", "frames", "dominant emotion"),
            (
                (p["track"], _s(p["first_ms"]), _s(p["last_ms"]), p["frames"], _chip(p["dominant_emotion"]))
                for p in summary["people"]
            ),
        ),
        "<h2>Segments</h2>",
        _table(
            ("person", "emotion", "from (s)", "to (s)", "frames", "mean confidence"),
            (
                (s.track, _chip(s.label), _s(s.start_ms), _s(s.end_ms), s.frames, f"{s.mean_confidence:.2f}")
                for s in segments
            ),
        ),
        "<p class=muted>Made by emostream. Labels are a model's guess from facial expression alone, not a "
        "statement of what anyone feels; faces below the confidence threshold are labelled uncertain.</p>",
        "</body></html>",
    ]
    return "\n".join(parts) + "\n"


def _overview(summary: dict[str, Any]) -> str:
    rows = [
        ("status", summary["status"]),
        ("source", summary["source"]),
        ("frames analysed", f"{summary['frames_total']} at {summary['fps']:g} fps ({summary['frames_failed']} failed)"),
        ("people", len(summary["people"])),
        ("shots", summary.get("shots") or "not looked for"),
        ("phantom faces (left out)", summary["phantom_faces"]),
        ("dominant emotion", summary["dominant_emotion"] or "none"),
        ("detector / model", f"{summary.get('detector')} / {summary.get('model_version')}"),
    ]
    return _table(("", ""), rows, show_header=False)


def _table(header: Sequence[str], rows: Iterable[Sequence[object]], show_header: bool = True) -> str:
    head = "<tr>" + "".join(f"<th>{_e(h)}</th>" for h in header) + "</tr>" if show_header else ""
    body = "".join("<tr>" + "".join(f"<td>{_cell(v)}</td>" for v in row) + "</tr>" for row in rows)
    return f"<table>{head}{body}</table>"


class _Markup(str):
    """Already-escaped HTML (a colour chip)."""


def _chip(label: str) -> _Markup:
    color = EMOTION_COLORS.get(label, "#000")
    return _Markup(f'<span class=chip style="background:{color}"></span>{_e(label)}')


def _cell(value: object) -> str:
    return value if isinstance(value, _Markup) else _e(str(value))


def _e(text: object) -> str:
    return html.escape(str(text), quote=True)


def _s(ms: int) -> str:
    return f"{ms / 1000:.1f}"
