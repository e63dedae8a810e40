"""People and segments of one video from its results."""

import itertools

from aggregator.people import analyse_people
from aggregator.smoothing import UNCERTAIN, SmoothingConfig
from emostream.labels import EMOTIONS
from emostream.schema import Face, Result


def face(x: int, emotion: str, share: float = 0.8) -> Face:
    probs = tuple(share if e == emotion else (1 - share) / 6 for e in EMOTIONS)
    return Face(box=(x, 40, 60, 60), score=0.9, probs=probs, emotion=emotion)


def result(index: int, *faces: Face, status: str = "ok") -> Result:
    return Result(
        video_id="v", frame_index=index * 3, t_ms=index * 100, captured_at=1.0, status=status, faces=faces,
        model_version="m", detector="d", worker="w", error=None if status == "ok" else "broken",
    )  # fmt: skip


def two_people() -> list[Result]:
    """Person A: happy 0-2 s then surprise; person B from 1 s: sad; a stray box at 0.5 s; frame 12 failed."""
    results = []
    for n in range(40):
        faces = [face(100 + n, "happy" if n < 20 else "surprise")]
        if n >= 10:
            faces.append(face(400 - n, "sad"))
        if n == 5:
            faces.append(face(250, "angry"))
        results.append(result(n, *faces) if n != 12 else result(n, status="failed"))
    return results[::-1]  # out of order, as results arrive


def test_people_have_stable_tracks_in_order_of_first_appearance_and_phantoms_are_counted() -> None:
    people = analyse_people(two_people(), fps=10.0)
    assert people.phantom_faces == 1
    assert people.view(15, 1).track is None  # the stray box of frame index 15 (n = 5, before B appears)
    assert [p["track"] for p in people.people] == [0, 1]
    a, b = people.people
    assert (a["first_ms"], a["last_ms"], a["frames"]) == (0, 3900, 39)
    assert (b["first_ms"], b["frames"]) == (1000, 29)
    assert a["dominant_emotion"] in ("happy", "surprise")
    assert b["dominant_emotion"] == "sad"
    assert set(a["emotion_share"]) == {*EMOTIONS, UNCERTAIN}


def test_segments_of_a_track_do_not_overlap_and_cover_every_frame_of_it() -> None:
    people = analyse_people(two_people(), fps=10.0)
    for person in people.people:
        mine = sorted((s for s in people.segments if s.track == person["track"]), key=lambda s: s.start_ms)
        assert sum(s.frames for s in mine) == person["frames"]
        assert all(s.start_ms < s.end_ms for s in mine)
        assert all(earlier.end_ms <= later.start_ms for earlier, later in itertools.pairwise(mine))
        assert all(earlier.label != later.label for earlier, later in itertools.pairwise(mine))
    a = [s.label for s in people.segments if s.track == 0]
    assert a[0] == "happy"
    assert a[-1] == "surprise"


def test_without_smoothing_each_face_keeps_its_own_probabilities() -> None:
    people = analyse_people(two_people(), fps=10.0, smoothing=SmoothingConfig(method="none"))
    view = people.view(0, 0)
    assert view.label == "happy"
    assert view.smoothed[EMOTIONS.index("happy")] == 0.8


def test_a_video_without_faces_has_no_people() -> None:
    people = analyse_people([result(0), result(1)], fps=10.0)
    assert (people.people, people.segments, people.phantom_faces) == ([], [], 0)


def test_a_shot_cut_starts_new_people_and_no_emotion_is_smoothed_across_it() -> None:
    """Frames 0 to 60 show a happy face; the video cuts at frame 61 (between the sampled frames 60
    and 63) to a sad face at the same spot. Uncut, the tracker makes one person of the two."""
    results = [result(n, face(100, "happy" if n <= 20 else "sad", share=0.9)) for n in range(40)]
    assert len(analyse_people(results, fps=10.0).people) == 1
    people = analyse_people(results, fps=10.0, cuts=[61])
    assert [(p["track"], p["first_ms"], p["last_ms"], p["dominant_emotion"]) for p in people.people] == [
        (0, 0, 2000, "happy"),
        (1, 2100, 3900, "sad"),
    ]
    assert {people.view(n * 3, 0).label for n in range(21)} == {"happy"}
    assert {people.view(n * 3, 0).track for n in range(21, 40)} == {1}


def test_every_face_has_a_view_in_frame_order() -> None:
    results = two_people()
    people = analyse_people(results, fps=10.0)
    every = list(people.views())
    expected = sorted((r.frame_index, n) for r in results for n in range(len(r.faces)))
    assert [key for key, _ in every] == expected
    assert all(view == people.view(*key) for key, view in every)
    assert sum(view.track is None for _, view in every) == people.phantom_faces == 1
