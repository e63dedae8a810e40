"""Face tracks from boxes in frame order (the SORT tracker of ``trackers``)."""

from aggregator.tracking import Box, OnlineTracker, TrackingConfig, assign_tracks

FPS = 10.0


def walking(start: tuple[int, int], step: tuple[int, int], frames: int, size: int = 60) -> list[Box]:
    return [(start[0] + step[0] * n, start[1] + step[1] * n, size, size) for n in range(frames)]


def test_two_people_who_cross_keep_their_own_tracks() -> None:
    left = walking((0, 100), (12, 0), 40)  # left to right
    right = walking((480, 120), (-12, 0), 40)  # right to left, crossing at frame 20
    ids = assign_tracks([[a, b] for a, b in zip(left, right, strict=True)], FPS)
    assert {tuple(frame) for frame in ids} == {(0, 1)}


def test_a_face_missed_for_a_few_frames_keeps_its_track() -> None:
    path = walking((50, 50), (4, 0), 30)
    frames = [[box] if not 10 <= n < 15 else [] for n, box in enumerate(path)]  # 0.5 s unseen
    ids = assign_tracks(frames, FPS)
    assert {i for frame in ids for i in frame} == {0}


def test_a_face_gone_longer_than_the_lost_time_comes_back_as_a_new_track() -> None:
    box = (50, 50, 60, 60)
    frames = [[box]] * 10 + [[]] * 15 + [[box]] * 10  # 1.5 s unseen, lost after 1 s
    ids = assign_tracks(frames, FPS, TrackingConfig(lost_s=1.0))
    assert ids[0] == [0]
    assert ids[-1] == [1]


def test_a_box_that_never_forms_a_track_is_a_phantom_and_numbering_follows_first_appearance() -> None:
    person = walking((300, 50), (2, 0), 12)
    frames: list[list[Box]] = [[box] for box in person]
    frames[4] = [(10, 300, 40, 40), *frames[4]]  # one stray box, listed first in its frame
    ids = assign_tracks(frames, FPS)
    assert ids[4] == [None, 0]
    assert all(frame == [0] for n, frame in enumerate(ids) if n != 4)


def test_a_track_shorter_than_min_track_frames_is_a_phantom() -> None:
    frames: list[list[Box]] = [[(0, 0, 50, 50)]] * 2 + [[]] * 40
    assert assign_tracks(frames, FPS, TrackingConfig(min_track_frames=3))[:2] == [[None], [None]]
    assert assign_tracks(frames, FPS, TrackingConfig(min_track_frames=2))[:2] == [[0], [0]]


def test_a_face_in_every_frame_of_a_video_shorter_than_min_track_frames_is_a_person() -> None:
    """A still image, or a clip of a frame or two: nothing longer could be seen."""
    face, stray = (100, 100, 80, 80), (400, 20, 30, 30)
    assert assign_tracks([[face]], FPS) == [[0]]
    assert assign_tracks([[face], [face, stray]], FPS) == [[0], [0, None]]
    assert assign_tracks([[face], [face], [stray]], FPS) == [[None], [None], [None]]


def test_the_online_tracker_answers_in_the_order_of_the_boxes_given() -> None:
    tracker = OnlineTracker(FPS)
    first = tracker.update([(0, 0, 50, 50), (200, 0, 50, 50)])
    second = tracker.update([(202, 0, 50, 50), (2, 0, 50, 50)])  # same people, listed the other way round
    assert second == first[::-1]
    assert tracker.update([]) == []


def test_a_box_that_recurs_now_and_then_at_one_spot_is_a_phantom_not_a_person() -> None:
    """Haar on the sample clip: a false box at one spot in 3 of 29 frames, beside the real face."""
    face = walking((200, 40), (0, 0), 30, size=140)
    frames: list[list[Box]] = [[box] for box in face]
    for n in (1, 15, 28):
        frames[n] = [*frames[n], (375, 125, 190, 190)]
    ids = assign_tracks(frames, FPS)
    assert {i for frame in ids for i in frame} == {0, None}
    assert [frame[1] for n, frame in enumerate(ids) if n in (1, 15, 28)] == [None, None, None]


def test_no_track_runs_across_a_shot_cut() -> None:
    """An edited video cuts to someone else whose face is where the last one was: two people."""
    box = (200, 80, 90, 110)
    frames = [[box]] * 20
    shots = [0] * 10 + [1] * 10
    assert {i for frame in assign_tracks(frames, FPS) for i in frame} == {0}
    ids = assign_tracks(frames, FPS, shots=shots)
    assert ids[:10] == [[0]] * 10
    assert ids[10:] == [[1]] * 10


def test_a_shot_too_short_for_a_track_leaves_its_faces_phantoms() -> None:
    box = (200, 80, 90, 110)
    ids = assign_tracks([[box]] * 12, FPS, shots=[0] * 5 + [1] * 2 + [2] * 5)
    assert ids == [[0]] * 5 + [[None]] * 2 + [[1]] * 5
