"""People and moments end to end: real processes, a real redis-server, the shared test videos."""

import csv
import itertools
import json
from pathlib import Path

import av
import pytest

from emostream.labels import EMOTIONS
from tests.conftest import VIDEOS, YUNET, require_shared
from tests.integration.processes import run

pytestmark = pytest.mark.integration

LABELS = {*EMOTIONS, "uncertain"}


@pytest.fixture(scope="module")
def analysed(tmp_path_factory: pytest.TempPathFactory, redis_server: object) -> Path:
    """Both shared clips analysed once with YuNet, rendered, against the session's redis-server."""
    woman, stage = require_shared(VIDEOS / "fer_woman2.mp4"), require_shared(VIDEOS / "short_hamilton_clip.mp4")
    out = tmp_path_factory.mktemp("people")
    url = redis_server.url  # type: ignore[attr-defined]
    done = run(
        "analyze", str(woman), str(stage), "--out", str(out), "--redis-url", url,
        "--yunet-model", str(require_shared(YUNET)), "--workers", "2", "--render",
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    return out


def test_a_server_given_by_url_gets_jpeg_frames(analysed: Path) -> None:
    """The server may be on another machine: frames travel compressed."""
    assert "sending JPEG frames" in (analysed / "logs" / "producer-fer_woman2.log").read_text()


def test_every_face_has_a_track_label_and_smoothed_probabilities(analysed: Path) -> None:
    for video in ("fer_woman2", "short_hamilton_clip"):
        timeline = json.loads((analysed / video / "timeline.json").read_text())
        faces = [face for frame in timeline["frames"] for face in frame["faces"]]
        assert faces
        assert all(face["track"] is None or isinstance(face["track"], int) for face in faces)
        assert {face["label"] for face in faces} <= LABELS
        assert all(list(face["smoothed"]) == list(EMOTIONS) for face in faces)
        assert all(abs(sum(face["smoothed"].values()) - 1) < 1e-3 for face in faces)
        tracks = [face["track"] for face in faces if face["track"] is not None]
        assert sorted(set(tracks)) == list(range(len(set(tracks))))  # numbered from 0, no gaps


def test_one_woman_is_one_person_and_a_stage_with_an_audience_is_several(analysed: Path) -> None:
    woman = json.loads((analysed / "fer_woman2" / "summary.json").read_text())
    assert woman["detector"] == "yunet-2023mar"
    assert len(woman["people"]) == 1
    assert woman["people"][0]["frames"] >= 0.95 * woman["frames_total"]
    assert woman["people"][0]["dominant_emotion"] in LABELS
    stage = json.loads((analysed / "short_hamilton_clip" / "summary.json").read_text())
    assert len(stage["people"]) >= 3
    faces_of_people = sum(person["frames"] for person in stage["people"])
    assert faces_of_people + stage["phantom_faces"] == stage["faces_total"]


def test_no_person_of_the_stage_clip_runs_across_one_of_its_shot_cuts(analysed: Path) -> None:
    """It cuts from the stage to the crowd, to the performer and back to the crowd; tracked on boxes
    alone, one person ran from a face in the crowd to the performer and back."""
    summary = json.loads((analysed / "short_hamilton_clip" / "summary.json").read_text())
    timeline = json.loads((analysed / "short_hamilton_clip" / "timeline.json").read_text())
    assert (summary["shots"], timeline["cuts_ms"]) == (4, [667, 2736, 7040])
    for person in summary["people"]:
        assert not any(person["first_ms"] < cut <= person["last_ms"] for cut in timeline["cuts_ms"]), person
    assert json.loads((analysed / "fer_woman2" / "summary.json").read_text())["shots"] == 1


def test_segments_never_overlap_within_a_person(analysed: Path) -> None:
    with (analysed / "short_hamilton_clip" / "segments.csv").open() as fh:
        rows = list(csv.DictReader(fh))
    assert list(rows[0]) == ["video_id", "track", "label", "start_ms", "end_ms", "frames", "mean_confidence"]
    by_track: dict[str, list[tuple[int, int]]] = {}
    for row in rows:
        assert row["label"] in LABELS
        by_track.setdefault(row["track"], []).append((int(row["start_ms"]), int(row["end_ms"])))
    for spans in by_track.values():
        spans.sort()
        assert all(start < end for start, end in spans)
        assert all(a_end <= b_start for (_, a_end), (b_start, _) in itertools.pairwise(spans))
    segments = json.loads((analysed / "short_hamilton_clip" / "segments.json").read_text())
    assert len(segments) == len(rows)


def test_the_rendered_video_is_h264_at_the_source_size_with_every_frame(analysed: Path) -> None:
    with av.open(str(analysed / "fer_woman2" / "annotated.mp4")) as container:
        stream = container.streams.video[0]
        frames = sum(1 for _ in container.decode(stream))
        assert (stream.codec_context.name, stream.width, stream.height) == ("h264", 596, 336)
        assert abs(float(stream.average_rate or 0) - 29.97) < 0.01
    assert frames == 464
    report = (analysed / "fer_woman2" / "report.html").read_text()
    assert 'src="annotated.mp4"' in report
    assert (analysed / "fer_woman2" / "timeline.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_render_blurs_faces_when_asked(analysed: Path) -> None:
    stage = require_shared(VIDEOS / "short_hamilton_clip.mp4")
    folder = analysed / "short_hamilton_clip"
    plain = (folder / "annotated.mp4").read_bytes()
    done = run("render", str(stage), "--out", str(analysed), "--blur-faces")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["frames"] == 275
    assert (folder / "annotated.mp4").read_bytes() != plain
