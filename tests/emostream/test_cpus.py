"""The cores a process may use, the workers' share of them, and sessions that do not spin."""

import os
from pathlib import Path

import pytest

from emostream import cpus
from emostream.cpus import analyze_workers, session_options, usable_cores, worker_threads
from emostream.settings import WorkerSettings

AFFINITY = len(os.sched_getaffinity(0))


HOST_V1 = "12:cpu,cpuacct:/\n11:memory:/\n0::/\n"  # /proc/self/cgroup on a cgroup v1 (hybrid) host
HOST_V2 = "0::/\n"  # and in a container on a v2 host, which sees its own cgroup as the root


def cgroups(tmp_path: Path, proc: str) -> tuple[Path, Path]:
    """A /sys/fs/cgroup to fill, and a /proc/self/cgroup saying ``proc``."""
    root = tmp_path / "cgroup"
    root.mkdir()
    (tmp_path / "proc-cgroup").write_text(proc)
    return root, tmp_path / "proc-cgroup"


def v1_quota(folder: Path, quota: str, period: str = "100000\n") -> None:
    folder.mkdir(parents=True)
    (folder / "cpu.cfs_quota_us").write_text(quota)
    (folder / "cpu.cfs_period_us").write_text(period)


@pytest.mark.parametrize(
    ("cpu_max", "expected"),
    [
        ("50000 100000\n", 1),  # docker --cpus 0.5: a whole core's threads, not none
        ("150000 100000\n", min(AFFINITY, 2)),  # 1.5 CPUs rounds up, never above the affinity
        (f"{(AFFINITY + 4) * 100000} 100000\n", AFFINITY),
        ("max 100000\n", AFFINITY),  # no quota
        ("garbled", AFFINITY),
    ],
)
def test_a_cpu_quota_limits_the_cores_to_its_share_rounded_up(cpu_max: str, expected: int, tmp_path: Path) -> None:
    root, proc = cgroups(tmp_path, HOST_V2)
    (root / "cpu.max").write_text(cpu_max)
    assert usable_cores(root, proc) == expected


def test_without_a_cgroup_file_the_affinity_counts(tmp_path: Path) -> None:
    assert usable_cores(*cgroups(tmp_path, HOST_V2)) == AFFINITY
    assert usable_cores(tmp_path / "absent", tmp_path / "absent-proc") == AFFINITY


@pytest.mark.parametrize(
    ("quota", "period", "expected"),
    [
        ("50000\n", "100000\n", 1),  # docker --cpus 0.5 on a cgroup v1 host
        ("150000\n", "100000\n", min(AFFINITY, 2)),
        ("-1\n", "100000\n", AFFINITY),  # no quota
        ("garbled", "100000\n", AFFINITY),
        ("50000\n", "0\n", AFFINITY),
    ],
)
def test_a_cgroup_v1_quota_counts_where_there_is_no_v2_one(
    quota: str, period: str, expected: int, tmp_path: Path
) -> None:
    root, proc = cgroups(tmp_path, HOST_V1)
    v1_quota(root / "cpu", quota, period)
    assert usable_cores(root, proc) == expected


def test_a_cgroup_v2_quota_is_read_before_a_v1_one(tmp_path: Path) -> None:
    root, proc = cgroups(tmp_path, HOST_V1)
    (root / "cpu.max").write_text("50000 100000\n")
    v1_quota(root / "cpu", "-1\n")
    assert usable_cores(root, proc) == 1


@pytest.mark.parametrize("version", [1, 2])
def test_the_quota_of_the_processs_own_cgroup_counts(version: int, tmp_path: Path) -> None:
    """A systemd service's ``CPUQuota``, a process moved into a cgroup: not the mount's root."""
    own = "/system.slice/emostream-worker.service"
    root, proc = cgroups(tmp_path, f"12:cpu,cpuacct:{own}\n0::/\n" if version == 1 else f"0::{own}\n")
    if version == 1:
        v1_quota(root / "cpu", "-1\n")
        v1_quota(root / "cpu" / own.strip("/"), "50000\n")
    else:
        (root / "system.slice" / "emostream-worker.service").mkdir(parents=True)
        (root / "system.slice" / "emostream-worker.service" / "cpu.max").write_text("50000 100000\n")
    assert usable_cores(root, proc) == 1


def test_a_container_whose_cgroup_the_mount_does_not_show_reads_the_mounts_root(tmp_path: Path) -> None:
    """Docker on cgroup v1: /proc/self/cgroup names the host's path; the mount is the container's own cgroup."""
    root, proc = cgroups(tmp_path, "12:cpu,cpuacct:/docker/0123abcd\n")
    v1_quota(root / "cpu", "50000\n")
    assert usable_cores(root, proc) == 1


@pytest.mark.parametrize(
    ("workers", "cores", "threads"),
    [(1, 1, 1), (1, 2, 2), (2, 2, 1), (3, 2, 1), (1, 16, 2), (4, 16, 2), (8, 16, 2), (9, 16, 1)],
)
def test_workers_share_the_cores_at_most_two_threads_each(workers: int, cores: int, threads: int) -> None:
    assert worker_threads(workers, cores) == threads


def test_a_workers_default_threads_follow_its_cores(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("EMO_WORKER_THREADS", raising=False)
    monkeypatch.setattr(cpus, "usable_cores", lambda: 1)
    assert WorkerSettings().threads == 1
    monkeypatch.setattr(cpus, "usable_cores", lambda: 8)
    assert WorkerSettings().threads == 2
    monkeypatch.setenv("EMO_WORKER_THREADS", "3")
    assert WorkerSettings().threads == 3


def test_sessions_do_not_spin_between_calls() -> None:
    """A spinning thread took half of a shared core (docs/measurements.md, 2026-12-07)."""
    options = session_options(2)
    assert options.intra_op_num_threads == 2
    assert options.get_session_config_entry("session.intra_op.allow_spinning") == "0"


@pytest.mark.parametrize(("cores", "workers"), [(1, 1), (2, 1), (3, 1), (4, 2), (16, 8)])
def test_analyze_starts_a_worker_for_each_two_cores(cores: int, workers: int) -> None:
    assert analyze_workers(cores) == workers
