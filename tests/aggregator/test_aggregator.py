"""Bookkeeping of the aggregator on fakeredis (pure unit tests: no blocking reads needed)."""

import csv
import itertools
import json
import time
from collections.abc import Callable
from pathlib import Path

import fakeredis
import pytest
import redis

from aggregator.aggregator import Aggregator
from emostream import keys, registry
from emostream.metrics import Liveness
from emostream.redisconn import stream_entries
from emostream.schema import Face, Result, encode_result
from emostream.settings import AggregatorSettings


def result(index: int, emotion: str = "happy", status: str = "ok", faces: int = 1) -> Result:
    probs = tuple(
        0.4 if e == emotion else 0.1 for e in ("angry", "disgust", "fear", "happy", "sad", "surprise", "neutral")
    )
    face = Face(box=(1, 2, 3, 4), score=0.9, probs=probs, emotion=emotion)
    return Result(
        video_id="v", frame_index=index, t_ms=index * 100, captured_at=1.0, status=status,
        faces=(face,) * faces if status == "ok" else (), model_version="m", detector="d", worker="w",
        error=None if status == "ok" else "broken",
    )  # fmt: skip


@pytest.fixture
def client() -> "redis.Redis":
    return fakeredis.FakeRedis()


def publish(client: "redis.Redis", *results: Result) -> None:
    for r in results:
        client.xadd(keys.RESULTS_STREAM, encode_result(r))  # type: ignore[arg-type]


def run(client: "redis.Redis", out: Path) -> Aggregator:
    aggregator = Aggregator(AggregatorSettings(out_dir=out, name="a1"), client)
    aggregator.run(burst=True)
    return aggregator


def test_redelivered_results_are_stored_once(client: "redis.Redis", tmp_path: Path) -> None:
    registry.register(client, "v", source="v.mp4")
    publish(client, result(0), result(3), result(0), result(3), result(6))
    run(client, tmp_path)
    assert registry.results_count(client, "v") == 3
    assert client.xlen(keys.RESULTS_STREAM) == 0  # acknowledged and deleted


def test_video_completes_only_when_frames_expected_is_known_and_reached(client: "redis.Redis", tmp_path: Path) -> None:
    registry.register(client, "v", source="v.mp4", sample_fps=10.0)
    publish(client, result(0), result(3))
    run(client, tmp_path)
    assert not (tmp_path / "v").exists()  # producer still running: count unknown
    registry.update(client, "v", status="produced", frames_expected=3)
    run(client, tmp_path)
    assert not (tmp_path / "v").exists()  # 2 of 3
    publish(client, result(6, emotion="sad", status="failed"))
    run(client, tmp_path)
    record = registry.read(client, "v")
    assert record is not None
    assert record.status == "complete"
    assert sorted(p.name for p in (tmp_path / "v").iterdir()) == [
        "report.html", "segments.csv", "segments.json", "summary.json", "timeline.csv", "timeline.json", "timeline.png",
    ]  # fmt: skip


def test_outputs_follow_the_documented_shape(client: "redis.Redis", tmp_path: Path) -> None:
    registry.register(client, "v", source="v.mp4", sample_fps=10.0)
    registry.update(client, "v", status="produced", frames_expected=4)
    publish(client, result(9, "sad"), result(0), result(3, faces=2), result(6, status="failed"))
    run(client, tmp_path)
    timeline = json.loads((tmp_path / "v" / "timeline.json").read_text())
    assert [f["index"] for f in timeline["frames"]] == [0, 3, 6, 9]
    assert timeline["frames"][2] == {"index": 6, "t_ms": 600, "status": "failed", "error": "broken", "faces": []}
    face = timeline["frames"][0]["faces"][0]
    assert set(face) == {"box", "score", "probs", "emotion", "track", "label", "smoothed"}
    assert list(face["probs"]) == ["angry", "disgust", "fear", "happy", "sad", "surprise", "neutral"]
    assert list(face["smoothed"]) == list(face["probs"])
    summary = json.loads((tmp_path / "v" / "summary.json").read_text())
    assert summary["frames_total"] == 4
    assert summary["frames_with_faces"] == 3
    assert summary["frames_failed"] == 1
    assert summary["emotion_share"]["happy"] == 0.75  # 3 of 4 face observations
    assert summary["dominant_emotion"] == "happy"
    assert (summary["decoding"], summary["warnings"]) == (None, [])  # no decoding recorded: nothing to warn of
    with (tmp_path / "v" / "timeline.csv").open() as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) == 5  # frame 3 has two faces, failed frame 6 has a row without a face
    assert rows[0]["emotion"] == "happy"
    assert float(rows[0]["happy"]) == 0.4


