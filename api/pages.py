"""The API's few HTML pages, for a browser: sign in, recent videos with links to their results,
an upload form, a delete confirmation, the cameras and each camera's latest windows. Plain
server-rendered HTML without scripts; every value from a user (file names, ids, reasons) is
escaped."""

import html
import time
from collections.abc import Iterable, Sequence
from typing import Any

from emostream.labels import EMOTION_COLORS
from emostream.smallfaces import sent_size

# No scripts at all, styles inline, pictures as data URLs (the report's plot), the annotated
# video from this server; forms post only here; never framed by another site.
CONTENT_SECURITY_POLICY = (
    "default-src 'none'; style-src 'unsafe-inline'; img-src data:; media-src 'self'; "
    "form-action 'self'; base-uri 'none'; frame-ancestors 'none'"
)
# Pages and reports run no scripts and load nothing from elsewhere, whatever a file name holds
# (FastAPI's /docs, which loads Swagger UI from a CDN, is left as it is).
HEADERS = {"Content-Security-Policy": CONTENT_SECURITY_POLICY, "X-Content-Type-Options": "nosniff",
           "Cache-Control": "no-store"}  # fmt: skip
IN_PROGRESS = ("queued", "producing", "produced")
REFRESH_S = 10  # while a video is in progress, the list reloads itself (the upload form is a page of its own)
LINKED_OUTPUTS = (  # file in the video's folder -> (route, link text)
    ("report.html", "report", "report"),
    ("annotated.mp4", "annotated.mp4", "video"),
    ("timeline.csv", "timeline.csv", "CSV"),
    ("segments.json", "segments", "segments"),
)

BACK = '<p><a href="/">Back to the videos</a></p>'
SIGN_OUT = '<form method=post action="/session/end"><button>Sign out</button></form>'

STYLE = """
body{font-family:system-ui,sans-serif;margin:2em auto;max-width:64em;color:#222}
table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #ccc;padding:.25em .6em;text-align:left}
th{background:#f4f4f4}.muted{color:#666}form{margin:1em 0}
.notice{background:#e8f4ea;border-left:.3em solid #2e7d32;padding:.5em .8em}
.error{background:#fdecea;border-left:.3em solid #c62828;padding:.5em .8em}
.warning{background:#fff4ce;border-left:.3em solid #d89b00;padding:.5em .8em}
.bar{display:flex;width:16em;height:1em;border:1px solid #ccc}.bar span{display:block;height:100%}
.chip{display:inline-block;width:.8em;height:.8em;margin:0 .2em 0 .6em;vertical-align:middle}
"""
WINDOWS = (("10s", "Last 10 s windows"), ("1m", "Last 1 min windows"))
CAMERA_COUNTERS = ("fps", "frames_sent", "frames_dropped", "undecodable_packets", "reconnects", "backlog")


def sign_in_page(error: str | None = None) -> str:
    return _page(
        "emostream: sign in",
        *([f"<p class=error>{_e(error)}</p>"] if error else []),
        # The hidden user name lets a password manager keep the token as "emostream"'s.
        '<form method=post action="/session"><input type=text name=username value=emostream autocomplete=username '
        "hidden><label>API token <input type=password name=token required autocomplete=current-password autofocus>"
        "</label> <button>Sign in</button></form>",
        "<p class=muted>The token is one of the API's (<code>EMO_API_TOKENS</code>). Signing in keeps a cookie "
        "for this browser; the token itself is not kept.</p>",
    )


def videos_page(
    videos: Sequence[dict[str, Any]], cameras: Sequence[dict[str, Any]], notice: str = "", total: int | None = None
) -> str:
    refresh = any(v["status"] in IN_PROGRESS for v in videos)
    more = total is not None and total > len(videos)
    only_newest = f"<p class=muted>The {len(videos)} newest of {total}; every one: <code>GET /v1/videos</code>.</p>"
    return _page(
        "emostream",
        '<p><a href="/upload">Upload a video</a></p>',
        *([f"<p class=notice>{_e(notice)}</p>"] if notice else []),
        "<h2>Videos</h2>",
        *([only_newest] if more else []),
        _table(("video", "source", "status", "frames", "added (UTC)", "results"), map(_video_row, videos))
        if videos
        else "<p class=muted>No videos yet.</p>",
        *(["<h2>Cameras</h2>", _table(("camera", "state", ""), map(_camera_row, cameras))] if cameras else []),
        SIGN_OUT,
        head=f'<meta http-equiv=refresh content="{REFRESH_S}">' if refresh else "",
    )


def camera_page(camera: dict[str, Any]) -> str:
    """A camera's state and counters, and its latest windows: faces, people, emotions."""
    error = camera.get("last_error") or ""
    facts = [("state", _e(camera.get("state", "")) + (f" (since {_when(camera.get('state_since'), True)})"
                                                       if camera.get("state_since") else ""))]  # fmt: skip
    facts += [(name.replace("_", " "), _e(camera[name])) for name in CAMERA_COUNTERS if name in camera]
    facts += [("last error", _e(error))] if error else []
    if camera.get("width"):
        sent = "x".join(map(str, sent_size(camera["width"], camera["height"], camera["frame_side_px"])))
        facts.append(("pictures", f"{camera['width']}x{camera['height']}, sent at {sent}"))
    parts = [
        *(f"<p class=warning>{_e(warning)}</p>" for warning in camera.get("warnings", [])),
        _table(("", ""), facts, header_row=False),
        _legend(),
    ]
    for name, title in WINDOWS:
        windows = camera.get("windows", {}).get(name, [])
        parts.append(f"<h2>{title}</h2>")
        parts.append(
            _table(("start (UTC)", "faces", "people", "dominant", "emotions", "frames (dropped)", "latency p95"),
                   map(_window_row, windows))
            if windows else "<p class=muted>No window closed yet.</p>"
        )  # fmt: skip
    return _page(f"emostream: camera {camera.get('camera_id', '')}", *parts, BACK,
                 head=f'<meta http-equiv=refresh content="{REFRESH_S}">')  # fmt: skip


