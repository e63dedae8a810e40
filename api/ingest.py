"""Uploaded videos on their way to the frames stream, one job folder each, so none is lost.

An accepted upload is ``SPOOL/<video_id>/`` holding the video under its uploaded file name (the
registry shows it as the source) and ``job.json`` (its options). A small pool of threads sends
each through ``FileProducer``; the folder is removed once the frames are sent (and, with
``render``, once the finished video is rendered). If Redis goes away midway
the job stays and is retried with back-off (the producer resumes after its last sent frame); an
API restarted with jobs in its spool picks them up again.
"""

import logging
import re
import shutil
import subprocess
import sys
import threading
import time
import unicodedata
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import redis
from pydantic import BaseModel, ConfigDict, Field

from emostream import registry
from emostream.errors import EmostreamError, ServiceError, SourceError
from emostream.lifecycle import Backoff
from emostream.redact import redact_text
from emostream.settings import ApiSettings, ProducerSettings
from producer.producer import FileProducer

log = logging.getLogger(__name__)

RENDER_POLL_S = 2.0
RENDER_WAIT_S = 24 * 3600.0  # a video not finished within a day is not rendered
JOB_FILE = "job.json"
UNSAFE_NAME = re.compile(r"[^\w. -]")  # \w: letters and digits of any script, and _
MAX_NAME_BYTES = 200  # file systems allow 255 bytes a name; CJK letters take 3 each
MAX_SUFFIX_CHARS = 10


