"""What `emostream analyze` prints when a service dies: the service's own last statement."""

from pathlib import Path

import pytest

from emostream.analyze import _last_line


def test_the_last_line_of_a_traceback_is_its_exception_not_its_indented_detail(tmp_path: Path) -> None:
    log = tmp_path / "worker-1.log"
    log.write_text(
        "Traceback (most recent call last):\n"
        '  File "worker/detectors/yunet.py", line 41, in __init__\n'
        "    self._net = cv2.FaceDetectorYN.create(...)\n"
        "cv2.error: OpenCV(4.14.0) onnx_importer.cpp:1064: error: (-2:Unspecified error) in function 'handleNode'\n"
        "> Node [Shape@ai.onnx]:(onnx_node!Shape_104) parse error\n"
        "> \n"
    )
    assert _last_line(log).startswith("cv2.error: OpenCV(4.14.0)")


def test_a_clear_error_is_printed_as_it_is(tmp_path: Path) -> None:
    log = tmp_path / "worker-1.log"
    log.write_text("2026-12-01 04:00:00 INFO starting\nemostream: model.onnx computes other probabilities\n")
    assert _last_line(log) == "emostream: model.onnx computes other probabilities"


def test_a_missing_or_empty_log_says_so(tmp_path: Path) -> None:
    assert _last_line(tmp_path / "absent.log") == "no log"
    (tmp_path / "empty.log").write_text("\n")
    assert _last_line(tmp_path / "empty.log") == "nothing logged"


def test_children_get_the_redis_url_in_their_environment_not_on_their_command_line(
    tmp_path: Path, monkeypatch: "pytest.MonkeyPatch"
) -> None:
    """A password in a command line is visible to every user of the machine (ps)."""
    from emostream import analyze

    started: list[tuple[list[str], dict[str, str]]] = []
    monkeypatch.setattr(analyze, "ServiceProcess", lambda args, env, log: started.append((args, env)))
    url = "redis://:s3cret@127.0.0.1:7000/0"
    settings = analyze._settings_env("EMO_WORKER_", {"detector": "yunet", "yunet_model": Path("/m.onnx"), "x": None})
    analyze._spawn(["worker", "--name", "w1"], url, tmp_path / "w.log", settings)
    ((command, env),) = started
    assert not any("s3cret" in part for part in command)
    assert env["EMO_REDIS_URL"] == url
    # Settings travel as the variables a user would set, not as flags rebuilt by hand.
    assert (env["EMO_WORKER_DETECTOR"], env["EMO_WORKER_YUNET_MODEL"]) == ("yunet", "/m.onnx")
    assert "EMO_WORKER_X" not in env
    assert command == ["worker", "--name", "w1"]
    assert analyze._settings_env("EMO_PRODUCER_", {"every_frame": True}) == {"EMO_PRODUCER_EVERY_FRAME": "true"}


def test_zero_workers_is_a_usage_error(capsys: "pytest.CaptureFixture[str]") -> None:
    from emostream.cli import main

    with pytest.raises(SystemExit) as stopped:
        main(["analyze", "x.mp4", "--out", "out", "--workers", "0"])
    assert stopped.value.code == 2
    assert "must be at least 1" in capsys.readouterr().err


@pytest.mark.parametrize("command", ["analyze", "render"])
def test_a_url_given_for_a_video_file_is_a_usage_error_that_says_what_to_do(
    command: str, capsys: "pytest.CaptureFixture[str]"
) -> None:
    """As a path, https://host/talk.mp4 read as https:/host/talk.mp4: "no such file"."""
    from emostream.cli import main

    with pytest.raises(SystemExit) as stopped:
        main([command, "https://me:pw@host/talk.mp4", "--out", "out"])
    assert stopped.value.code == 2
    error = capsys.readouterr().err
    assert "https://me:***@host/talk.mp4 is a URL, not a file: download it first" in error
    assert "emostream camera URL" in error


@pytest.mark.parametrize(
    ("environment", "own_server", "expected"),
    [({}, True, "i420"), ({}, False, "jpeg"), ({"EMO_PRODUCER_FRAME_ENCODING": "jpeg"}, True, "jpeg"),
     ({"EMO_PRODUCER_FRAME_ENCODING": "i420"}, False, "i420")],
)  # fmt: skip
def test_raw_frames_where_the_job_runs_its_own_server_unless_the_user_chose(
    environment: dict[str, str], own_server: bool, expected: str, monkeypatch: "pytest.MonkeyPatch"
) -> None:
    from emostream.analyze import _producer_env, with_frame_encoding
    from emostream.settings import ProducerSettings

    for name, value in environment.items():
        monkeypatch.setenv(name, value)
    settings = with_frame_encoding(ProducerSettings(every_frame=True), own_server)
    assert settings.frame_encoding == expected
    assert _producer_env(settings)["EMO_PRODUCER_FRAME_ENCODING"] == expected


