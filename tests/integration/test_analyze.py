"""The main job: `emostream analyze` with its embedded Valkey server, as a user runs it."""

import json
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from emostream.cpus import analyze_workers, worker_threads
from tests.integration.processes import run

if TYPE_CHECKING:
    import subprocess

pytestmark = pytest.mark.integration


def test_analyze_processes_good_videos_and_fails_clearly_on_a_bad_one(astronaut_video: Path, tmp_path: Path) -> None:
    bad = tmp_path / "notes.mp4"
    bad.write_text("not a video\n")
    out = tmp_path / "out"
    done = run("analyze", str(astronaut_video), str(bad), "--out", str(out), "--workers", "2")
    assert done.returncode == 1, done.stderr
    assert "notes.mp4: not a readable video" in done.stderr
    summary = json.loads((out / "astronaut" / "summary.json").read_text())
    assert summary["frames_total"] == 40  # 4 s at 15 fps, sampled at the 10 fps default
    assert summary["frames_with_faces"] >= 36
    assert summary["dominant_emotion"] is not None
    assert (out / "astronaut" / "timeline.csv").read_text().count("\n") == 1 + summary["faces_total"]
    assert not (out / "notes").exists()
    # Its own server, workers on this machine: raw frames, no JPEG work.
    assert "sending raw I420 frames" in (out / "logs" / "producer-astronaut.log").read_text()
    # The two workers share this machine's cores (two threads each at most).
    threads = os.environ.get("EMO_WORKER_THREADS") or worker_threads(workers=2)
    for log in ("worker-1.log", "worker-2.log"):
        assert f" {threads} inference threads" in (out / "logs" / log).read_text()


def test_analyze_every_frame_option_reaches_the_producer(astronaut_video: Path, tmp_path: Path) -> None:
    done = run("analyze", str(astronaut_video), "--out", str(tmp_path), "--every-frame")
    assert done.returncode == 0, done.stderr
    timeline = json.loads((tmp_path / "astronaut" / "timeline.json").read_text())
    assert len(timeline["frames"]) == 60
    assert len(list((tmp_path / "logs").glob("worker-*.log"))) == analyze_workers()  # one per 2 cores


def test_analyze_rejects_an_invalid_fps(astronaut_video: Path, tmp_path: Path) -> None:
    done = run("analyze", str(astronaut_video), "--out", str(tmp_path), "--fps", "-3")
    assert done.returncode == 2
    assert "fps" in done.stderr


def test_analyze_says_when_the_output_folder_cannot_be_made(astronaut_video: Path, tmp_path: Path) -> None:
    taken = tmp_path / "a-file"
    taken.write_text("")
    done = run("analyze", str(astronaut_video), "--out", str(taken))
    assert done.returncode == 1
    assert done.stderr.strip() == f"emostream: cannot use {taken} as an output folder: a file has that name"


def test_a_video_whose_outputs_cannot_be_written_fails_with_the_reason_and_the_others_complete(
    astronaut_video: Path, tmp_path: Path
) -> None:
    """As on a full disk: the aggregator keeps going (it retries); analyze ends with the reason."""
    out = tmp_path / "out"
    out.mkdir()
    (out / "blocked").write_text("")  # where the first video's folder would go
    blocked = tmp_path / "blocked.mp4"
    blocked.write_bytes(astronaut_video.read_bytes())
    done = run("analyze", str(blocked), str(astronaut_video), "--out", str(out))
    assert done.returncode == 1, done.stderr
    assert f"emostream: blocked: its outputs could not be written to {out / 'blocked'}: " in done.stderr
    assert json.loads((out / "astronaut" / "summary.json").read_text())["status"] == "complete"
    assert "retrying in" in (out / "logs" / "aggregator.log").read_text()


