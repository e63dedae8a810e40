"""The ``emostream`` command: the one module of the core that starts services.

    emostream analyze VIDEO [VIDEO ...] --out DIR [--fps F] [--workers N]
    emostream produce VIDEO --video-id ID
    emostream watch UPLOADS [--once] [--check]
    emostream camera URL --camera-id ID [--fps F] | emostream camera --config cameras.toml
    emostream worker [--burst] [--check]
    emostream aggregator --out DIR [--burst] [--check]
    emostream status [VIDEO_ID | --camera ID]
    emostream render VIDEO --out DIR [--video-id ID] [--blur-faces]
    emostream api --out DIR [--host H] [--port P]
    emostream models fetch [--dir DIR]
    emostream sample-video OUT.mp4

Commands import what they use when they run: ``emostream status`` does not load a model, and
``emostream analyze`` starts its fork server (``emostream.spawn``) before this process imports
Redis's client and the settings, so that on two cores the two import side by side.
"""

import argparse
import json
import logging
import os
import re
import signal
import sys
from collections.abc import Sequence
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, Any, get_args

from pydantic import ValidationError

from emostream.cpus import analyze_workers
from emostream.errors import ConfigError, EmostreamError, SourceError
from emostream.keys import DetectorName
from emostream.memory import keep_frame_buffers
from emostream.redact import redact_text, redact_url

if TYPE_CHECKING:
    import redis

    from emostream.metrics import Liveness
    from emostream.settings import CommonSettings, ProducerSettings, WorkerSettings

log = logging.getLogger("emostream")

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2
EXIT_INTERRUPTED = 130  # 128 + SIGINT, as shells report it


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=getattr(logging, args.log_level.upper()),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    keep_frame_buffers()  # every service handles frames; emostream.memory says why
    try:
        return int(args.handler(args))
    except ValidationError as exc:
        print(f"emostream: invalid setting: {redact_text(_first_error(exc))}", file=sys.stderr)
        return EXIT_USAGE
    except EmostreamError as exc:
        print(f"emostream: {redact_text(str(exc))}", file=sys.stderr)
        return EXIT_FAILED
    except Stopped as exc:
        print(f"emostream: stopped by {signal.Signals(exc.signum).name}", file=sys.stderr)
        return 128 + exc.signum
    except KeyboardInterrupt:  # services handle SIGINT themselves; this is analyze, status and the like
        print("emostream: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED


class Stopped(KeyboardInterrupt):
    """SIGTERM or SIGHUP (a closed terminal or SSH session) to ``analyze``: unwound as Ctrl-C is, so
    its services, producers and embedded server are stopped rather than left running."""

    def __init__(self, signum: int) -> None:
        super().__init__(signum)
        self.signum = signum


def _stop_on_termination() -> None:
    def stop(signum: int, _frame: FrameType | None) -> None:
        raise Stopped(signum)

    for signum in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(signum, stop)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="emostream", description="Streaming facial-emotion analytics.")
    parser.add_argument("--log-level", default="info", choices=["debug", "info", "warning", "error"])
    commands = parser.add_subparsers(required=True, metavar="COMMAND")
    _add_analyze(commands)
    _add_produce(commands)
    _add_watch(commands)
    _add_camera(commands)
    _add_worker(commands)
    _add_aggregator(commands)
    _add_status(commands)
    _add_render(commands)
    _add_api(commands)
    _add_models(commands)
    _add_sample_video(commands)
    return parser


