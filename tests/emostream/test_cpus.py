"""The cores a process may use, the workers' share of them, and sessions that do not spin."""

import os
from pathlib import Path

import pytest

from emostream import cpus
from emostream.cpus import analyze_workers, session_options, usable_cores, worker_threads
from emostream.settings import WorkerSettings

AFFINITY = len(os.sched_getaffinity(0))


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
    (tmp_path / "cpu.max").write_text(cpu_max)
    assert usable_cores(tmp_path / "cpu.max") == expected


def test_without_a_cgroup_file_the_affinity_counts(tmp_path: Path) -> None:
    assert usable_cores(tmp_path / "absent") == AFFINITY


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