def test_a_video_without_faces_completes_with_empty_frames(tmp_path: Path) -> None:
    from tests.conftest import write_video

    video = write_video(tmp_path / "empty.mp4", frames=20)
    done = run("analyze", str(video), "--out", str(tmp_path / "out"))
    assert done.returncode == 0, done.stderr
    summary = json.loads((tmp_path / "out" / "empty" / "summary.json").read_text())
    assert (summary["frames_total"], summary["frames_with_faces"], summary["dominant_emotion"]) == (20, 0, None)
    assert summary["emotion_share"] == dict.fromkeys(summary["emotion_share"], 0.0)


def test_a_damaged_video_is_analysed_past_the_damage_and_says_so(tmp_path: Path) -> None:
    from tests.conftest import write_damaged_video

    video = write_damaged_video(tmp_path / "damaged.avi", frames=40, damaged=range(10, 13))
    done = run("analyze", str(video), "--out", str(tmp_path / "out"))
    assert done.returncode == 0, done.stderr
    warning = "damaged.avi: 3 damaged packet(s) could not be decoded and were skipped"
    assert f"emostream: warning: {warning}" in done.stderr
    timeline = json.loads((tmp_path / "out" / "damaged" / "timeline.json").read_text())
    assert [f["t_ms"] for f in timeline["frames"]] == [i * 100 for i in range(40) if i not in (10, 11, 12)]
    summary = json.loads((tmp_path / "out" / "damaged" / "summary.json").read_text())
    assert (summary["status"], summary["frames_total"]) == ("complete", 37)
    assert summary["decoding"]["undecodable_packets"] == 3
    assert summary["warnings"][0].startswith(warning)


def test_a_folder_is_analysed_video_by_video_and_its_other_files_left_alone(tmp_path: Path) -> None:
    from tests.conftest import write_video

    folder = tmp_path / "day 1"
    folder.mkdir()
    write_video(folder / "morning.mp4", frames=10)
    write_video(folder / "evening.MOV", frames=20)
    (folder / "notes.txt").write_text("not a video\n")
    done = run("analyze", str(folder), "--out", str(tmp_path / "out"))
    assert done.returncode == 0, done.stderr
    frames = {
        v: json.loads((tmp_path / "out" / v / "summary.json").read_text())["frames_total"]
        for v in ("morning", "evening")
    }
    assert frames == {"morning": 10, "evening": 20}
    assert not (tmp_path / "out" / "notes").exists()


def test_a_video_whose_file_name_is_not_utf8_is_analysed_under_a_name_that_is(tmp_path: Path) -> None:
    """Latin-1 names out of an old zip: OpenCV crashed the producer (SIGSEGV) on them."""
    from tests.conftest import write_video

    folder = tmp_path / "zip"
    folder.mkdir()
    write_video(folder / "plain.mp4", frames=10).rename(os.fsdecode(os.fsencode(folder) + b"/R\xe9union.mp4"))
    done = run("analyze", str(folder), "--out", str(tmp_path / "out"))
    assert done.returncode == 0, done.stderr
    assert f"{folder}/R\ufffdunion.mp4 -> {tmp_path / 'out' / 'Runion'}" in done.stdout
    summary = json.loads((tmp_path / "out" / "Runion" / "summary.json").read_text())
    assert (summary["source"], summary["frames_total"]) == ("R\ufffdunion.mp4", 10)


def test_an_anamorphic_video_is_analysed_and_rendered_with_square_pixels(tmp_path: Path) -> None:
    """As players show it: the render had kept the stored 1440x1080 of a 16:9 HDV clip, shown 4:3."""
    import av

    from tests.conftest import write_anamorphic_video

    video = write_anamorphic_video(tmp_path / "hdv.mp4", frames=10)
    done = run("analyze", str(video), "--out", str(tmp_path / "out"), "--render")
    assert done.returncode == 0, done.stderr
    timeline = json.loads((tmp_path / "out" / "hdv" / "timeline.json").read_text())
    assert (timeline["width"], timeline["height"]) == (160, 90)
    with av.open(str(tmp_path / "out" / "hdv" / "annotated.mp4")) as rendered:
        stream = rendered.streams.video[0]
        assert (stream.width, stream.height, stream.sample_aspect_ratio in (None, 1)) == (160, 90, True)


