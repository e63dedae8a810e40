"""No process of ``emostream analyze`` outlives it, however it ends.

Killed outright (SIGKILL: the kernel's OOM killer, ``kill -9``, a CI job's timeout), ``analyze``
runs no code, so it cannot stop what it started: its workers, aggregator, producer, fork server
and embedded server ran on for ever, the producer still sending frames. On Linux each is now told,
as it starts, to receive SIGTERM when its parent dies (``PR_SET_PDEATHSIG``): the embedded server
and the fork server when ``analyze`` does, the services when the fork server does. SIGTERM is
their ordinary stop. Elsewhere this does nothing.
"""

import contextlib
import ctypes
import os
import signal
import sys
from collections.abc import Callable

_PR_SET_PDEATHSIG = 1


def _prctl() -> Callable[..., int] | None:
    if not sys.platform.startswith("linux"):
        return None
    with contextlib.suppress(OSError, AttributeError):
        prctl: Callable[..., int] = ctypes.CDLL(None, use_errno=True).prctl
        return prctl
    return None


_PRCTL = _prctl()  # looked up before any fork: a child between fork and exec only calls it


def stop_with_parent() -> None:
    """SIGTERM to this process once its parent dies (now, if it already has: the request came too late)."""
    if _PRCTL is None:
        return
    parent = os.getppid()
    _PRCTL(_PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)
    if os.getppid() != parent:  # the parent died before the request: no signal will come
        os.kill(os.getpid(), signal.SIGTERM)