def _redis_flag(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--redis-url", help="Redis URL (env EMO_REDIS_URL); may carry a password")


def _metrics_flags(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--metrics-port", type=int, help="serve /metrics and /healthz on this port (default off)")
    parser.add_argument("--metrics-host", help="address to serve metrics on (default 127.0.0.1)")


def _sampling_flags(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--fps", type=float, help="frames per second to sample (default: source rate, capped)")
    parser.add_argument("--every-frame", action="store_true", default=None, help="process every frame")
    parser.add_argument("--jpeg-quality", type=int, help="JPEG quality of frames on the stream (10-100)")
    _frame_side_flag(parser)


def _frame_side_flag(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--max-frame-side", type=int, dest="max_frame_side_px", metavar="PX",
        help="larger frames are downscaled to this before faces are looked for (default 1280); "
        "1920 or 3840 find smaller faces in HD or 4K video, at more CPU (docs/configuration.md)",
    )  # fmt: skip


def _detector_flags(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--detector", choices=get_args(DetectorName),
        help="face detector (default: yunet, downloaded once into the model cache; haar if it cannot be had)",
    )  # fmt: skip
    parser.add_argument("--yunet-model", type=Path, help="YuNet ONNX file (SHA-256 checked); default: the cache")
    parser.add_argument("--model-path", type=Path, help="emotion model artifact (default: the committed one)")


def _add_analyze(commands: Any) -> None:
    p = commands.add_parser("analyze", help="analyse videos end to end with an embedded Redis")
    p.add_argument("videos", nargs="+", type=_video_file, metavar="VIDEO", help="video files, or folders of them")
    p.add_argument("--out", type=Path, required=True, help="output folder: OUT/<video_id>/timeline.json ...")
    p.add_argument(
        "--workers", type=_at_least_one,
        help="worker processes (default: one for each 2 cores this job may use, at least 1)",
    )  # fmt: skip
    p.add_argument("--render", action="store_true", help="also write OUT/<video_id>/annotated.mp4")
    p.add_argument("--blur-faces", action="store_true", help="render with every face blurred (implies --render)")
    _redis_flag(p)
    _sampling_flags(p)
    _detector_flags(p)
    p.set_defaults(handler=_analyze)


def _add_produce(commands: Any) -> None:
    p = commands.add_parser("produce", help="push a video file's sampled frames to Redis")
    p.add_argument("video", type=_video_file)
    p.add_argument("--video-id", required=True)
    p.add_argument(
        "--replace", action="store_true", help="start over if the video id exists (default: resume or refuse)"
    )
    _redis_flag(p)
    _metrics_flags(p)
    _sampling_flags(p)
    p.set_defaults(handler=_produce)


def _add_watch(commands: Any) -> None:
    p = commands.add_parser("watch", help="analyse every video dropped into an uploads folder, once")
    p.add_argument("uploads", type=Path, help="folder to watch; done files move to processed/ or failed/")
    p.add_argument("--poll-s", type=float, default=2.0, help="seconds between scans (default 2)")
    p.add_argument("--once", action="store_true", help="exit when no upload is waiting")
    p.add_argument(
        "--settle-s", type=float, default=60.0,
        help="a file that cannot be read yet is retried until it has been still this long (default 60)",
    )  # fmt: skip
    p.add_argument("--check", action="store_true", help="exit 0 if this host's watcher is healthy, else 1")
    _redis_flag(p)
    _metrics_flags(p)
    _sampling_flags(p)
    p.set_defaults(handler=_watch)


def _add_camera(commands: Any) -> None:
    p = commands.add_parser("camera", help="stream live cameras (RTSP, other URLs, device index) to Redis")
    p.add_argument("url", nargs="?", help="rtsp://..., any URL FFmpeg opens, or a device index such as 0")
    p.add_argument("--camera-id", help="id of the camera given as URL")
    p.add_argument("--fps", type=float, help="frames per second to sample (default 5)")
    p.add_argument("--backlog-frames", type=int, help="frames waiting per camera before the oldest drop")
    p.add_argument("--restart-budget", type=int, help="consecutive failed connection attempts before 'failed'")
    p.add_argument("--open-timeout-s", type=float, help="seconds to wait for a camera to open (default 10)")
    p.add_argument("--stall-s", type=float, help="no frame for this long is a dropped stream (default 5)")
    p.add_argument("--transport", choices=["tcp", "udp"], help="RTSP transport (default tcp)")
    _frame_side_flag(p)
    p.add_argument("--config", type=Path, help="TOML file with [[cameras]] tables, for many cameras")
    p.add_argument("--check", action="store_true", help="exit 0 if this host's camera producer is healthy, else 1")
    _redis_flag(p)
    _metrics_flags(p)
    p.set_defaults(handler=_camera)


def _add_worker(commands: Any) -> None:
    p = commands.add_parser("worker", help="detect faces and classify emotions from the frames stream")
    p.add_argument("--name", help="consumer name (default host-pid); reuse it to resume a crashed worker")
    p.add_argument("--burst", action="store_true", help="drain the stream, then exit")
    p.add_argument("--check", action="store_true", help="exit 0 if this host's worker is healthy, else 1")
    p.add_argument("--batch-frames", type=int)
    _redis_flag(p)
    _metrics_flags(p)
    _detector_flags(p)
    p.set_defaults(handler=_worker)


def _add_aggregator(commands: Any) -> None:
    p = commands.add_parser("aggregator", help="store results and write per-video timelines")
    p.add_argument("--out", type=Path, dest="out_dir", help="output folder (default ./out)")
    p.add_argument("--name", help="consumer name (default host-pid)")
    p.add_argument("--burst", action="store_true", help="drain the stream, then exit")
    p.add_argument("--check", action="store_true", help="exit 0 if this host's aggregator is healthy, else 1")
    _redis_flag(p)
    _metrics_flags(p)
    p.set_defaults(handler=_aggregator)


def _add_status(commands: Any) -> None:
    p = commands.add_parser("status", help="print a video's or a camera's state as JSON")
    p.add_argument("video_id", nargs="?", help="omit to list every video")
    p.add_argument("--camera", metavar="ID", help="a camera's state, counters and latest windows")
    p.add_argument(
        "--out", dest="out_dir", type=Path,
        help="the aggregator's output folder: a finished video whose Redis state has expired is read from it",
    )  # fmt: skip
    _redis_flag(p)
    p.set_defaults(handler=_status)


def _add_render(commands: Any) -> None:
    p = commands.add_parser("render", help="draw an analysed video's people and emotions: annotated.mp4")
    p.add_argument("video", type=_video_file, metavar="VIDEO", help="the source video that was analysed")
    p.add_argument("--out", type=Path, required=True, help="the output folder given to analyze")
    p.add_argument("--video-id", help="default: the id analyze gave this file name")
    p.add_argument("--blur-faces", action="store_true", help="blur every face; labels and bars stay")
    p.set_defaults(handler=_render)


def _add_api(commands: Any) -> None:
    p = commands.add_parser("api", help="the HTTP API: uploads, progress, results, cameras (bearer tokens)")
    p.add_argument("--out", type=Path, dest="out_dir", help="the aggregator's output folder (default ./out)")
    p.add_argument("--host", help="address to listen on (default 127.0.0.1)")
    p.add_argument("--port", type=int, help="port (default 8000)")
    _redis_flag(p)
    p.set_defaults(handler=_api)


def _add_models(commands: Any) -> None:
    p = commands.add_parser("models", help="third-party model files (the YuNet face detector)")
    actions = p.add_subparsers(required=True, metavar="ACTION")
    fetch = actions.add_parser("fetch", help="download YuNet into the model cache now (hash checked), load it once")
    fetch.add_argument("--dir", type=Path, help="model cache (env EMO_MODEL_DIR; default ~/.cache/emostream)")
    fetch.set_defaults(handler=_models_fetch)


def _add_sample_video(commands: Any) -> None:
    p = commands.add_parser("sample-video", help="make a short test video with a real face")
    p.add_argument("path", type=Path)
    p.set_defaults(handler=_sample_video)


def _video_file(text: str) -> Path:
    """A path; a URL is refused with what to do instead (as a path it would read ``https:/host/...``)."""
    if re.match(r"[A-Za-z][A-Za-z0-9+.-]*://", text):
        raise argparse.ArgumentTypeError(
            f"{redact_url(text)} is a URL, not a file: download it first, "
            "or analyse a live stream with: emostream camera URL --camera-id ID"
        )
    return Path(text)


def _at_least_one(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def settings_kwargs(args: argparse.Namespace, names: Sequence[str]) -> dict[str, Any]:
    """Flags that were given, for a settings object (flags override the environment)."""
    return {name: getattr(args, name) for name in names if getattr(args, name, None) is not None}


METRICS_FLAGS = ["metrics_port", "metrics_host"]


def producer_settings(args: argparse.Namespace) -> "ProducerSettings":
    from emostream.settings import ProducerSettings

    names = ["redis_url", "fps", "every_frame", "jpeg_quality", "max_frame_side_px", *METRICS_FLAGS]
    return ProducerSettings(**settings_kwargs(args, names))


def worker_settings(args: argparse.Namespace) -> "WorkerSettings":
    from emostream.settings import WorkerSettings

    names = ["redis_url", "name", "batch_frames", "detector", "yunet_model", "model_path", *METRICS_FLAGS]
    return WorkerSettings(**settings_kwargs(args, names))


def start_metrics(settings: "CommonSettings", role: str, **build: str) -> "Liveness":
    """Build info and zeroed series; the /metrics + /healthz server if a port is set."""
    from emostream import metrics

    metrics.init_labels(role, **build)
    liveness = metrics.Liveness()
    if settings.metrics_port is not None:
        metrics.serve(settings.metrics_host, settings.metrics_port, liveness)
    return liveness


def _connect(url: str) -> "redis.Redis":
    from emostream.redisconn import connect

    return connect(url)


def _produce(args: argparse.Namespace) -> int:
    from producer.producer import FileProducer

    settings = producer_settings(args)
    with _connect(settings.redis_url) as client:  # closed however the service ends
        liveness = start_metrics(settings, "producer")
        producer = FileProducer(settings, client, replace=args.replace, liveness=liveness)
        report = producer.produce(args.video, args.video_id)
        print(
            json.dumps(
                {"video_id": report.video_id, "frames_sent": report.frames_sent, "sample_fps": report.sample_fps}
            )
        )
        return EXIT_OK


def _worker(args: argparse.Namespace) -> int:
    from emostream.lifecycle import check_health, install_stop_handlers
    from worker.factory import create_worker

    settings = worker_settings(args)
    with _connect(settings.redis_url) as client:  # closed however the service ends
        if args.check:
            return _report_health(check_health(client, "worker", settings.name))
        worker = create_worker(settings, client)
        processor = worker.processor
        worker.liveness = start_metrics(
            settings, "worker", model_version=processor.classifier.version, detector=processor.detector.name
        )
        install_stop_handlers(worker.request_stop)
        worker.run(burst=args.burst)
        return EXIT_OK


def _aggregator(args: argparse.Namespace) -> int:
    from aggregator.aggregator import Aggregator
    from emostream.lifecycle import check_health, install_stop_handlers
    from emostream.settings import AggregatorSettings

    settings = AggregatorSettings(**settings_kwargs(args, ["redis_url", "out_dir", "name", *METRICS_FLAGS]))
    with _connect(settings.redis_url) as client:  # closed however the service ends
        if args.check:
            return _report_health(check_health(client, "aggregator", settings.name))
        _output_folder(settings.out_dir)  # now, rather than at the first video's end
        aggregator = Aggregator(settings, client, start_metrics(settings, "aggregator"))
        install_stop_handlers(aggregator.request_stop)
        aggregator.run(burst=args.burst)
        return EXIT_OK


def _watch(args: argparse.Namespace) -> int:
    from emostream.lifecycle import check_health, install_stop_handlers
    from producer.watch import UploadWatcher

    settings = producer_settings(args)
    with _connect(settings.redis_url) as client:  # closed however the service ends
        if args.check:
            return _report_health(check_health(client, "producer", None))
        metrics = start_metrics(settings, "producer")
        watcher = UploadWatcher(settings, client, args.uploads, args.poll_s, metrics, settle_s=args.settle_s)
        install_stop_handlers(watcher.request_stop)
        stats = watcher.run(once=args.once)
        print(json.dumps({"processed": stats.processed, "failed": stats.failed}))
        return EXIT_OK


def _camera(args: argparse.Namespace) -> int:
    from emostream.lifecycle import check_health, install_stop_handlers
    from producer.camera import CameraConfig, CameraProducer, load_cameras

    settings = producer_settings(args)
    if args.check:
        with _connect(settings.redis_url) as client:
            return _report_health(check_health(client, "camera", None))
    if args.config is not None:
        if args.url is not None:
            raise ConfigError("give either a camera URL or --config, not both")
        cameras = load_cameras(args.config)
    else:
        if args.url is None or args.camera_id is None:
            raise ConfigError("give a camera URL and --camera-id, or --config FILE")
        names = [
            "camera_id",
            "url",
            "fps",
            "backlog_frames",
            "restart_budget",
            "open_timeout_s",
            "stall_s",
            "transport",
            "max_frame_side_px",
        ]
        cameras = [CameraConfig(**settings_kwargs(args, names))]
    with _connect(settings.redis_url) as client:  # closed however the service ends
        producer = CameraProducer(cameras, client, start_metrics(settings, "producer"))
        install_stop_handlers(producer.request_stop)
        states = producer.run()
        print(json.dumps(states))
        if all(state == "failed" for state in states.values()):
            failed = ", ".join(f"{r.config.camera_id}: {r.error}" for r in producer.runners)
            raise SourceError(f"every camera failed ({redact_text(failed)})")
        return EXIT_OK


def _status(args: argparse.Namespace) -> int:
    from emostream import registry
    from emostream.outputs import expired_status
    from emostream.settings import AggregatorSettings

    settings = AggregatorSettings(**settings_kwargs(args, ["redis_url", "out_dir"]))
    with _connect(settings.redis_url) as client:  # closed however the service ends
        if args.camera:
            from emostream.camerastatus import camera_status

            state = camera_status(client, args.camera)
            if state is None:
                print(f"emostream: no camera with id {args.camera!r}", file=sys.stderr)
                return EXIT_FAILED
            print(json.dumps(state, indent=1, ensure_ascii=False))
            return EXIT_OK
        ids = [args.video_id] if args.video_id else registry.all_video_ids(client)
        states = []
        for video_id, record in registry.read_many(client, ids).items():
            if record is None and not args.video_id:  # expired (EMO_RESULTS_TTL_S) since it was listed
                continue
            if record is None:  # its Redis state may have expired while its files are kept
                if (written := expired_status(settings.out_dir / video_id, video_id)) is not None:
                    states.append(written)
                    continue
                print(f"emostream: no video with id {video_id!r}", file=sys.stderr)
                return EXIT_FAILED
            done = registry.results_count(client, video_id)
            state = {**record.model_dump(), "cuts": record.shot_cuts}  # [[frame index, t_ms], ...], not its JSON text
            states.append({**state, "warnings": record.warnings, "frames_done": done})
        print(json.dumps(states[0] if args.video_id else states, indent=1, ensure_ascii=False))
        return EXIT_OK


def _render(args: argparse.Namespace) -> int:
    from aggregator.render import render_video
    from emostream.analyze import video_ids_for

    video_id = args.video_id or video_ids_for([args.video])[0]
    stats = render_video(args.video, args.out / video_id, blur_faces=args.blur_faces)
    print(json.dumps({"path": str(stats.path), "frames": stats.frames, "frames_per_s": round(stats.fps, 1)}))
    return EXIT_OK


def _api(args: argparse.Namespace) -> int:
    from api.serve import serve
    from emostream.settings import ApiSettings

    settings = ApiSettings(**settings_kwargs(args, ["redis_url", "out_dir", "host", "port"]))
    if not settings.token_set():
        raise ConfigError("the API needs at least one token: set EMO_API_TOKENS or EMO_API_TOKENS_FILE")
    _output_folder(settings.out_dir)
    _output_folder(settings.spool_dir)
    with _connect(settings.redis_url) as client:
        serve(settings, client, args.log_level)
    return EXIT_OK


def _models_fetch(args: argparse.Namespace) -> int:
    from emostream.modelstore import ModelStore, find_yunet
    from emostream.settings import WorkerSettings
    from worker.detectors.yunet import YuNetDetector

    settings = WorkerSettings(**({"model_dir": args.dir} if args.dir else {}))
    store = ModelStore.default(settings.model_dir, settings.yunet_url)
    path = find_yunet(None, store)
    YuNetDetector(path, settings.detect_max_side_px, cache=store.folder)  # loads it and derives its any-size copy
    print(path)
    return EXIT_OK


def _sample_video(args: argparse.Namespace) -> int:
    from emostream.sample import make_sample_video

    frames = make_sample_video(args.path)
    print(f"wrote {args.path} ({frames} frames)")
    return EXIT_OK


def _analyze(args: argparse.Namespace) -> int:
    from emostream.mediafiles import expand_folders
    from emostream.spawn import FORK_SERVER_LOG, start_fork_server

    _stop_on_termination()
    videos = expand_folders(args.videos, outside=args.out)
    logs = _output_folder(_output_folder(args.out) / "logs")
    # First: it imports the services' libraries while this process imports the rest of its own.
    start_fork_server(logs / FORK_SERVER_LOG)
    from emostream.analyze import AnalyzeOptions, run_analyze

    options = AnalyzeOptions(
        videos=videos,
        out_dir=args.out,
        workers=args.workers or analyze_workers(),
        redis_url=args.redis_url or os.environ.get("EMO_REDIS_URL"),  # like every command; else embedded
        producer=producer_settings(args),
        worker_flags=settings_kwargs(args, ["detector", "yunet_model", "model_path"]),
        render=args.render or args.blur_faces,
        blur_faces=args.blur_faces,
    )
    return run_analyze(options)


def _output_folder(path: Path) -> Path:
    """``path``, made if missing; a clear error where it cannot be (a file, no permission)."""
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        reason = "a file has that name" if isinstance(exc, FileExistsError) else exc.strerror
        raise ConfigError(f"cannot use {path} as an output folder: {reason}") from exc
    return path


def _report_health(health: tuple[bool, str]) -> int:
    ok, reason = health
    print(reason)
    return EXIT_OK if ok else EXIT_FAILED


def _first_error(exc: ValidationError) -> str:
    error = exc.errors()[0]
    where = ".".join(str(p) for p in error["loc"])
    message = str(error["msg"]).removeprefix("Value error, ")
    return f"{where}: {message}" if where else message
