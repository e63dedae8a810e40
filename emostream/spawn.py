"""The service processes ``emostream analyze`` starts, forked from one warm process.

Each service is a Python process that imports numpy, OpenCV, Redis's client, pydantic and its own
libraries before its first frame: 0.5 to 1.6 s of CPU each (the aggregator's matplotlib and
tracker the most), about 3 s for a one-video job, as long as a 10 s clip's frames take on one
core. The standard library's fork server imports them once, in a process of its own started for
the job, and forks each service from it. They stay separate processes, with their own Redis
connections, logs and exit codes, and run the same code as ``emostream worker`` and the rest
(``emostream.cli.main``); deployments that start each service themselves are not concerned.

Where the job has a core to spare, the fork server imports only what the workers and the
producer need (numpy, OpenCV, Redis's client, pydantic: 0.3 s of CPU) and the aggregator imports
its own plotting and tracking libraries (matplotlib, ``trackers`` with SciPy: 0.6 s) after the
fork, beside the workers' start and first frames rather than before them while a core waits. On
one core the fork server imports those too: imported beside the worker, they cost the worker
more CPU for its frames than they save (its caches; ``docs/measurements.md``).

Forking copies only the thread that forks, along with any lock another thread held: the fork
server must have no other thread. ONNX Runtime starts one when imported, so workers import it
themselves after the fork; OpenBLAS (numpy's, SciPy's) starts one per core when loaded, so the
fork server's first import (``emostream.forkserver_setup``) limits it to one before anything loads
numpy. ``tests/emostream/test_spawn.py`` checks that the fork server stays single-threaded.
"""

import contextlib
import ctypes
import gc
import importlib
import multiprocessing
import multiprocessing.forkserver
import os
import sys
from pathlib import Path

from emostream.cpus import usable_cores
from emostream.orphans import stop_with_parent

# What the fork server imports before it forks anything, in this order.
PRELOAD = ["emostream.forkserver_setup", "emostream.cli", "producer.producer", "av"]
# What a service imports in its own process, by command: libraries no other service uses. Where
# the fork server has imported them already (one core), importing them again does nothing.
OWN_IMPORTS = {"aggregator": ["aggregator.aggregator"]}
FORK_SERVER_LOG = "fork-server.log"  # in a job's logs folder; empty unless an import in it warned
_PR_SET_NAME = 15  # prctl: the name ps -o comm, top and /proc/PID/comm show


def fork_server_preload(cores: int) -> list[str]:
    """``PRELOAD``, and on one core every service's own imports as well."""
    own = [module for modules in OWN_IMPORTS.values() for module in modules]
    return PRELOAD if cores > 1 else PRELOAD + own


_context = multiprocessing.get_context("forkserver")
_context.set_forkserver_preload(fork_server_preload(usable_cores()))


def start_fork_server(log_path: Path) -> None:
    """Start the fork server now (it imports for 0.3 to 1 s), so that it warms up while the caller does
    other work; ``ServiceProcess`` starts it otherwise, with the caller's output. Once it runs,
    this does nothing.

    Its output goes to ``log_path``: it outlives the caller by the 0.2 s its imports take to
    unload, and with the caller's stdout a pipe reading the caller's output would stay open that
    long (``subprocess.run(capture_output=True)``, ``| tee``)."""
    sys.stdout.flush()
    sys.stderr.flush()
    saved = os.dup(1), os.dup(2)
    log_fd = _open_to_append(log_path)
    try:
        os.dup2(log_fd, 1)
        os.dup2(log_fd, 2)
        multiprocessing.forkserver.ensure_running()  # it and the resource tracker it starts inherit 1 and 2
    finally:
        os.dup2(saved[0], 1)
        os.dup2(saved[1], 2)
        for fd in (*saved, log_fd):
            os.close(fd)


class ServiceProcess:
    """``emostream ARGS`` in a process forked from the fork server, with the environment ``env``
    (replacing the inherited one, as ``subprocess.Popen(env=...)`` does), stdin from /dev/null, and
    stdout and stderr appended to ``log_path``."""

    def __init__(self, args: list[str], env: dict[str, str], log_path: Path) -> None:
        name = f"emostream {args[0]}"
        # daemon: should the parent die of an exception, multiprocessing ends it at exit rather than waiting
        own_imports = OWN_IMPORTS.get(args[0], [])
        self._process = _context.Process(
            target=_run, args=(args, env, str(log_path), own_imports), name=name, daemon=True
        )
        self._process.start()
        self.pid = self._process.pid

    @property
    def returncode(self) -> int | None:
        """The exit code once it has exited (negative: the signal that ended it), else None."""
        return self._process.exitcode

    def poll(self) -> int | None:
        return self._process.exitcode

    def terminate(self) -> None:
        self._process.terminate()

    def kill(self) -> None:
        self._process.kill()

    def wait(self, timeout: float | None = None) -> int | None:
        """The exit code, or None if it is still running after ``timeout`` seconds."""
        self._process.join(timeout)
        return self._process.exitcode


def _run(args: list[str], env: dict[str, str], log_path: str, own_imports: list[str]) -> None:
    """The child: what ``python -m emostream ARGS`` with that environment and output would do."""
    stop_with_parent()  # the fork server's death (with analyze's) stops this service too
    gc.freeze()  # the fork server's objects are never collected here, so scanning them is not done either
    sys.stdout.flush()
    sys.stderr.flush()
    _redirect(os.open(os.devnull, os.O_RDONLY), 0)
    log_fd = _open_to_append(Path(log_path))
    _redirect(os.dup(log_fd), 1)
    _redirect(log_fd, 2)
    _set_process_name(f"emo-{args[0]}")
    # In the fork server's environment, as if it had imported them (OpenBLAS limited to a thread).
    for module in own_imports:
        importlib.import_module(module)
    gc.freeze()  # nor the libraries' objects
    os.environ.clear()
    os.environ.update(env)
    sys.argv = ["emostream", *args]
    from emostream.cli import main

    sys.exit(main(args))


def _open_to_append(path: Path) -> int:
    return os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)


def _redirect(fd: int, target: int) -> None:
    os.dup2(fd, target)
    os.close(fd)


def _set_process_name(name: str) -> None:
    """The name ``top`` and ``ps -o comm`` show (15 bytes at most): the command line stays the fork
    server's, which names no service."""
    with contextlib.suppress(OSError, AttributeError):
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_NAME, name.encode()[:15], 0, 0, 0)
