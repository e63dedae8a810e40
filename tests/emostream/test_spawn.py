"""Services forked from the fork server: a single-threaded server, and children that behave as
``python -m emostream ARGS`` with the environment and log they are given."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from emostream.spawn import ServiceProcess, fork_server_preload


def test_the_fork_server_has_one_thread_after_its_imports() -> None:
    """A thread in the fork server would be missing from every child, with any lock it held."""
    imports = "; ".join(f"import {module}" for module in fork_server_preload(cores=1))  # the most it imports
    code = f"{imports}; import os; print(len(os.listdir('/proc/self/task')))"
    env = {k: v for k, v in os.environ.items() if not k.endswith("_NUM_THREADS")}
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True)
    assert done.stdout.strip() == "1"
    # Without the setup module OpenBLAS starts threads: the check above can fail.
    code = code.replace("import emostream.forkserver_setup; ", "")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True)
    assert int(done.stdout) > 1 or os.cpu_count() == 1


@pytest.mark.parametrize("cores", [1, 2])
def test_the_aggregators_libraries_are_imported_by_the_fork_server_only_on_one_core(
    cores: int, tmp_path: Path, redis_url: str
) -> None:
    """With a core to spare the aggregator imports them itself, beside the workers' start; either
    way it runs. A fresh parent with that many cores, so that its fork server starts with them."""
    if len(os.sched_getaffinity(0)) < cores:
        pytest.skip(f"needs {cores} cores")
    code = (
        "import os, sys; from pathlib import Path; "
        f"os.sched_setaffinity(0, sorted(os.sched_getaffinity(0))[:{cores}]); "
        "from emostream.spawn import ServiceProcess; "
        "env = {**os.environ, 'EMO_REDIS_URL': sys.argv[1]}; "
        "child = ServiceProcess(['aggregator', '--burst', '--out', sys.argv[2]], env, Path(sys.argv[3])); "
        "print(child.wait(timeout=120)); "
        "kids = open(f'/proc/self/task/{os.getpid()}/children').read().split(); "
        "print(any(b'aggregator.aggregator' in open(f'/proc/{p}/cmdline', 'rb').read() for p in kids))"
    )
    log = tmp_path / "aggregator.log"
    done = subprocess.run(
        [sys.executable, "-c", code, redis_url, str(tmp_path / "out"), str(log)],
        capture_output=True, text=True, check=True, timeout=180,
    )  # fmt: skip
    exit_code, preloaded = done.stdout.split()
    assert exit_code == "0", log.read_text()
    assert preloaded == str(cores == 1)  # the fork server's command line names what it imported


def test_a_child_runs_the_command_with_its_environment_and_log(tmp_path: Path) -> None:
    log = tmp_path / "child.log"
    log.write_text("an earlier run\n")
    video = tmp_path / "sample.mp4"
    child = ServiceProcess(["sample-video", str(video)], dict(os.environ), log)
    assert child.wait(timeout=120) == 0
    assert video.stat().st_size > 0
    assert log.read_text().splitlines() == ["an earlier run", f"wrote {video} (60 frames)"]  # appended


def test_the_given_environment_replaces_the_parents(tmp_path: Path) -> None:
    """The fork server is started with the parent's environment; a child runs with the one it is
    given. A fresh parent, so that the fork server starts with the variable the child must not see."""
    code = (
        "import os, sys; from pathlib import Path; from emostream.spawn import ServiceProcess; "
        "env = {k: v for k, v in os.environ.items() if k != 'EMO_WORKER_THREADS'}; "
        "env['EMO_REDIS_URL'] = 'redis://:s3cret@127.0.0.1:1/0'; "
        "print(ServiceProcess(['worker'], env, Path(sys.argv[1])).wait(timeout=120))"
    )
    parent_env = {**os.environ, "EMO_WORKER_THREADS": "0"}  # invalid: the worker would stop with a usage error
    done = subprocess.run(
        [sys.executable, "-c", code, str(tmp_path / "w.log")],
        capture_output=True,
        text=True,
        env=parent_env,
        check=True,
    )
    log = (tmp_path / "w.log").read_text()
    assert done.stdout.strip() == "1", log  # it got as far as Redis, with the URL it was given
    assert "emostream: cannot reach Redis at redis://***@127.0.0.1:1/0" in log
    assert "s3cret" not in log
    child = ServiceProcess(["worker"], parent_env, tmp_path / "w2.log")
    assert child.wait(timeout=120) == 2  # and a child given the invalid variable sees it
    assert "emostream: invalid setting: threads" in (tmp_path / "w2.log").read_text()


def test_a_running_service_is_named_and_stops_gracefully(tmp_path: Path, redis_url: str) -> None:
    log = tmp_path / "worker.log"
    child = _running_worker("spawned", redis_url, log)
    assert Path(f"/proc/{child.pid}/comm").read_text().strip() == "emo-worker"  # top, ps -o comm
    assert redis_url not in Path(f"/proc/{child.pid}/cmdline").read_text()
    child.terminate()
    assert child.wait(timeout=60) == 0, _text(log)  # SIGTERM: the worker's graceful stop
    assert "worker spawned stopped" in _text(log)


def test_a_service_can_be_killed(tmp_path: Path, redis_url: str) -> None:
    child = _running_worker("killed", redis_url, tmp_path / "worker.log")
    child.kill()
    assert child.wait(timeout=30) == child.returncode == -signal.SIGKILL


def _running_worker(name: str, redis_url: str, log: Path) -> ServiceProcess:
    env = {**os.environ, "EMO_REDIS_URL": redis_url, "EMO_WORKER_DETECTOR": "haar"}
    child = ServiceProcess(["worker", "--name", name], env, log)
    deadline = time.monotonic() + 120
    while f"worker {name}: model" not in _text(log) and child.poll() is None and time.monotonic() < deadline:
        time.sleep(0.1)
    assert child.poll() is None, _text(log)
    assert child.wait(timeout=0.5) is None  # still running
    return child


def _text(path: Path) -> str:
    return path.read_text() if path.exists() else ""


def test_the_fork_server_writes_to_the_log_it_is_given_not_to_the_callers_output(tmp_path: Path) -> None:
    """It outlives the caller briefly: with the caller's stdout it would hold a reader's pipe open."""
    code = (
        "import os, sys; from pathlib import Path; from emostream.spawn import start_fork_server; "
        "start_fork_server(Path(sys.argv[1])); "
        "kids = [p for p in os.listdir('/proc') if p.isdigit() and "
        "open(f'/proc/{p}/stat').read().rsplit(')', 1)[1].split()[1] == str(os.getpid())]; "
        "print(sorted({os.readlink(f'/proc/{p}/fd/{fd}') for p in kids for fd in (1, 2)}))"
    )
    log = tmp_path / "fork-server.log"
    done = subprocess.run(
        [sys.executable, "-c", code, str(log)], capture_output=True, text=True, check=True, timeout=120
    )
    assert done.stdout.strip() == repr([str(log)])  # the fork server's and the resource tracker's


def test_the_command_line_leaves_redis_and_the_settings_to_the_commands() -> None:
    """``emostream analyze`` starts its fork server before it imports them (0.15 s of CPU), so that
    with two cores the fork server's imports and its own run side by side."""
    code = "import sys, emostream.cli; print(sorted({'redis', 'pydantic_settings', 'numpy'} & set(sys.modules)))"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"