def test_a_damaged_source_is_named_in_the_summary_and_the_report(client: "redis.Redis", tmp_path: Path) -> None:
    registry.register(client, "v", source="v.mp4", sample_fps=10.0)
    decoding = {"frames_decoded": 2, "undecodable_packets": 5, "untimed_frames": 0, "decoded_ms": 200}
    registry.update(client, "v", status="produced", frames_expected=2, announced_ms=9000, **decoding)
    publish(client, result(0), result(1))
    run(client, tmp_path)
    summary = json.loads((tmp_path / "v" / "summary.json").read_text())
    assert summary["status"] == "complete"
    assert summary["decoding"] == {
        **decoding,
        "announced_ms": 9000,
        "announced_frames": 0,
        "gap_start_ms": 0,
        "gap_ms": 0,
    }
    assert len(summary["warnings"]) == 2
    assert summary["warnings"][0].startswith("v.mp4: 5 damaged packet(s) could not be decoded and were skipped")
    assert summary["warnings"][1].startswith("v.mp4: decoding stopped at 0.2 s of the 9.0 s the file announces")
    page = (tmp_path / "v" / "report.html").read_text()
    assert "<p class=warning>v.mp4: decoding stopped at 0.2 s of the 9.0 s the file announces" in page


def test_malformed_results_are_rejected_and_acknowledged(client: "redis.Redis", tmp_path: Path) -> None:
    client.xadd(keys.RESULTS_STREAM, {b"v": b"1", b"meta": b"{not json"})
    client.xadd(keys.RESULTS_STREAM, {b"v": b"7", b"meta": b"{}"})
    aggregator = run(client, tmp_path)
    assert aggregator.stats.rejected == 2
    assert client.xlen(keys.RESULTS_STREAM) == 0


def test_a_result_for_an_unknown_video_is_rejected_to_the_dead_letters(client: "redis.Redis", tmp_path: Path) -> None:
    publish(client, result(0))  # video "v" was never registered
    aggregator = run(client, tmp_path)
    assert aggregator.stats.rejected == 1
    assert registry.results_count(client, "v") == 0
    (_, letter), *_ = stream_entries(client.xrange(keys.DEAD_STREAM))
    assert b"unknown video id 'v'" in letter[b"reason"]


def test_a_stalled_video_is_finalised_as_partial_with_its_missing_frames(client: "redis.Redis", tmp_path: Path) -> None:
    registry.register(client, "v", source="v.mp4")
    for index in (0, 3, 6, 9):
        client.setbit(keys.video_sent_key("v"), index, 1)
    registry.update(client, "v", status="produced", frames_expected=4)
    publish(client, result(0), result(6))
    settings = AggregatorSettings(out_dir=tmp_path, name="a1", stall_timeout_s=0.05)
    Aggregator(settings, client).run(burst=True)
    time.sleep(0.1)
    aggregator = Aggregator(settings, client)
    aggregator.run(burst=True)
    assert aggregator.stats.videos_partial == 1
    summary = json.loads((tmp_path / "v" / "summary.json").read_text())
    assert (summary["status"], summary["missing_frames"], summary["frames_total"]) == ("partial", [3, 9], 2)
    record = registry.read(client, "v")
    assert record is not None
    assert (record.status, record.missing_frames) == ("partial", 2)

    publish(client, result(3), result(9))  # the missing results turn up after all
    Aggregator(settings, client).run(burst=True)
    summary = json.loads((tmp_path / "v" / "summary.json").read_text())
    assert (summary["status"], summary["frames_total"]) == ("complete", 4)
    assert "missing_frames" not in summary


