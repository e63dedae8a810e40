"""What a summary and a timeline say beside their figures: advice drawn from the results, and the shots."""

from aggregator.people import analyse_people
from aggregator.timeline import Tally, small_faces_advice, summary, tally, timeline
from emostream.labels import EMOTIONS
from emostream.registry import VideoRecord, encode_cuts
from emostream.schema import Face, Result
from emostream.smallfaces import SMALL_FACE_PX


def faces(widths: list[int]) -> tuple[int, int]:
    """How many of a video's faces of these widths are small, and how many there are, as its tally counts them."""
    probs = tuple(1.0 if emotion == "happy" else 0.0 for emotion in EMOTIONS)
    found = tuple(Face(box=(10, 10, width, width), score=0.9, probs=probs, emotion="happy") for width in widths)
    counts = tally([result(0, found)])
    return counts.small_faces, counts.faces


def result(index: int, found: tuple[Face, ...] = (), status: str = "ok", detector: str = "yunet") -> Result:
    return Result(
        video_id="v", frame_index=index, t_ms=index * 100, captured_at=1.0, status=status, faces=found,
        model_version="m", detector=detector, worker="w",
    )  # fmt: skip


def record(width: int, height: int, frame_side_px: int = 1280) -> VideoRecord:
    return VideoRecord(video_id="v", status="complete", width=width, height=height, frame_side_px=frame_side_px)


def test_many_faces_near_the_smallest_found_in_downscaled_frames_say_how_to_find_smaller_ones() -> None:
    advice = small_faces_advice(record(1920, 1080), *faces([SMALL_FACE_PX - 4] * 10 + [60] * 90))
    assert advice is not None
    assert "10% of the faces found were under 30 px wide" in advice
    assert "downscaled from 1920x1080 to 1280x720" in advice
    assert "--max-frame-side 1920" in advice
    portrait = small_faces_advice(record(2160, 3840), *faces([20] * 10))
    assert portrait is not None
    assert "from 2160x3840 to 720x1280" in portrait
    assert "--max-frame-side 3840" in portrait


def test_no_advice_where_frames_were_not_downscaled_or_few_faces_are_small() -> None:
    assert small_faces_advice(record(1280, 720), *faces([20] * 10)) is None  # nothing larger to look at
    assert small_faces_advice(record(1920, 1080, frame_side_px=1920), *faces([20] * 10)) is None
    assert small_faces_advice(record(1920, 1080), *faces([20] * 10 + [60] * 190)) is None  # 5 %
    assert small_faces_advice(record(1920, 1080), *faces([20] * 9)) is None  # too few to say
    assert small_faces_advice(record(1920, 1080), *faces([SMALL_FACE_PX] * 10)) is None  # at the size, not under
    assert small_faces_advice(record(1920, 1080), 0, 0) is None


def test_the_timeline_and_summary_say_where_the_shots_change() -> None:
    cut = VideoRecord(video_id="v", status="produced", cuts=encode_cuts([(20, 667), (82, 2736)]))
    uncut = VideoRecord(video_id="v", status="produced", cuts=encode_cuts([]))
    camera = VideoRecord(video_id="v", status="produced")
    people = analyse_people([], fps=10.0)
    assert [timeline(r, [], people, Tally())[0]["cuts_ms"] for r in (cut, uncut, camera)] == [[667, 2736], [], None]
    assert [summary(r, Tally(), people)["shots"] for r in (cut, uncut, camera)] == [3, 1, None]


def test_the_tally_counts_frames_faces_and_which_detectors_analysed_them() -> None:
    happy = faces_of(["happy", "happy", "sad"])
    results = [
        result(2, happy, detector="haar"),
        result(0, happy[:1]),
        result(1, status="failed", detector="none"),
        result(3),
    ]
    counts = tally(results)
    assert (counts.frames, counts.frames_with_faces, counts.frames_failed, counts.faces) == (4, 2, 1, 4)
    assert counts.emotions == {"happy": 3, "sad": 1}
    assert counts.last_t_ms == 300
    assert (counts.detectors, counts.ok_detectors) == ({"haar", "none", "yunet"}, {"haar", "yunet"})
    made = summary(record(640, 360), counts, analyse_people(results, fps=10.0))
    assert (made["detector"], made["faces_total"], made["dominant_emotion"]) == ("haar,yunet", 4, "happy")
    assert made["emotion_share"]["sad"] == 0.25


def faces_of(emotions: list[str]) -> tuple[Face, ...]:
    def probs(emotion: str) -> tuple[float, ...]:
        return tuple(float(e == emotion) for e in EMOTIONS)

    return tuple(
        Face(box=(10 + 100 * n, 10, 60, 60), score=0.9, probs=probs(emotion), emotion=emotion)
        for n, emotion in enumerate(emotions)
    )