def test_the_progress_of_a_folder_of_videos_is_a_count_and_the_videos_under_way() -> None:
    import io

    import fakeredis

    from emostream import keys, registry
    from emostream.analyze import VideoJob, _Progress

    client = fakeredis.FakeRedis()
    jobs = [VideoJob(Path(f"{name}.mp4"), name) for name in ("a", "b", "c", "d", "e")]
    for job, status in zip(jobs[:3], ("complete", "failed", "producing"), strict=True):
        registry.register(client, job.video_id, frames_sent=4)
        registry.update(client, job.video_id, status=status)
        job.process = object()  # type: ignore[assignment]  # started: only its state is read here
        job.record = registry.read(client, job.video_id)  # as _advance_producers reads it, before the line
    client.hset(keys.video_results_key("a"), mapping={str(i): "{}" for i in range(4)})
    jobs[0].done, jobs[1].error = True, "b.mp4: not a readable video"
    stream = io.StringIO()
    assert _Progress(stream).show(client, jobs) == 4
    line = stream.getvalue()
    assert "2 of 5 videos done (1 failed) | c: 0/4 producing\n" in line
    assert "a: " not in line  # a finished video is in the count, not listed
    assert "d: " not in line  # nor is one still waiting
    client.delete(keys.video_results_key("a"))
    assert _Progress(io.StringIO()).show(client, jobs) == 4  # a finished video's count is not read again


def test_a_few_videos_are_each_shown_finished_or_not() -> None:
    import io

    import fakeredis

    from emostream import registry
    from emostream.analyze import VideoJob, _Progress

    client = fakeredis.FakeRedis()
    jobs = [VideoJob(Path("a.mp4"), "a"), VideoJob(Path("b.mp4"), "b")]
    registry.register(client, "a", frames_sent=2)
    registry.update(client, "a", status="complete", frames_expected=2)
    jobs[0].process, jobs[0].done = object(), True  # type: ignore[assignment]
    jobs[0].record = registry.read(client, "a")  # as _advance_producers reads it, before the line
    stream = io.StringIO()
    _Progress(stream).show(client, jobs)
    assert "] a: 0/2 complete | b: 0/? waiting\n" in stream.getvalue()


def test_a_producer_that_exits_without_a_recorded_reason_is_reported_with_its_last_words(tmp_path: Path) -> None:
    """Its reason is in its log only (here it cannot reach Redis); the terminal said `producer exited with 1`."""
    import fakeredis

    from emostream.analyze import AnalyzeOptions, VideoJob, _advance_producers, _spawn
    from emostream.localserver import free_port
    from emostream.settings import ProducerSettings

    options = AnalyzeOptions([tmp_path / "v.mp4"], tmp_path, 1, None, ProducerSettings())
    (tmp_path / "logs").mkdir()
    url = f"redis://127.0.0.1:{free_port()}/0"  # nothing listens there
    job = VideoJob(tmp_path / "v.mp4", "v")
    job.process = _spawn(["produce", str(job.path), "--video-id", "v"], url, tmp_path / "logs" / "producer-v.log", {})
    assert job.process.wait(timeout=60) == 1
    _advance_producers(options, url, [job], [], fakeredis.FakeRedis())
    assert job.done
    assert job.error is not None
    assert job.error.startswith(f"producer exited with 1: emostream: cannot reach Redis at {url}: ")


def test_video_ids_are_unique_whatever_their_case() -> None:
    """Each names an output folder: on exFAT, FAT or macOS, ``GX01.MP4``'s and ``gx01.mp4``'s were one."""
    from emostream.analyze import video_ids_for

    paths = [Path("a/GX01.MP4"), Path("b/gx01.mp4"), Path("c/talk.mov"), Path("d/talk.mp4")]
    assert video_ids_for(paths) == ["GX01", "gx01-2", "talk", "talk-2"]


def test_the_jobs_cores_are_shared_among_its_workers_unless_the_user_set_the_threads(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from emostream import cpus
    from emostream.analyze import _threads_each

    monkeypatch.delenv("EMO_WORKER_THREADS", raising=False)
    monkeypatch.setattr(cpus, "usable_cores", lambda: 2)
    assert [_threads_each(workers) for workers in (1, 2, 3)] == [2, 1, 1]
    monkeypatch.setenv("EMO_WORKER_THREADS", "4")
    assert _threads_each(2) is None  # the workers read the user's own setting
