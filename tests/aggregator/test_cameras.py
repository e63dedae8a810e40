"""Rolling camera windows (fakeredis: pure unit test of the window logic)."""

import json
from pathlib import Path

import fakeredis

from aggregator.cameras import CameraTimelines
from aggregator.tracking import TrackingConfig
from emostream import keys
from emostream.camerastatus import camera_status
from emostream.labels import EMOTIONS
from emostream.schema import Face, Result

T0 = 1_800_000_000.0  # a multiple of 60: windows start on it


def result(index: int, captured_at: float, emotions: tuple[str, ...] = ("happy",)) -> Result:
    faces = tuple(
        Face(box=(0, 0, 10, 10), score=1.0, probs=tuple(1.0 if e == x else 0.0 for x in EMOTIONS), emotion=e)
        for e in emotions
    )
    return Result(
        video_id="lobby", frame_index=index, t_ms=0, captured_at=captured_at, status="ok", source_kind="rtsp",
        faces=faces, model_version="m", detector="haar", worker="w",
    )  # fmt: skip


def at_5_fps(camera: str, index: int, *faces: Face) -> Result:
    """A live result of frame ``index``, captured 0.2 s after the one before it."""
    return Result(
        video_id=camera, frame_index=index, t_ms=0, captured_at=T0 + index * 0.2, status="ok", source_kind="rtsp",
        faces=faces, model_version="m", detector="d", worker="w",
    )  # fmt: skip


def test_windows_close_after_grace_count_redeliveries_once_and_attribute_drops(tmp_path: Path) -> None:
    client = fakeredis.FakeRedis()
    timelines = CameraTimelines(tmp_path, client, grace_s=5)
    assert timelines.add(result(0, T0 + 1, ("happy", "sad")), now=T0 + 1.1)
    assert not timelines.add(result(0, T0 + 1, ("happy", "sad")), now=T0 + 1.2)  # redelivered
    assert timelines.add(result(1, T0 + 3), now=T0 + 3.1)
    client.hset(keys.camera_key("lobby"), "frames_dropped", 4)
    assert timelines.add(result(2, T0 + 12, ()), now=T0 + 12.1)

    assert timelines.flush(now=T0 + 14) == []  # the first 10 s window closes at T0 + 10 + grace
    (first,) = timelines.flush(now=T0 + 15)
    assert first["window"] == "10s"
    assert first["frames_processed"] == 2
    assert first["faces"] == 3
    assert first["small_faces"] == 3  # 10 px wide as sent
    assert first["frames_dropped"] == 4
    assert first["emotion_share"]["happy"] == round(2 / 3, 4)
    assert first["dominant_emotion"] == "happy"
    assert first["latency_ms_p50"] is not None
    assert not first["closed_early"]

    rest = timelines.flush(now=T0 + 16, force=True)  # a clean stop writes the open windows
    assert {(r["window"], r["frames_processed"], r["frames_dropped"]) for r in rest} == {("10s", 1, 0), ("1m", 3, 4)}
    assert all(r["closed_early"] for r in rest)

    lines = (tmp_path / "cameras" / "lobby" / "10s-20270115T08.jsonl").read_text().splitlines()
    assert [json.loads(line)["frames_processed"] for line in lines] == [2, 1]  # appended, oldest first
    latest = [json.loads(w) for w in client.lrange(keys.camera_windows_key("lobby", "10s"), 0, -1)]
    assert [w["frames_processed"] for w in latest] == [1, 2]  # newest first, for status


def test_windows_count_people_in_capture_order_and_leave_out_phantoms(tmp_path: Path) -> None:
    """Two people over 8 s at 5 fps, results arriving out of order; a stray box once."""
    client = fakeredis.FakeRedis()
    client.hset(keys.camera_key("lobby"), "fps", 5)
    timelines = CameraTimelines(tmp_path, client, grace_s=5)
    frames = []
    for n in range(40):
        faces = [
            Face(box=(10 + n, 10, 40, 40), score=1.0, probs=_probs("happy"), emotion="happy"),
            Face(box=(300 - n, 10, 40, 40), score=1.0, probs=_probs("sad"), emotion="sad"),
        ]
        if n == 7:
            faces.append(Face(box=(150, 200, 30, 30), score=1.0, probs=_probs("angry"), emotion="angry"))
        frames.append(at_5_fps("lobby", n, *faces))
    for pair in range(0, 40, 2):  # each pair of frames arrives the wrong way round
        for r in (frames[pair + 1], frames[pair]):
            timelines.add(r, now=r.captured_at + 0.3)
    records = timelines.flush(now=T0 + 20)
    (ten,) = [r for r in records if r["window"] == "10s"]
    assert ten["faces"] == 81  # every face counts in the window
    assert ten["people"] == 2  # the stray box is not a person
    shares = ten["people_emotion_share"]
    assert set(shares) == {"0", "1"}
    assert shares["0"]["happy"] >= 0.95  # the causal filter may call a first frame uncertain
    assert shares["1"]["sad"] >= 0.95
    assert set(shares["0"]) <= {"happy", "uncertain"}


