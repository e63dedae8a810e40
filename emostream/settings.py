"""Typed settings, one object per process, read once at the entry point.

Each service has its own environment prefix (``EMO_PRODUCER_``, ``EMO_WORKER_``,
``EMO_AGGREGATOR_``); the Redis URL is shared as ``EMO_REDIS_URL``. Command-line
flags override the environment. Unknown keys are rejected.
"""

import difflib
import os
from pathlib import Path
from typing import Literal

from pydantic import AliasChoices, Field, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from emostream import keys
from emostream.cpus import worker_threads
from emostream.keys import DetectorName
from emostream.redact import redact_url

DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/0"


class CommonSettings(BaseSettings):
    model_config = SettingsConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    # repr=False: the URL may carry a password; log redis_url_redacted instead.
    redis_url: str = Field(
        DEFAULT_REDIS_URL,
        repr=False,
        validation_alias=AliasChoices("redis_url", "EMO_REDIS_URL"),
    )

    metrics_port: int | None = Field(None, ge=0, le=65535, description="serve /metrics and /healthz; None: off")
    metrics_host: str = Field("127.0.0.1", description="0.0.0.0 in containers, so Prometheus can scrape")

    @property
    def redis_url_redacted(self) -> str:
        return redact_url(self.redis_url)

    @classmethod
    def variables(cls) -> tuple[set[str], set[str]]:
        """(variables read under this class's prefix, variables read through an alias such as EMO_REDIS_URL)."""
        prefix = cls.model_config.get("env_prefix", "")
        fields = cls.model_fields
        # A field read through an alias (EMO_REDIS_URL, EMO_MODEL_DIR, ...) is not read under the prefix.
        prefixed = {prefix + name.upper() for name, field in fields.items() if field.validation_alias is None}
        aliases = {
            str(c)
            for f in fields.values()
            if isinstance(f.validation_alias, AliasChoices)
            for c in f.validation_alias.choices
            if str(c).startswith("EMO_")
        }
        return prefixed, aliases

    @model_validator(mode="after")
    def _no_unknown_variables(self) -> "CommonSettings":
        """A typo such as EMO_WORKER_BATCH_FRAMEZ is an error naming the closest setting, not ignored."""
        prefix = self.model_config.get("env_prefix", "")
        if not prefix:
            return self
        known, aliases = self.variables()
        names = sorted(known | aliases)
        for variable in sorted(v for v in os.environ if v.upper().startswith(prefix) and v.upper() not in known):
            closest = difflib.get_close_matches(variable.upper(), names, n=1)
            hint = f"; did you mean {closest[0]}?" if closest else f" (settings with {prefix}: docs in the README)"
            raise ValueError(f"unknown setting {variable}{hint}")
        return self


class ProducerSettings(CommonSettings):
    model_config = SettingsConfigDict(env_prefix="EMO_PRODUCER_")

    fps: float | None = Field(None, gt=0, le=240, description="sampling rate; None: source rate capped")
    max_fps: float = Field(keys.DEFAULT_MAX_FPS, gt=0)
    every_frame: bool = False
    jpeg_quality: int = Field(keys.JPEG_QUALITY, ge=10, le=100)
    frame_encoding: Literal["jpeg", "i420"] = Field(
        "jpeg", description="i420: raw pixels, for workers on this machine (what analyze uses with its own server)"
    )
    backlog_max_frames: int = Field(keys.BACKLOG_MAX_FRAMES, ge=1)
    max_frame_side_px: int = Field(keys.MAX_FRAME_SIDE_PX, ge=64)
    max_jpeg_bytes: int = Field(keys.MAX_JPEG_BYTES, ge=10_000)
    find_cuts: bool = Field(True, description="find a file's shot cuts, where people's tracks start afresh")


