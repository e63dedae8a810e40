import pytest
from hypothesis import given
from hypothesis import strategies as st

from worker.keyframes import Between, FrameTime, interpolate, iou, plan


def frames_at(fps: float, count: int, video: str = "v", first: int = 0) -> list[FrameTime]:
    return [FrameTime(video, index, round(index * 1000 / fps)) for index in range(first, first + count)]


def detected(planned: list[Between | None]) -> list[int]:
    return [position for position, between in enumerate(planned) if between is None]


def test_at_30_fps_every_other_frame_is_detected_and_the_last_one_always() -> None:
    planned = plan(frames_at(30, 16), 50)
    assert detected(planned) == [0, 2, 4, 6, 8, 10, 12, 14, 15]
    assert planned[1] == Between(0, 2, pytest.approx(0.5, abs=0.02))  # type: ignore[arg-type]


def test_at_60_fps_two_frames_in_three_are_interpolated() -> None:
    planned = plan(frames_at(60, 7), 50)
    assert detected(planned) == [0, 3, 6]
    between = planned[2]
    assert between is not None
    assert (between.before, between.after) == (0, 3)
    assert between.weight == pytest.approx(2 / 3, abs=0.02)


def test_sampled_frames_and_cameras_are_all_detected() -> None:
    assert detected(plan(frames_at(10, 8), 50)) == list(range(8))  # analyze's default sampling
    assert detected(plan(frames_at(5, 8), 50)) == list(range(8))  # cameras


def test_interval_zero_detects_every_frame() -> None:
    assert detected(plan(frames_at(30, 16), 0)) == list(range(16))


def test_each_video_of_a_batch_is_planned_on_its_own_frames_in_order() -> None:
    a, b = frames_at(30, 5, "a"), frames_at(30, 5, "b", first=40)
    batch = [a[3], b[0], a[0], b[1], a[1], b[2], a[2], b[3], a[4], b[4]]  # interleaved, out of order
    planned = plan(batch, 50)
    for position, between in enumerate(planned):
        if between is not None:
            before, after = batch[between.before], batch[between.after]
            assert before.video_id == after.video_id == batch[position].video_id
            assert before.t_ms < batch[position].t_ms < after.t_ms
    interpolated = {(batch[p].video_id, batch[p].frame_index) for p, x in enumerate(planned) if x is not None}
    assert interpolated == {("a", 1), ("a", 3), ("b", 41), ("b", 43)}


def test_a_gap_or_a_repeated_frame_is_not_interpolated_across() -> None:
    frames = [*frames_at(30, 3), FrameTime("v", 2, 67), *frames_at(30, 2, first=3)]  # frame 2 delivered twice
    planned = plan(frames, 50)
    for between in planned:
        if between is not None:
            assert frames[between.before].frame_index < frames[between.after].frame_index
    assert planned[3] is None
    assert planned[2] is None
    gap = [FrameTime("v", 0, 0), FrameTime("v", 1, 33), FrameTime("v", 9, 300)]  # frames 2 to 8 lost
    assert detected(plan(gap, 50)) == [0, 1, 2]


@pytest.mark.parametrize("fps", [24, 25, 29.97, 30, 50, 60, 120])
def test_an_interpolated_frame_lies_between_detected_frames_at_most_two_intervals_apart(fps: float) -> None:
    frames = frames_at(fps, 16)
    for position, between in enumerate(plan(frames, 50)):
        if between is not None:
            before, after = frames[between.before], frames[between.after]
            assert before.t_ms < frames[position].t_ms < after.t_ms
            assert after.t_ms - before.t_ms < 100
            assert between.weight == pytest.approx((frames[position].t_ms - before.t_ms) / (after.t_ms - before.t_ms))


def test_matched_faces_move_in_proportion_to_time_with_the_lower_score() -> None:
    before = [((100, 100, 40, 40), 0.9), ((300, 50, 60, 60), 0.8)]
    after = [((312, 50, 60, 60), 0.95), ((110, 104, 40, 44), 0.7)]  # listed in another order
    faces = interpolate(before, after, 0.5)
    assert sorted(faces) == [((105, 102, 40, 42), 0.7), ((306, 50, 60, 60), 0.8)]


def test_a_face_seen_on_one_side_only_comes_from_the_nearer_side() -> None:
    left, right = ((10, 10, 30, 30), 0.9), ((500, 10, 30, 30), 0.8)
    assert interpolate([left], [right], 0.4) == [left]  # no overlap: two faces, each on its own side
    assert interpolate([left], [right], 0.6) == [right]
    assert interpolate([left], [], 0.5) == [left]
    assert interpolate([], [], 0.5) == []


def test_boxes_overlapping_too_little_are_not_taken_for_one_face() -> None:
    a, b = (0, 0, 40, 40), (30, 0, 40, 40)  # IoU 10/70
    assert iou(a, b) == pytest.approx(400 / 2800)
    assert len(interpolate([(a, 0.9)], [(b, 0.9)], 0.25)) == 1  # a, from the nearer side; not a blend
    assert interpolate([(a, 0.9)], [(b, 0.9)], 0.25) == [(a, 0.9)]


frame_times = st.builds(
    FrameTime, st.sampled_from(["a", "b"]), st.integers(0, 40), st.integers(0, 1500)
)  # fmt: skip


@given(st.lists(frame_times, max_size=24), st.integers(0, 120))
def test_any_batch_interpolates_only_between_detected_frames_of_its_video_close_in_time(
    frames: list[FrameTime], interval_ms: int
) -> None:
    """Whatever a batch holds (repeats, gaps, times out of step with indexes, two videos)."""
    planned = plan(frames, interval_ms)
    assert len(planned) == len(frames)
    for position, between in enumerate(planned):
        if between is None:
            continue
        frame, before, after = frames[position], frames[between.before], frames[between.after]
        assert planned[between.before] is None
        assert planned[between.after] is None
        assert before.video_id == after.video_id == frame.video_id
        assert before.frame_index < frame.frame_index < after.frame_index
        assert before.t_ms < frame.t_ms < after.t_ms
        assert after.t_ms - before.t_ms < 2 * interval_ms
        assert 0 < between.weight < 1
