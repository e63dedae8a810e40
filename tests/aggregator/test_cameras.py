"""Rolling camera windows (fakeredis: pure unit test of the window logic)."""

import json
from pathlib import Path

import fakeredis

from aggregator.cameras import CameraTimelines
from emostream import keys
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