def test_a_shot_cut_the_cameras_producer_recorded_starts_new_people(tmp_path: Path) -> None:
    """A broadcast cuts at frame 20 to someone else whose face is where the last one was."""
    emotions = ["happy"] * 20 + ["sad"] * 20
    results = [
        at_5_fps("tv", n, Face(box=(100, 50, 60, 60), score=1.0, probs=_probs(emotion), emotion=emotion))
        for n, emotion in enumerate(emotions)
    ]
    people_in_ten_seconds = []
    for cut in (False, True):
        client = fakeredis.FakeRedis()
        client.hset(keys.camera_key("tv"), "fps", 5)
        if cut:
            client.zadd(keys.camera_cuts_key("tv"), {"20": 20})
        timelines = CameraTimelines(tmp_path / str(cut), client, grace_s=5)
        for r in results:
            timelines.add(r, now=r.captured_at + 0.3)
            timelines.flush(now=r.captured_at + 0.3)  # people are tracked 2 s behind, as results come
        (ten,) = [r for r in timelines.flush(now=T0 + 20) if r["window"] == "10s"]
        people_in_ten_seconds.append(ten["people_emotion_share"])
    uncut, cut_at_20 = people_in_ten_seconds
    assert list(uncut) == ["0"]
    assert list(cut_at_20) == ["0", "1"]
    assert cut_at_20["0"]["happy"] >= 0.95
    assert cut_at_20["1"]["sad"] >= 0.9


def test_people_gone_from_view_are_forgotten_and_their_numbers_never_given_again(tmp_path: Path) -> None:
    """Someone new crosses the lobby every 4 s for 10 minutes, each in view for 8 s. What the camera
    holds stays that of the last minute or so; every window still counts its people, numbered on."""
    client = fakeredis.FakeRedis()
    client.hset(keys.camera_key("lobby"), "fps", 5)
    timelines = CameraTimelines(tmp_path, client, grace_s=5)
    held, records = [], []
    for r in lobby(10):
        timelines.add(r, now=r.captured_at + 0.3)
        records += timelines.flush(now=r.captured_at + 0.3)
        held.append(timelines.people_held("lobby"))
    assert max(held[-5 * 300 :]) <= 30  # 2 in view, 15 a minute, 82 s remembered
    minutes = [r for r in records if r["window"] == "1m"]
    assert len(minutes) == 9  # the tenth closes after the grace period
    # 15 come into view each minute, and one who came the minute before is still there as it begins
    assert [m["people"] for m in minutes] == [15] + [16] * 8
    numbers = [int(person) for m in minutes for person in m["people_emotion_share"]]
    assert numbers == sorted(numbers)  # numbered on: none given again to someone else
    assert set(numbers) == set(range(135))  # 15 a minute for 9 minutes


