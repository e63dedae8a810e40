"""How many cores a process may use, and how the workers' inference uses them.

A worker's ONNX Runtime sessions had two threads wherever they ran. On one core (``taskset -c 0``,
a container of one CPU) the second thread competed with the first, and while idle between
kernels it spun: over a quarter of the core's time went on one ``pause`` instruction of ONNX
Runtime's thread pool, and the whole pipeline on the stage clip took twice as long as with one
thread (``docs/measurements.md``, 2026-12-07). The default is now as many
threads as the worker has cores, at most ``keys.WORKER_MAX_THREADS``; ``emostream analyze`` shares
its cores among the workers it starts. Threads never spin: the producer, the aggregator and Redis
share these cores, and a spinning thread takes their time.

``loky.cpu_count`` counts cores the same way (affinity and the cgroup CPU quota), but importing it
takes 67 ms and brings cloudpickle into every worker; this is a dozen lines.
"""

import math
import os
from pathlib import Path
from typing import TYPE_CHECKING

from emostream import keys

if TYPE_CHECKING:
    import onnxruntime as ort

CGROUP_ROOT = Path("/sys/fs/cgroup")
PROC_CGROUP = Path("/proc/self/cgroup")  # "ID:CONTROLLERS:PATH" lines: this process's cgroup in each hierarchy


def usable_cores(cgroup_root: Path = CGROUP_ROOT, proc_cgroup: Path = PROC_CGROUP) -> int:
    """The cores this process may run on (``taskset``, a cpuset), or fewer where a CPU quota
    (``docker --cpus``, a Kubernetes limit, a systemd ``CPUQuota``) lets it use less time than that,
    rounded up: cgroup v2's, else v1's (hosts that still mount it: RHEL 8, Ubuntu 20.04, Amazon Linux 2)."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    try:
        own = proc_cgroup.read_text().splitlines()
    except OSError:
        own = []
    quota = _v2_quota_cores(cgroup_root, own)
    if quota is None:
        quota = _v1_quota_cores(cgroup_root / "cpu", own)
    return max(1, min(cores, quota)) if quota is not None else cores


def worker_threads(workers: int = 1, cores: int | None = None) -> int:
    """Inference threads for each of ``workers`` workers sharing ``cores`` (default: this process's)."""
    available = usable_cores() if cores is None else cores
    return max(1, min(keys.WORKER_MAX_THREADS, available // max(1, workers)))


def analyze_workers(cores: int | None = None) -> int:
    """``emostream analyze``'s workers by default: one for each ``keys.WORKER_MAX_THREADS`` cores (one
    on two cores, as measured; more cores, more workers, not more threads each)."""
    available = usable_cores() if cores is None else cores
    return max(1, available // keys.WORKER_MAX_THREADS)


def session_options(threads: int) -> "ort.SessionOptions":
    """ONNX Runtime's options for a worker's sessions: ``threads`` within one call, none spinning."""
    import onnxruntime as ort  # imported here: the fork server must not start its threads (emostream.spawn)

    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    return options


def _v2_quota_cores(root: Path, own: list[str]) -> int | None:
    """From ``cpu.max``: "QUOTA PERIOD" in µs, or "max PERIOD" (none)."""
    try:
        quota, period = _own_file(root, _own_path(own, None), "cpu.max").read_text().split()[:2]
        return math.ceil(int(quota) / int(period))
    except (OSError, ValueError, ZeroDivisionError):  # no cgroup v2 controller here, "max", or unreadable
        return None


def _v1_quota_cores(root: Path, own: list[str]) -> int | None:
    """From ``cpu.cfs_quota_us`` (-1: none) and ``cpu.cfs_period_us``."""
    path = _own_path(own, "cpu")
    try:
        quota = int(_own_file(root, path, "cpu.cfs_quota_us").read_text())
        period = int(_own_file(root, path, "cpu.cfs_period_us").read_text())
    except (OSError, ValueError):  # no cgroup v1 CPU controller here, or unreadable
        return None
    return math.ceil(quota / period) if quota > 0 and period > 0 else None


def _own_path(own: list[str], controller: str | None) -> str:
    """This process's cgroup in v1's hierarchy of ``controller``, or (None) in v2's, from the lines of
    ``/proc/self/cgroup``; "/" if not known."""
    for line in own:
        parts = line.split(":", 2)
        if len(parts) != 3:
            continue
        named = parts[1].split(",") if parts[1] else []  # v2's line names none
        if (controller is None and not named) or (controller is not None and controller in named):
            return parts[2] or "/"
    return "/"


def _own_file(root: Path, own: str, name: str) -> Path:
    """``name`` in this process's own cgroup (a systemd service's, a pod's), where the mount shows it; else
    at the mount's root, which is the process's own cgroup in a container (Docker mounts it so, and then
    ``/proc/self/cgroup`` may still name the host's path, which the mount does not have)."""
    own_file = root / own.strip("/") / name
    return own_file if own.strip("/") and own_file.exists() else root / name
