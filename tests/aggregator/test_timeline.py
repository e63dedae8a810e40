"""What a summary and a timeline say beside their figures: advice drawn from the results, and the shots."""

from aggregator.people import analyse_people
from aggregator.timeline import small_faces_advice, summary, timeline
from emostream.labels import EMOTIONS
from emostream.registry import VideoRecord, encode_cuts
from emostream.schema import Face
from emostream.smallfaces import SMALL_FACE_PX


def faces(widths: list[int]) -> list[Face]:
    probs = tuple(1.0 if emotion == "happy" else 0.0 for emotion in EMOTIONS)
    return [Face(box=(10, 10, width, width), score=0.9, probs=probs, emotion="happy") for width in widths]


def record(width: int, height: int, frame_side_px: int = 1280) -> VideoRecord:
    return VideoRecord(video_id="v", status="complete", width=width, height=height, frame_side_px=frame_side_px)


def test_many_faces_near_the_smallest_found_in_downscaled_frames_say_how_to_find_smaller_ones() -> None:
    advice = small_faces_advice(record(1920, 1080), faces([SMALL_FACE_PX - 4] * 10 + [60] * 90))
    assert advice is not None
    assert "10% of the faces found were under 30 px wide" in advice
    assert "downscaled from 1920x1080 to 1280x720" in advice
    assert "--max-frame-side 1920" in advice
    portrait = small_faces_advice(record(2160, 3840), faces([20] * 10))
    assert portrait is not None
    assert "from 2160x3840 to 720x1280" in portrait
    assert "--max-frame-side 3840" in portrait


def test_no_advice_where_frames_were_not_downscaled_or_few_faces_are_small() -> None:
    assert small_faces_advice(record(1280, 720), faces([20] * 10)) is None  # nothing larger to look at
    assert small_faces_advice(record(1920, 1080, frame_side_px=1920), faces([20] * 10)) is None
    assert small_faces_advice(record(1920, 1080), faces([20] * 10 + [60] * 190)) is None  # 5 %
    assert small_faces_advice(record(1920, 1080), faces([20] * 9)) is None  # too few to say
    assert small_faces_advice(record(1920, 1080), faces([SMALL_FACE_PX] * 10)) is None  # at the size, not under
    assert small_faces_advice(record(1920, 1080), []) is None


def test_the_timeline_and_summary_say_where_the_shots_change() -> None:
    cut = VideoRecord(video_id="v", status="produced", cuts=encode_cuts([(20, 667), (82, 2736)]))
    uncut = VideoRecord(video_id="v", status="produced", cuts=encode_cuts([]))
    camera = VideoRecord(video_id="v", status="produced")
    people = analyse_people([], fps=10.0)
    assert [timeline(r, [], people)[0]["cuts_ms"] for r in (cut, uncut, camera)] == [[667, 2736], [], None]
    assert [summary(r, [], people)["shots"] for r in (cut, uncut, camera)] == [3, 1, None]