def test_scripts_analyze_takes_paths_from_where_it_is_run(tmp_path: Path) -> None:
    """The README's main command, run from outside the checkout with relative paths."""
    import subprocess

    from tests.conftest import write_video

    repo = Path(__file__).resolve().parents[2]
    if not (repo / ".venv" / "bin" / "emostream").exists():
        pytest.skip("scripts/analyze would set up .venv first; scripts/test makes it")
    write_video(tmp_path / "clip.mp4", frames=10)
    done = subprocess.run(
        [str(repo / "scripts" / "analyze"), "clip.mp4", "--out", "results"],
        cwd=tmp_path, capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "clip.mp4 -> results/clip" in done.stdout
    assert (tmp_path / "results" / "clip" / "summary.json").exists()


def test_analyze_says_why_when_the_workers_refuse_the_model(astronaut_video: Path, tmp_path: Path) -> None:
    """A model this machine computes differently from its reference is refused by every worker,
    and the job ends with the workers' reason rather than a bare exit code."""
    import shutil

    from models.classifier import DEFAULT_MODEL, metadata_path

    model = tmp_path / "model.onnx"
    shutil.copy(DEFAULT_MODEL, model)
    meta = json.loads(metadata_path(DEFAULT_MODEL).read_text())
    meta["reference"]["probabilities"][0][0] += 0.5
    metadata_path(model).write_text(json.dumps(meta))
    done = run("analyze", str(astronaut_video), "--out", str(tmp_path / "out"), "--model-path", str(model))
    assert done.returncode == 1
    assert "every worker exited" in done.stderr
    assert "refusing to serve wrong emotions" in done.stderr


def test_without_yunet_and_without_a_network_analyze_says_so_and_uses_haar(
    astronaut_video: Path, tmp_path: Path
) -> None:
    import os
    import subprocess

    from tests.integration.processes import command

    env = {**os.environ, "EMO_MODEL_DIR": str(tmp_path / "empty-cache")}  # the download URL is refused
    done = subprocess.run(
        command("analyze", str(astronaut_video), "--out", str(tmp_path / "out")),
        capture_output=True, text=True, timeout=300, env=env, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert done.stderr.count("Using the Haar face detector instead") == 1
    assert "emostream models fetch" in done.stderr
    summary = json.loads((tmp_path / "out" / "astronaut" / "summary.json").read_text())
    assert summary["detector"] == "haar-frontalface-default"


def test_analyze_finds_yunet_in_the_model_cache_by_default(astronaut_video: Path, tmp_path: Path) -> None:
    from tests.conftest import YUNET, require_shared

    require_shared(YUNET)  # the session's EMO_MODEL_DIR holds a copy
    done = run("analyze", str(astronaut_video), "--out", str(tmp_path))
    assert done.returncode == 0, done.stderr
    assert "Haar" not in done.stderr
    assert json.loads((tmp_path / "astronaut" / "summary.json").read_text())["detector"] == "yunet-2023mar"


def test_ctrl_c_stops_every_process_and_says_so(tmp_path: Path) -> None:
    """Ctrl-C sends SIGINT to the terminal's foreground process group: analyze and its services.
    The embedded server has a group of its own: its death at the same moment made analyze print a
    Redis traceback instead of stopping its services."""
    import signal
    import subprocess
    import sys
    import time

    from tests.conftest import VIDEOS, require_shared
    from tests.integration.processes import command, wait_for

    video = require_shared(VIDEOS / "fer_woman2.mp4")
    out = tmp_path / "out"
    # As a shell starts it in a terminal: SIGINT not ignored (a background job's is), a group of its own.
    as_in_a_terminal = (
        "import os, signal, sys; signal.signal(signal.SIGINT, signal.SIG_DFL); os.execv(sys.argv[1], sys.argv[1:])"
    )
    args = command("analyze", str(video), "--every-frame", "--out", str(out))
    with (tmp_path / "stderr.txt").open("wb") as stderr:
        analyze = subprocess.Popen(
            [sys.executable, "-c", as_in_a_terminal, *args],
            stdout=subprocess.DEVNULL, stderr=stderr, start_new_session=True,
        )  # fmt: skip
    try:
        worker_log = out / "logs" / "worker-1.log"
        wait_for(lambda: worker_log.exists() and "batch of" in worker_log.read_text(), 120, "the first batch")
        os.killpg(analyze.pid, signal.SIGINT)
        assert analyze.wait(timeout=60) == 130
    finally:
        if analyze.poll() is None:
            os.killpg(analyze.pid, signal.SIGKILL)
    said = (tmp_path / "stderr.txt").read_text()
    assert "emostream: interrupted" in said
    assert "Traceback" not in said
    deadline = time.monotonic() + 30  # the fork server and its resource tracker follow their parent
    while _group_members(analyze.pid) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert _group_members(analyze.pid) == []


@pytest.mark.parametrize("signum", [15, 1])  # SIGTERM (kill, timeout, systemd); SIGHUP (a closed terminal or SSH)
def test_a_signal_to_analyze_alone_stops_its_services_and_server_too(signum: int, tmp_path: Path) -> None:
    """Only analyze gets it (unlike Ctrl-C, which the whole group gets): it had died at once and
    left its services, the fork server and the embedded server running for ever."""
    import signal

    analyze = _analyze_until_its_first_batch(tmp_path)
    analyze.send_signal(signum)
    assert analyze.wait(timeout=60) == 128 + signum
    said = (tmp_path / "stderr.txt").read_text()
    assert f"emostream: stopped by {signal.Signals(signum).name}" in said
    assert "Traceback" not in said
    _assert_nothing_left_of(analyze.pid, said)


def test_analyze_killed_outright_leaves_no_process_behind(tmp_path: Path) -> None:
    """SIGKILL (the kernel's OOM killer, kill -9, a CI timeout): analyze runs no code then. Its
    services, fork server and embedded server ran on for ever, the producer still sending frames."""
    import signal

    analyze = _analyze_until_its_first_batch(tmp_path)
    analyze.send_signal(signal.SIGKILL)
    assert analyze.wait(timeout=60) == -signal.SIGKILL
    _assert_nothing_left_of(analyze.pid, (tmp_path / "stderr.txt").read_text())


def _analyze_until_its_first_batch(tmp_path: Path) -> "subprocess.Popen[bytes]":
    """``analyze`` on a real video in a session of its own, once its worker has done a batch."""
    import signal
    import subprocess

    from tests.conftest import VIDEOS, require_shared
    from tests.integration.processes import command, wait_for

    video = require_shared(VIDEOS / "fer_woman2.mp4")
    out = tmp_path / "out"
    with (tmp_path / "stderr.txt").open("wb") as stderr:
        analyze = subprocess.Popen(
            command("analyze", str(video), "--every-frame", "--out", str(out)),
            stdout=subprocess.DEVNULL, stderr=stderr, start_new_session=True,
        )  # fmt: skip
    try:
        worker_log = out / "logs" / "worker-1.log"
        wait_for(lambda: worker_log.exists() and "batch of" in worker_log.read_text(), 120, "the first batch")
    except BaseException:
        os.killpg(analyze.pid, signal.SIGKILL)
        raise
    return analyze


def _assert_nothing_left_of(session: int, said: str) -> None:
    """No process of the job's group is left, nor its embedded server (a group of its own)."""
    import re
    import signal
    import socket
    import time

    deadline = time.monotonic() + 30
    while _group_members(session) and time.monotonic() < deadline:
        time.sleep(0.1)
    left = _group_members(session)
    if left:
        os.killpg(session, signal.SIGKILL)
    assert left == []
    port = int(re.findall(r"started valkey-server on port (\d+)", said)[0])
    with pytest.raises(ConnectionRefusedError), socket.create_connection(("127.0.0.1", port), timeout=5):
        pass


def _group_members(group: int) -> list[str]:
    members = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[2]) == group and fields[0] != "Z":
            members.append(Path(f"/proc/{pid}/comm").read_text().strip())
    return members


def _assert_the_same_faces_as_the_original(out: Path, copy: str) -> dict[str, Any]:
    """``copy``'s timeline has the faces ``astronaut``'s has, frame by frame (the same faces through
    one more encoding: boxes overlapping by IoU 0.8 or more); returns it."""
    from worker.keyframes import iou

    timelines: dict[str, dict[str, Any]] = {
        name: json.loads((out / name / "timeline.json").read_text()) for name in ("astronaut", copy)
    }
    boxes = {name: [[face["box"] for face in f["faces"]] for f in t["frames"]] for name, t in timelines.items()}
    assert sum(map(len, boxes[copy])) >= 36
    for theirs, ours in zip(boxes["astronaut"], boxes[copy], strict=True):
        assert len(theirs) == len(ours)
        for box, other in zip(theirs, ours, strict=True):
            assert iou(tuple(box), tuple(other)) >= 0.8, (box, other)
    return timelines[copy]


def test_a_phone_video_stored_sideways_is_analysed_and_rendered_upright(astronaut_video: Path, tmp_path: Path) -> None:
    """Phones store portrait video as landscape frames plus a display rotation: faces are found,
    boxes given, and annotated.mp4 drawn on the picture as players show it, not lying on its side."""
    import av
    import cv2
    import numpy as np

    capture, upright = cv2.VideoCapture(str(astronaut_video)), []
    while (frame := capture.read())[0]:
        upright.append(frame[1])
    phone = tmp_path / "phone.mp4"
    with av.open(str(phone), "w") as container:
        stream = container.add_stream("mpeg4", rate=15)
        stream.height, stream.width = upright[0].shape[:2][::-1]  # stored sideways
        stream.options = {"qscale": "2"}
        stream.set_display_rotation(90)  # shown turned back upright
        for image in upright:
            sideways = np.ascontiguousarray(cv2.rotate(image, cv2.ROTATE_90_CLOCKWISE), dtype=np.uint8)
            container.mux(stream.encode(av.VideoFrame.from_ndarray(sideways, format="bgr24")))
        container.mux(stream.encode())
    out = tmp_path / "out"
    done = run("analyze", str(astronaut_video), str(phone), "--out", str(out), "--render")
    assert done.returncode == 0, done.stderr
    timeline = _assert_the_same_faces_as_the_original(out, "phone")
    assert (timeline["width"], timeline["height"]) == (upright[0].shape[1], upright[0].shape[0])
    rendered = cv2.VideoCapture(str(out / "phone" / "annotated.mp4"))
    assert rendered.get(cv2.CAP_PROP_ORIENTATION_META) == 0  # players must not turn it again
    assert rendered.read()[1].shape == upright[0].shape


def test_an_interlaced_video_is_analysed_and_rendered_as_its_pictures_not_black(
    astronaut_video: Path, tmp_path: Path
) -> None:
    """A 1080i camcorder's or a TV capture's frames are coded as fields, which OpenCV turned into black
    pictures while saying it had read them: the video completed with no face at all, and no warning."""
    import cv2
    import numpy as np

    from tests.conftest import write_interlaced_video

    capture, pictures = cv2.VideoCapture(str(astronaut_video)), []
    while (frame := capture.read())[0]:
        pictures.append(np.asarray(frame[1], dtype=np.uint8))
    camcorder = write_interlaced_video(tmp_path / "camcorder.mp4", pictures, fps=15)
    out = tmp_path / "out"
    done = run("analyze", str(astronaut_video), str(camcorder), "--out", str(out), "--render")
    assert done.returncode == 0, done.stderr
    _assert_the_same_faces_as_the_original(out, "camcorder")
    rendered = cv2.VideoCapture(str(out / "camcorder" / "annotated.mp4"))
    ok, first = rendered.read()
    assert ok
    assert first.mean() > 40  # the picture, with its boxes: not black


def test_outputs_are_written_to_a_file_system_that_keeps_no_unix_modes(astronaut_video: Path, tmp_path: Path) -> None:
    """FAT and exFAT (the SD card the videos came on, a USB drive) refuse a change of a file's mode
    (EPERM) unless mounted `quiet`: every output failed there (`its outputs could not be written:
    Operation not permitted`). A bindfs mount that refuses chmod stands in for one."""
    import shutil
    import subprocess

    bindfs = shutil.which("bindfs")
    if bindfs is None:
        if os.environ.get("CI"):
            pytest.fail("bindfs is not installed (apt-get install bindfs)")
        pytest.skip("bindfs is not installed (apt-get install bindfs)")
    backing, card = tmp_path / "backing", tmp_path / "card"
    backing.mkdir()
    card.mkdir()
    mounted = subprocess.run(
        [bindfs, "--chmod-deny", str(backing), str(card)], check=False, capture_output=True, text=True
    )
    if mounted.returncode != 0:
        pytest.skip(f"no FUSE mount here: {mounted.stderr.strip()}")
    try:
        probe = card / "probe"
        probe.touch()
        with pytest.raises(PermissionError):
            probe.chmod(0o644)  # as on FAT: the mount refuses it
        done = run("analyze", str(astronaut_video), "--out", str(card / "out"))
        assert done.returncode == 0, done.stderr
        assert json.loads((card / "out" / "astronaut" / "summary.json").read_text())["status"] == "complete"
    finally:
        # Lazily (-z): a process still closing a file there must not leave the mount behind.
        unmount = shutil.which("fusermount3") or shutil.which("fusermount") or "fusermount"
        subprocess.run([unmount, "-uz", str(card)], check=False)


def test_small_faces_in_an_hd_video_are_pointed_out_and_found_in_full_size_frames(tmp_path: Path) -> None:
    """A wide HD shot of a crowd: the stage clip's faces tiled 3x3 into 1920x1080 frames. Sent at
    1280x720 (the default), many faces found are near the smallest found, and analyze says how to
    find smaller ones; with ``--max-frame-side 1920`` they are looked for in the full-size frames."""
    import cv2
    import numpy as np

    from tests.conftest import VIDEOS, require_shared

    capture = cv2.VideoCapture(str(require_shared(VIDEOS / "short_hamilton_clip.mp4")))
    crowd = tmp_path / "crowd.mp4"
    writer = cv2.VideoWriter(str(crowd), cv2.VideoWriter.fourcc(*"mp4v"), 30, (1920, 1080))
    for _ in range(30):
        tile = cv2.resize(capture.read()[1], (640, 360), interpolation=cv2.INTER_AREA)
        writer.write(np.tile(tile, (3, 3, 1)))
    writer.release()

    done = run("analyze", str(crowd), "--out", str(tmp_path / "default"))
    assert done.returncode == 0, done.stderr
    assert "downscaled from 1920x1080 to 1280x720" in done.stderr
    assert "--max-frame-side 1920" in done.stderr
    default = json.loads((tmp_path / "default" / "crowd" / "summary.json").read_text())
    assert any("--max-frame-side 1920" in warning for warning in default["warnings"])

    done = run("analyze", str(crowd), "--out", str(tmp_path / "full"), "--max-frame-side", "1920")
    assert done.returncode == 0, done.stderr
    assert "--max-frame-side" not in done.stderr
    assert json.loads((tmp_path / "full" / "crowd" / "timeline.json").read_text())["box_scale"] == 1.0
    full = json.loads((tmp_path / "full" / "crowd" / "summary.json").read_text())
    assert full["faces_total"] > 1.15 * default["faces_total"], (full["faces_total"], default["faces_total"])