def test_camera_results_go_to_windows_and_unknown_cameras_are_rejected(client: "redis.Redis", tmp_path: Path) -> None:
    now = time.time()
    live = [r.model_copy(update={"source_kind": "rtsp", "captured_at": now}) for r in (result(0), result(1))]
    stranger = live[0].model_copy(update={"video_id": "nobody"})
    client.sadd(keys.CAMERAS_INDEX, "v")
    publish(client, *live, live[0], stranger)  # one redelivery, one camera nobody registered
    aggregator = run(client, tmp_path)  # a clean stop writes the open windows
    assert aggregator.stats.rejected == 1
    assert registry.results_count(client, "v") == 0  # cameras are not stored frame by frame
    (window,) = [json.loads(line) for line in next((tmp_path / "cameras" / "v").glob("10s-*.jsonl")).open()]
    assert window["frames_processed"] == 2
    assert window["faces"] == 2
    assert window["closed_early"]
    assert not (tmp_path / "cameras" / "nobody").exists()


def test_two_aggregators_finalise_a_video_once(client: "redis.Redis", tmp_path: Path) -> None:
    registry.register(client, "v", source="v.mp4", sample_fps=10.0)
    registry.update(client, "v", status="produced", frames_expected=2)
    publish(client, result(0), result(3))
    first = Aggregator(AggregatorSettings(out_dir=tmp_path, name="a1"), client)
    second = Aggregator(AggregatorSettings(out_dir=tmp_path, name="a2"), client)
    client.set(keys.video_finalising_key("v"), "a1", ex=60)  # a1 is writing the files right now
    second.run(burst=True)
    assert second.stats.videos_completed == 0  # a2 leaves it to a1
    client.delete(keys.video_finalising_key("v"))  # a1 is done (or its lease lapsed: it died)
    first.run(burst=True)
    second.run(burst=True)
    assert first.stats.videos_completed + second.stats.videos_completed == 1
    assert registry.read(client, "v").status == "complete"  # type: ignore[union-attr]
    assert not client.exists(keys.video_finalising_key("v"))


def finishing(client: "redis.Redis", out: Path, on_beat: Callable[[], None]) -> Aggregator:
    """An aggregator whose finalisation pulses at every call, and whose every liveness beat calls ``on_beat``."""
    aggregator = Aggregator(
        AggregatorSettings(out_dir=out, name="a1"), client, Liveness(report=on_beat, report_every_s=0)
    )
    aggregator.keep_alive_every_s = 0
    return aggregator


def test_finalising_a_video_beats_for_each_frame_in_each_of_its_passes(client: "redis.Redis", tmp_path: Path) -> None:
    """Loading, tracking, timeline.json and timeline.csv: a crowded hour takes a minute, and an aggregator
    that did not beat meanwhile was taken for dead (aggregator/keepalive.py)."""
    frames = 30
    registry.register(client, "v", source="v.mp4", sample_fps=10.0)
    registry.update(client, "v", status="produced", frames_expected=frames)
    publish(client, *(result(i) for i in range(frames)))
    beats: list[int] = []
    aggregator = finishing(client, tmp_path, lambda: beats.append(1))
    aggregator.run(burst=True)
    assert aggregator.stats.videos_completed == 1
    assert len(beats) >= 4 * frames