def _window_row(window: dict[str, Any]) -> tuple[str, ...]:
    shares = window.get("emotion_share", {})
    bar = "".join(
        f'<span title="{_e(label)} {share:.0%}" style="width:{share * 100:.1f}%;background:{EMOTION_COLORS[label]}">'
        "</span>"
        for label, share in shares.items() if label in EMOTION_COLORS and share > 0
    )  # fmt: skip
    latency = window.get("latency_ms_p95")
    return (
        _e(str(window.get("start", ""))[11:19]), _e(window.get("faces", 0)), _e(window.get("people", 0)),
        _e(window.get("dominant_emotion") or "none"), f"<div class=bar>{bar}</div>",
        f"{_e(window.get('frames_processed', 0))} ({_e(window.get('frames_dropped', 0))})",
        f"{latency:.0f} ms" if isinstance(latency, (int, float)) else "",
    )  # fmt: skip


def _legend() -> str:
    return "<p>" + "".join(f'<span class=chip style="background:{c}"></span>{label}'
                           for label, c in EMOTION_COLORS.items() if label != "uncertain") + "</p>"  # fmt: skip


def upload_page() -> str:
    return _page(
        "emostream: upload a video",
        '<form method=post action="/upload" enctype="multipart/form-data"><p><input type=file name=file required '
        'accept="video/*,image/gif"></p><p><label><input type=checkbox name=render value=true> also draw the '
        "annotated video (boxes, people and emotions on the frames)</label></p><p><button>Upload</button></p></form>",
        BACK,
        SIGN_OUT,
    )


def delete_page(video: dict[str, Any]) -> str:
    """Asked once more: what goes, and that it cannot be undone."""
    video_id = _e(video["video_id"])
    return _page(
        f"emostream: delete {video['video_id']}",
        f"<p>Delete <b>{video_id}</b> ({_e(video.get('source', ''))}): its results, report and annotated video, "
        "and what Redis holds of it? This cannot be undone.</p>",
        f'<form method=post action="/videos/{video_id}/delete"><button>Delete</button></form>',
        BACK,
    )


def message_page(title: str, detail: str, back: bool = True) -> str:
    return _page(
        f"emostream: {title}", f"<p class=error>{_e(detail)}</p>", *([BACK] if back else []),
    )  # fmt: skip


def _video_row(video: dict[str, Any]) -> tuple[str, ...]:
    video_id = video["video_id"]
    expected = video.get("frames_expected")
    frames = f"{video.get('frames_processed', 0)} / {expected if expected is not None else '?'}"
    present = set(video.get("outputs", []))
    links = [
        f'<a href="/v1/videos/{_e(video_id)}/{route}">{text}</a>'
        for filename, route, text in LINKED_OUTPUTS
        if filename in present
    ]
    if video["status"] not in IN_PROGRESS:  # one still being sent is stopped through the JSON API
        links.append(f'<a href="/videos/{_e(video_id)}/delete">delete</a>')
    status = _e(video["status"]) + (f"<br><span class=muted>{_e(video['error'])}</span>" if video.get("error") else "")
    return (_e(video_id), _e(video.get("source", "")), status, frames, _when(video.get("created_at")), " ".join(links))


def _camera_row(camera: dict[str, Any]) -> tuple[str, ...]:
    camera_id = str(camera.get("camera_id", ""))
    error = camera.get("last_error") or ""
    state = _e(camera.get("state", "")) + (f"<br><span class=muted>{_e(error)}</span>" if error else "")
    return _e(camera_id), state, f'<a href="/cameras/{_e(camera_id)}">windows</a>'


def _when(epoch: float | None, seconds: bool = False) -> str:
    return time.strftime("%Y-%m-%d %H:%M" + (":%S" if seconds else ""), time.gmtime(epoch)) if epoch else ""


def _table(header: Sequence[str], rows: Iterable[Sequence[str]], header_row: bool = True) -> str:
    """Cells are HTML already (escaped where they hold a user's text)."""
    head = "<tr>" + "".join(f"<th>{_e(h)}</th>" for h in header) + "</tr>" if header_row else ""
    return (
        f"<table>{head}"
        + "".join("<tr>" + "".join(f"<td>{c}</td>" for c in row) + "</tr>" for row in rows)
        + "</table>"
    )


def _page(title: str, *parts: str, head: str = "") -> str:
    return (
        f"<!doctype html><html lang=en><head><meta charset=utf-8><title>{_e(title)}</title>{head}"
        f"<style>{STYLE}</style></head><body><h1>{_e(title)}</h1>\n" + "\n".join(parts) + "\n</body></html>\n"
    )


def _e(text: object) -> str:
    return html.escape(str(text), quote=True)
