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

CGROUP_CPU_MAX = Path("/sys/fs/cgroup/cpu.max")  # cgroup v2: "QUOTA PERIOD" in µs, or "max PERIOD"


def usable_cores(cpu_max: Path = CGROUP_CPU_MAX) -> int:
    """The cores this process may run on (``taskset``, a cpuset), or fewer where a CPU quota
    (``docker --cpus``, a Kubernetes limit) lets it use less time than that, rounded up."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    quota = _quota_cores(cpu_max)
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


def _quota_cores(cpu_max: Path) -> int | None:
    try:
        quota, period = cpu_max.read_text().split()[:2]
        return math.ceil(int(quota) / int(period))
    except (OSError, ValueError, ZeroDivisionError):  # no cgroup v2 here, "max" (no quota), or unreadable
        return None