class UploadOptions(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    fps: float | None = Field(None, gt=0, le=240)
    every_frame: bool = False
    max_frame_side: int | None = Field(None, ge=64, le=8192)  # EMO_PRODUCER_MAX_FRAME_SIDE_PX for this video
    render: bool = False
    filename: str = ""


class Ingest:
    def __init__(self, settings: ApiSettings, client: "redis.Redis") -> None:
        self.settings = settings
        self.client = client
        self.spool = settings.spool_dir
        self.spool.mkdir(parents=True, exist_ok=True)
        self._pool = ThreadPoolExecutor(settings.producers, thread_name_prefix="ingest")
        # Renders wait for their video to finish: on a thread of their own, so they never hold up sending.
        self._renders = ThreadPoolExecutor(1, thread_name_prefix="render")
        self._stopping = threading.Event()
        self.queued: set[str] = set()  # accepted, not yet registered by the producer
        self.producer_settings = ProducerSettings(redis_url=settings.redis_url)  # EMO_PRODUCER_* apply too

    def resume(self) -> int:
        """Jobs left in the spool by a previous run; returns how many were queued again."""
        jobs = sorted(job.parent.name for job in self.spool.glob(f"*/{JOB_FILE}"))
        for video_id in jobs:
            self.submit(video_id)
        return len(jobs)

    def accept(self, video_id: str, upload: Path, options: UploadOptions) -> None:
        """Move a received upload into its job folder with its options, then queue it."""
        folder = self.spool / video_id
        folder.mkdir()
        upload.replace(folder / safe_file_name(options.filename))
        self._job_file(video_id).write_text(options.model_dump_json())  # last: the job is complete
        self.submit(video_id)

    def submit(self, video_id: str) -> None:
        self.queued.add(video_id)
        self._pool.submit(self._run, video_id)

    def close(self) -> None:
        self._stopping.set()
        self._pool.shutdown(wait=True, cancel_futures=True)
        self._renders.shutdown(wait=True, cancel_futures=True)

    def forget(self, video_id: str) -> None:
        """Drop a job's files (the video was deleted)."""
        shutil.rmtree(self.spool / video_id, ignore_errors=True)
        self.queued.discard(video_id)

    def _job_file(self, video_id: str) -> Path:
        return self.spool / video_id / JOB_FILE

    def _video_file(self, video_id: str) -> Path | None:
        found = [p for p in (self.spool / video_id).glob("*") if p.name != JOB_FILE]
        return found[0] if found else None

    def _run(self, video_id: str) -> None:
        backoff = Backoff(cap_s=30.0)
        while not self._stopping.is_set():
            try:
                self._produce(video_id)
                return
            except (redis.RedisError, ServiceError) as exc:
                delay = backoff.next_delay()
                log.warning("%s: Redis unavailable (%s); retrying in %.1f s", video_id, redact_text(str(exc)), delay)
                self._stopping.wait(delay)
            except Exception:
                log.exception("%s: upload could not be sent; its job stays in %s", video_id, self.spool)
                self.queued.discard(video_id)
                return

    def _produce(self, video_id: str) -> None:
        job, video = self._job_file(video_id), self._video_file(video_id)
        if not job.is_file() or video is None:  # deleted meanwhile
            self.queued.discard(video_id)
            return
        options = UploadOptions.model_validate_json(job.read_text())
        record = registry.read(self.client, video_id)
        if record is None or record.status == "producing":
            self._send(video, video_id, options)
        if options.render:
            self._renders.submit(self._render_when_finished, video_id, video)
        else:
            shutil.rmtree(job.parent, ignore_errors=True)

    def _render_when_finished(self, video_id: str, video: Path) -> None:
        try:
            finished = self._wait_until_finished(video_id)
            if self._stopping.is_set():  # the job stays in the spool: rendered after the next start
                return
            if finished:
                self._render(video, video_id)
        except Exception:
            log.exception("%s: render could not be run", video_id)
        shutil.rmtree(self.spool / video_id, ignore_errors=True)

    def _send(self, video: Path, video_id: str, options: UploadOptions) -> None:
        overrides: dict[str, object] = {
            "fps": options.fps, "every_frame": options.every_frame or None, "max_frame_side_px": options.max_frame_side,
        }  # fmt: skip
        settings = self.producer_settings.model_copy(update={k: v for k, v in overrides.items() if v is not None})
        try:
            report = FileProducer(settings, self.client).produce(video, video_id)
            log.info("%s: %d frames sent from upload %s", video_id, report.frames_sent, options.filename)
        except SourceError as exc:  # registered as failed by the producer, with the reason
            log.warning("%s: %s", video_id, exc)
        except ServiceError:  # Redis went away: _run retries
            raise
        except EmostreamError as exc:
            log.warning("%s: %s", video_id, redact_text(str(exc)))
        finally:
            self.queued.discard(video_id)

    def _wait_until_finished(self, video_id: str) -> bool:
        deadline = time.monotonic() + RENDER_WAIT_S
        while not self._stopping.is_set() and time.monotonic() < deadline:
            record = registry.read(self.client, video_id)
            if record is None or record.status == "failed":
                return False
            finished = record.status in ("complete", "partial")
            if finished and (self.settings.out_dir / video_id / "summary.json").is_file():
                return True
            self._stopping.wait(RENDER_POLL_S)
        return False

    def _render(self, video: Path, video_id: str) -> None:
        command = [sys.executable, "-m", "emostream", "render", str(video), "--out", str(self.settings.out_dir)]
        done = subprocess.run(  # noqa: S603 (our own command; the file name was made safe)
            [*command, "--video-id", video_id], capture_output=True, text=True, check=False
        )
        if done.returncode != 0:
            log.warning("%s: render failed: %s", video_id, done.stderr.strip().splitlines()[-1:] or "no output")


def safe_file_name(filename: str) -> str:
    """The uploaded file's own name, without a path or odd characters (it becomes the video's source).

    Letters and digits of any script stay (``会议.mp4``; macOS's decomposed accents are composed
    first); the name is shortened to ``MAX_NAME_BYTES`` of UTF-8, keeping its suffix."""
    name = UNSAFE_NAME.sub("_", Path(unicodedata.normalize("NFC", filename).replace("\\", "/")).name).strip(" .")
    stem, suffix = (name, "") if len(Path(name).suffix) > MAX_SUFFIX_CHARS else (Path(name).stem, Path(name).suffix)
    room = MAX_NAME_BYTES - len(suffix.encode())
    stem = stem.encode()[:room].decode("utf-8", "ignore").rstrip(" .")
    return f"{stem}{suffix}" if stem else "upload.mp4"


def read_options(fields: dict[str, str], filename: str) -> UploadOptions:
    """The form's optional fields as typed options (pydantic's error names the bad field)."""
    return UploadOptions.model_validate({**fields, "filename": filename[:200]})
