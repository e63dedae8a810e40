"""The browser pages: what a user's text becomes, which links are offered, when the list reloads."""

import re
from typing import Any

from api import pages

HOSTILE = '<script>alert("x")</script>.mp4'


def video(status: str = "complete", outputs: tuple[str, ...] = (), **more: Any) -> dict[str, Any]:
    return {"video_id": "talk-3f9a1c2e", "status": status, "source": HOSTILE, "frames_processed": 20,
            "frames_expected": 20, "created_at": 1_765_000_000.0, "outputs": list(outputs), **more}  # fmt: skip


def test_a_users_text_is_escaped_everywhere_it_is_shown() -> None:
    failed = video("failed", error='cannot open <img src=x onerror="y">')
    camera = {"camera_id": "lobby", "state": "retrying", "last_error": "<b>refused</b>"}
    page = pages.videos_page([video(), failed], [camera], notice="<i>accepted</i>")
    for tag in ("<script", "<img", "<b>", "<i>"):
        assert tag not in page
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;.mp4" in page
    assert "&lt;b&gt;refused&lt;/b&gt;" in page
    assert "<script" not in pages.sign_in_page('<script>"')


def test_results_are_linked_only_where_their_files_were_written() -> None:
    page = pages.videos_page([video(outputs=("report.html", "timeline.csv", "summary.json"))], [])
    links = re.findall(r'href="(/v1/[^"]+)"', page)
    assert links == ["/v1/videos/talk-3f9a1c2e/report", "/v1/videos/talk-3f9a1c2e/timeline.csv"]


def test_the_list_reloads_itself_only_while_a_video_is_in_progress_and_the_upload_form_never() -> None:
    assert "http-equiv=refresh" in pages.videos_page([video(), video("producing")], [])
    assert "http-equiv=refresh" not in pages.videos_page([video(), video("partial"), video("failed")], [])
    assert "http-equiv=refresh" not in pages.upload_page()


def test_the_list_says_when_it_shows_only_the_newest() -> None:
    assert "The 1 newest of 51" in pages.videos_page([video()], [], total=51)
    assert "newest of" not in pages.videos_page([video()], [], total=1)


def test_a_cameras_page_shows_its_pictures_size_and_the_advice_status_gives() -> None:
    advice = "40% of the faces found were under 30 px wide in frames downscaled from 3840x2160 to 1280x720"
    camera = {"camera_id": "lobby", "state": "running", "width": 3840, "height": 2160, "frame_side_px": 1280,
              "warnings": [advice], "windows": {}}  # fmt: skip
    page = pages.camera_page(camera)
    assert "<td>pictures</td><td>3840x2160, sent at 1280x720</td>" in page
    assert f"<p class=warning>{advice}</p>" in page
    assert "pictures" not in pages.camera_page({"camera_id": "lobby", "state": "connecting", "windows": {}})
