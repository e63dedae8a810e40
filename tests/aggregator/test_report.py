"""report.html: one self-contained page."""

import re

from aggregator.report import report_html
from aggregator.segments import Segment


def summary(video_id: str = "clip") -> dict[str, object]:
    return {
        "video_id": video_id, "source": "clip.mp4", "status": "complete", "fps": 10.0, "frames_total": 20,
        "frames_failed": 0, "dominant_emotion": "happy", "detector": "yunet-2023mar", "model_version": "m",
        "phantom_faces": 1, "shots": 3,
        "people": [{"track": 0, "first_ms": 0, "last_ms": 1900, "frames": 20, "dominant_emotion": "happy"}],
    }  # fmt: skip


SEGMENTS = [Segment(0, "neutral", 0, 1000, 10, 0.7), Segment(0, "happy", 1000, 2000, 10, 0.9)]


def test_the_report_needs_no_network_and_embeds_its_plot() -> None:
    page = report_html(summary(), SEGMENTS, b"\x89PNG fake", has_video=False)
    assert not re.search(r"""(src|href)=["']?(https?:)?//""", page)
    assert 'src="data:image/png;base64,' in page
    assert "<video" not in page
    assert page.count("<tr>") == 8 + 2 + 3  # overview, people (header + 1), segments (header + 2)
    assert "<tr><td>shots</td><td>3</td></tr>" in page
    assert "<td>not looked for</td>" in report_html({**summary(), "shots": None}, SEGMENTS, b"", False)


def test_the_report_shows_the_annotated_video_beside_it_when_rendered() -> None:
    assert '<video controls preload="metadata" src="annotated.mp4">' in report_html(summary(), SEGMENTS, b"", True)


def test_text_from_the_source_is_escaped() -> None:
    page = report_html({**summary(), "source": "<script>alert(1)</script>.mp4"}, [], b"", False)
    assert "<script>" not in page
    assert "&lt;script&gt;" in page