def test_a_result_stored_again_changed_while_finalising_leaves_every_file_from_one_reading(
    client: "redis.Redis", tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Another aggregator stores frame 0 again, now sad, while ours writes the files: they are written
    again from the results as they are now, so the timeline, its CSV and the summary agree."""
    frames = 10
    registry.register(client, "v", source="v.mp4", sample_fps=10.0)
    registry.update(client, "v", status="produced", frames_expected=frames)
    publish(client, *(result(i) for i in range(frames)))
    beats: list[int] = []

    def store_frame_0_again_once() -> None:
        beats.append(1)
        if len(beats) == 3 * frames:  # past the first pass: the files are being written
            client.hset(keys.video_results_key("v"), "0", result(0, emotion="sad").model_dump_json())

    aggregator = finishing(client, tmp_path, store_frame_0_again_once)
    aggregator.run(burst=True)
    assert aggregator.stats.videos_completed == 1
    assert "frame 0 was stored again, changed; writing its outputs again (2 of 3)" in caplog.text
    timeline = json.loads((tmp_path / "v" / "timeline.json").read_text())
    with (tmp_path / "v" / "timeline.csv").open() as fh:
        rows = list(csv.DictReader(fh))
    summary = json.loads((tmp_path / "v" / "summary.json").read_text())
    assert timeline["frames"][0]["faces"][0]["emotion"] == rows[0]["emotion"] == "sad"
    assert summary["emotion_share"]["sad"] == 0.1


def test_results_that_keep_changing_while_finalising_wait_for_a_later_step(
    client: "redis.Redis", tmp_path: Path
) -> None:
    """Frame 0 stored again, changed, at every beat: the aggregator gives up for now, without failing,
    and finalises the video once its results hold still."""
    registry.register(client, "v", source="v.mp4", sample_fps=10.0)
    registry.update(client, "v", status="produced", frames_expected=5)
    publish(client, *(result(i) for i in range(5)))
    changing, stored_again = [True], itertools.count(2)  # a new capture time each time: never the same bytes

    def store_frame_0_again() -> None:
        if changing[0]:
            again = result(0, emotion="sad").model_copy(update={"captured_at": float(next(stored_again))})
            client.hset(keys.video_results_key("v"), "0", again.model_dump_json())

    aggregator = finishing(client, tmp_path, store_frame_0_again)
    aggregator.run(burst=True)
    assert aggregator.stats.videos_completed == 0
    assert not (tmp_path / "v" / "summary.json").exists()
    assert not client.exists(keys.video_finalising_key("v"))  # its lease given back for the next try
    changing[0] = False
    aggregator.run(burst=True)
    assert aggregator.stats.videos_completed == 1


def test_a_lease_taken_over_while_finalising_is_left_to_its_new_holder(client: "redis.Redis", tmp_path: Path) -> None:
    """Our lease lapsed (a stall) and another aggregator took the video: ours finishes the same files, and
    does not delete the other's lease at its end."""
    registry.register(client, "v", source="v.mp4", sample_fps=10.0)
    registry.update(client, "v", status="produced", frames_expected=2)
    publish(client, result(0), result(3))
    lease = keys.video_finalising_key("v")

    def taken_over() -> None:
        if client.get(lease) == b"a1":
            client.set(lease, "a2", ex=60)

    aggregator = finishing(client, tmp_path, taken_over)
    aggregator.run(burst=True)
    assert aggregator.stats.videos_completed == 1
    assert client.get(lease) == b"a2"


def test_the_camera_lease_is_kept_while_a_video_is_finalised(client: "redis.Redis", tmp_path: Path) -> None:
    """Past its 10 s, another aggregator would take the cameras over, and this one drop its open windows."""
    registry.register(client, "v", source="v.mp4", sample_fps=10.0)
    registry.update(client, "v", status="produced", frames_expected=2)
    publish(client, result(0), result(3))
    left_ms: list[int] = []  # the camera lease's time left at each beat after it was nearly lapsed

    def nearly_lapsed() -> None:  # a long finalisation, as if 9.95 s of it had gone by
        if client.get(keys.video_finalising_key("v")) != b"a1":
            return
        if left_ms:
            left_ms.append(int(client.pttl(keys.CAMERA_LEASE_KEY)))
        else:
            assert client.get(keys.CAMERA_LEASE_KEY) == b"a1"
            client.pexpire(keys.CAMERA_LEASE_KEY, 50)
            left_ms.append(50)

    finishing(client, tmp_path, nearly_lapsed).run(burst=True)
    assert max(left_ms[1:]) > keys.CAMERA_LEASE_MS // 2


def test_outputs_that_cannot_be_written_leave_the_video_open_with_the_reason_until_they_can(
    client: "redis.Redis", tmp_path: Path
) -> None:
    """A full disk or a folder made read-only: the service stays up and the results wait in Redis."""
    registry.register(client, "v", source="v.mp4", sample_fps=10.0)
    registry.update(client, "v", status="produced", frames_expected=2)
    publish(client, result(0), result(3))
    (tmp_path / "v").write_text("")  # where the video's folder should go: every write fails
    run(client, tmp_path)
    record = registry.read(client, "v")
    assert record is not None
    assert record.status == "produced"
    assert record.error is not None
    assert record.error.startswith(f"its outputs could not be written to {tmp_path / 'v'}: ")
    (tmp_path / "v").unlink()
    run(client, tmp_path)  # a later attempt (here: a restarted aggregator, which retries at once)
    record = registry.read(client, "v")
    assert record is not None
    assert (record.status, record.error) == ("complete", None)
    assert json.loads((tmp_path / "v" / "summary.json").read_text())["frames_total"] == 2


def test_a_camera_window_that_cannot_be_written_to_disk_still_reaches_redis(
    client: "redis.Redis", tmp_path: Path
) -> None:
    client.sadd(keys.CAMERAS_INDEX, "v")
    publish(client, result(0).model_copy(update={"source_kind": "rtsp", "captured_at": time.time()}))
    (tmp_path / "cameras").write_text("")  # every camera's folder fails to be made
    run(client, tmp_path)
    (window,) = [json.loads(entry) for entry in client.lrange(keys.camera_windows_key("v", "10s"), 0, -1)]
    assert window["frames_processed"] == 1


def test_a_render_of_an_earlier_analysis_of_the_same_id_is_removed_and_one_of_this_analysis_kept(
    client: "redis.Redis", tmp_path: Path
) -> None:
    """The same video id analysed again without --render (or an id reused once its state expired): the
    report showed the old annotated.mp4, boxes and labels from the earlier analysis."""
    import os

    folder = tmp_path / "v"
    folder.mkdir()
    (folder / "annotated.mp4").write_bytes(b"rendered last week")
    week_ago = time.time() - 7 * 86400
    os.utime(folder / "annotated.mp4", (week_ago, week_ago))
    registry.register(client, "v", source="v.mp4", sample_fps=10.0)
    for index in (0, 1):
        client.setbit(keys.video_sent_key("v"), index, 1)
    registry.update(client, "v", status="produced", frames_expected=2)
    publish(client, result(0))
    settings = AggregatorSettings(out_dir=tmp_path, name="a1", stall_timeout_s=0.05)
    Aggregator(settings, client).run(burst=True)
    time.sleep(0.1)
    Aggregator(settings, client).run(burst=True)  # stalled: finalised as partial
    assert not (folder / "annotated.mp4").exists()
    assert "annotated.mp4" not in (folder / "report.html").read_text()

    (folder / "annotated.mp4").write_bytes(b"rendered from this analysis")  # as analyze --render does then
    publish(client, result(1))  # the missing result turns up: the outputs are written again
    Aggregator(settings, client).run(burst=True)
    assert json.loads((folder / "summary.json").read_text())["status"] == "complete"
    assert (folder / "annotated.mp4").read_bytes() == b"rendered from this analysis"
    assert 'src="annotated.mp4"' in (folder / "report.html").read_text()
