"""Running emostream commands as real processes, with their output captured to files."""

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path


def command(*args: str) -> list[str]:
    return [sys.executable, "-m", "emostream", *args]


@contextmanager
def running(args: list[str], log: Path, env: dict[str, str] | None = None) -> Iterator["subprocess.Popen[bytes]"]:
    """A long-running service; SIGTERM at the end, and its exit code must be 0 (graceful stop)."""
    with log.open("ab") as out:
        process = subprocess.Popen(
            command(*args), stdout=out, stderr=subprocess.STDOUT, env={**os.environ, **(env or {})}
        )
    try:
        yield process
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
        code = process.wait(timeout=30)
    assert code == 0, f"{args[0]} exited with {code}:\n{log.read_text()[-3000:]}"


def run(*args: str, timeout: float = 300) -> "subprocess.CompletedProcess[str]":
    return subprocess.run(command(*args), capture_output=True, text=True, timeout=timeout, check=False)


def wait_for(condition: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.2)
    raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")