class WorkerSettings(CommonSettings):
    model_config = SettingsConfigDict(env_prefix="EMO_WORKER_")

    name: str | None = Field(None, description="consumer name; default host-pid")
    batch_frames: int = Field(keys.WORKER_BATCH_FRAMES, ge=1, le=1024)
    block_ms: int = Field(keys.WORKER_BLOCK_MS, ge=1)
    claim_idle_ms: int = Field(keys.CLAIM_IDLE_MS, ge=100)
    max_deliveries: int = Field(keys.MAX_DELIVERIES, ge=1)
    detector: DetectorName | None = Field(
        None, description="default: yunet (fetched once into the model cache), else haar with a warning"
    )
    yunet_model: Path | None = Field(None, description="YuNet file to use instead of the model cache")
    model_dir: Path | None = Field(
        None, validation_alias=AliasChoices("model_dir", "EMO_MODEL_DIR"),
        description="model cache; default the user's cache directory (~/.cache/emostream)",
    )  # fmt: skip
    yunet_url: str | None = Field(None, description="where to download YuNet from; default OpenCV Zoo")
    detect_max_side_px: int | None = Field(
        None, ge=64,
        description="frames are downscaled for detection to at most this; default: Haar 640, YuNet no limit "
        "(as far as keeps the smallest wanted face findable)",
    )  # fmt: skip
    detect_min_face_px: int = Field(
        keys.DETECT_MIN_FACE_PX, ge=0, description="YuNet: the smallest face to find; frames are downscaled no further"
    )
    detect_interval_ms: int = Field(
        keys.DETECT_INTERVAL_MS, ge=0,
        description="a frame this close (video time) to the last detected one of its batch gets faces interpolated "
        "from the detected frames around it; 0: detect on every frame",
    )  # fmt: skip
    model_path: Path | None = Field(None, description="emotion model artifact; default: the committed one")
    threads: int = Field(
        default_factory=worker_threads, ge=1,
        description="inference and OpenCV threads; default: the cores this worker may use, at most 2",
    )  # fmt: skip
    dead_letter_keep_frames: bool = Field(False, description="keep poison frames' JPEG in emo:dead (off: privacy)")


class AggregatorSettings(CommonSettings):
    model_config = SettingsConfigDict(env_prefix="EMO_AGGREGATOR_")

    out_dir: Path = Path("out")
    name: str | None = None
    batch: int = Field(keys.AGGREGATOR_BATCH, ge=1)
    block_ms: int = Field(keys.WORKER_BLOCK_MS, ge=1)
    stall_timeout_s: float = Field(keys.STALL_TIMEOUT_S, gt=0)
    claim_idle_ms: int = Field(keys.CLAIM_IDLE_MS, ge=100, description="results pending this long are claimed")
    results_ttl_s: int = Field(
        keys.RESULTS_TTL_S, ge=0, validation_alias=AliasChoices("results_ttl_s", "EMO_RESULTS_TTL_S"),
        description="a finished video's Redis state expires this long after its files are written; 0: never",
    )  # fmt: skip
    output_retention_days: float = Field(
        0, ge=0, validation_alias=AliasChoices("output_retention_days", "EMO_OUTPUT_RETENTION_DAYS"),
        description="finished videos' output folders older than this are removed; 0: kept for ever",
    )  # fmt: skip
    smoothing: Literal["hmm", "ema", "none"] = Field("hmm", description="per-person smoothing over time")
    uncertain_below: float = Field(keys.UNCERTAIN_BELOW, ge=0, le=1, description="smoothed top probability")
    track_lost_s: float = Field(keys.TRACK_LOST_S, gt=0, description="a face missed this long keeps its track")
    track_min_frames: int = Field(keys.TRACK_MIN_FRAMES, ge=1, description="shorter tracks are phantoms")
    aof_scrub_s: float = Field(
        keys.AOF_SCRUB_S, ge=0, description="rewrite Redis's AOF this often while frames were deleted; 0: never"
    )

    @field_validator("out_dir")
    @classmethod
    def _absolute(cls, value: Path) -> Path:
        return value.expanduser().resolve()


class ApiSettings(CommonSettings):
    model_config = SettingsConfigDict(env_prefix="EMO_API_")

    out_dir: Path = Field(Path("out"), description="the aggregator's output folder, read for results")
    uploads_dir: Path | None = Field(None, description="where uploads wait to be sent; default OUT/.uploads")
    host: str = "127.0.0.1"
    port: int = Field(8000, ge=0, le=65535)
    # repr=False: secrets. Comma-separated bearer tokens, or a file with one per line.
    tokens: str = Field("", repr=False)
    tokens_file: Path | None = None
    max_upload_mb: float = Field(keys.API_MAX_UPLOAD_MB, gt=0)
    producers: int = Field(2, ge=1, le=16, description="uploads sent to the frames stream at once")
    session_hours: float = Field(12, ge=0, description="how long a browser stays signed in; 0: no browser sign-in")
    auth_failures_per_minute: int = Field(
        keys.API_AUTH_FAILURES_PER_MINUTE, ge=0, description="wrong tokens from one address before 429s; 0: no limit"
    )

    @field_validator("out_dir")
    @classmethod
    def _absolute_out(cls, value: Path) -> Path:
        return value.expanduser().resolve()

    @property
    def spool_dir(self) -> Path:
        return self.uploads_dir or self.out_dir / ".uploads"

    @property
    def max_upload_bytes(self) -> int:
        return int(self.max_upload_mb * 1024 * 1024)

    def token_set(self) -> frozenset[str]:
        """Every accepted token; empty means no key was configured (the API then refuses to start)."""
        found = [t.strip() for t in self.tokens.split(",")]
        if self.tokens_file is not None:
            found += [line.strip() for line in self.tokens_file.read_text().splitlines()]
        return frozenset(t for t in found if t and not t.startswith("#"))