def lobby(minutes: int) -> list[Result]:
    """Someone new crosses the lobby every 4 s, each in view for 8 s, at 5 fps."""
    results = []
    for n in range(5 * 60 * minutes):
        t = n * 0.2
        walking = [(t - 4 * p) / 8 for p in range(int(t // 4) + 1) if t - 4 * p < 8]
        faces = [
            Face(box=(round(40 + 900 * x), 50, 60, 60), score=1.0, probs=_probs("happy"), emotion="happy")
            for x in walking
        ]
        results.append(at_5_fps("lobby", n, *faces))
    return results


def test_windows_closed_late_still_count_everyone_in_them(tmp_path: Path) -> None:
    """An aggregator busy for three minutes (finalising a long video) closes the lobby's windows late:
    they count the people that an aggregator flushing all along counted, none forgotten yet."""
    results = lobby(4)
    written = []
    for busy_from in (len(results), 5 * 60):
        client = fakeredis.FakeRedis()
        client.hset(keys.camera_key("lobby"), "fps", 5)
        timelines = CameraTimelines(tmp_path / str(busy_from), client, grace_s=5)
        records = []
        for n, r in enumerate(results):
            timelines.add(r, now=r.captured_at + 0.3)
            if n < busy_from:
                records += timelines.flush(now=r.captured_at + 0.3)
        records += timelines.flush(now=results[-1].captured_at + 0.3)
        written.append({(m["window"], m["start"]): (m["people"], m["people_emotion_share"]) for m in records})
    all_along, late = written
    assert len(late) == len(all_along) == 3 + 23  # the 1 min and 10 s windows closed by the last flush
    assert late == all_along
    assert {people for people, _ in late.values()} >= {15, 16}


def test_someone_hidden_for_less_than_the_trackers_lost_time_keeps_their_number(tmp_path: Path) -> None:
    """With a tracker that waits 30 s for a lost face, someone hidden from 58 to 75 s (behind a pillar,
    across the end of a minute window) is the same person when they step out, not someone new."""
    client = fakeredis.FakeRedis()
    client.hset(keys.camera_key("lobby"), "fps", 5)
    timelines = CameraTimelines(tmp_path, client, grace_s=5, tracking=TrackingConfig(lost_s=30.0))
    seen = [n for n in range(5 * 90) if 5 * 50 <= n < 5 * 58 or 5 * 75 <= n < 5 * 85]
    records = []
    for n in range(5 * 90):
        faces = [Face(box=(300, 50, 60, 60), score=1.0, probs=_probs("sad"), emotion="sad")] if n in seen else []
        r = at_5_fps("lobby", n, *faces)
        timelines.add(r, now=r.captured_at + 0.3)
        records += timelines.flush(now=r.captured_at + 0.3)
    records += timelines.flush(now=T0 + 200, force=True)
    people = {person for m in records if m["window"] == "10s" for person in m["people_emotion_share"]}
    assert people == {"0"}


def test_once_the_lobby_is_empty_everyone_is_forgotten(tmp_path: Path) -> None:
    client = fakeredis.FakeRedis()
    client.hset(keys.camera_key("lobby"), "fps", 5)
    timelines = CameraTimelines(tmp_path, client, grace_s=5)
    busy = lobby(1)
    empty = [at_5_fps("lobby", len(busy) + n) for n in range(5 * 120)]  # two minutes of no one
    for r in [*busy, *empty]:
        timelines.add(r, now=r.captured_at + 0.3)
        timelines.flush(now=r.captured_at + 0.3)
    assert timelines.people_held("lobby") == 0


def _probs(emotion: str) -> tuple[float, ...]:
    return tuple(0.9 if e == emotion else 0.1 / 6 for e in EMOTIONS)


def test_a_result_for_a_window_already_written_never_writes_it_again(tmp_path: Path) -> None:
    """A straggler, or a result claimed from a dead aggregator by the next lease holder, comes late."""
    client = fakeredis.FakeRedis()
    timelines = CameraTimelines(tmp_path, client, grace_s=5)
    assert timelines.add(result(0, T0 + 1), now=T0 + 1.1)
    assert [r["window"] for r in timelines.flush(now=T0 + 15)] == ["10s"]
    assert timelines.add(result(1, T0 + 2), now=T0 + 20)  # only its 1 min window is still open
    assert timelines.flush(now=T0 + 40) == []
    timelines.drop_open()  # the camera lease went to another aggregator

    # The next holder starts with nothing in memory: Redis says which windows were written.
    successor = CameraTimelines(tmp_path, client, grace_s=5)
    assert successor.add(result(2, T0 + 4), now=T0 + 41)  # 1 min only: its 10 s window is written
    assert successor.add(result(3, T0 + 45), now=T0 + 46)
    records = successor.flush(now=T0 + 100, force=True)
    assert sorted((r["window"], r["start"][11:19], r["frames_processed"]) for r in records) == [
        ("10s", "08:00:40", 1),
        ("1m", "08:00:00", 2),
    ]
    lines = (tmp_path / "cameras" / "lobby" / "10s-20270115T08.jsonl").read_text().splitlines()
    assert [json.loads(line)["start"][11:19] for line in lines] == ["08:00:00", "08:00:40"]  # each once


def test_status_says_when_a_cameras_downscaled_pictures_have_many_faces_near_the_smallest_found(tmp_path: Path) -> None:
    """A 4K lobby camera sent at 1280x720: its minute windows' small faces make status advise larger
    frames; the same faces in frames sent at full size do not."""
    client = fakeredis.FakeRedis()
    client.hset(keys.camera_key("lobby"), mapping={"width": 3840, "height": 2160, "frame_side_px": 1280})
    timelines = CameraTimelines(tmp_path, client, grace_s=5)
    for index in range(12):
        timelines.add(result(index, T0 + index), now=T0 + index + 0.1)  # one 10 px face a frame
    timelines.flush(now=T0 + 70)
    (advice,) = camera_status(client, "lobby")["warnings"]  # type: ignore[index]
    assert "100% of the faces found were under 30 px wide in frames downscaled from 3840x2160 to 1280x720" in advice
    assert "--max-frame-side 3840" in advice
    client.hset(keys.camera_key("lobby"), "frame_side_px", 3840)
    assert camera_status(client, "lobby")["warnings"] == []  # type: ignore[index]
