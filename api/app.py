"""The API's routes (FastAPI): versioned under ``/v1``, every one behind a bearer token.

``/healthz`` and ``/metrics`` stay open, like every other process's. Errors are JSON
(``{"detail": "..."}``) with the status that says what went wrong: 401 (token), 404 (not ours),
409 (not finished), 413 (too large), 422 (not a readable video, bad option), 503 (Redis or disk).
"""

import asyncio
import contextlib
import hmac
import logging
import secrets
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

import redis
from fastapi import Depends, FastAPI, HTTPException, Query, Request, Response
from fastapi.responses import FileResponse, JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from pydantic import ValidationError
from starlette.requests import ClientDisconnect

from api import metrics as am
from api.ingest import Ingest, read_options
from api.upload import UploadError, UploadTooLargeError, receive_upload
from api.videos import OUTPUTS, VideoStore, valid_video_id
from emostream import registry
from emostream.camerastatus import camera_status
from emostream.errors import SourceError
from emostream.redact import redact_text
from emostream.settings import ApiSettings
from producer.source import FileSource

log = logging.getLogger(__name__)

UPLOAD_FORM = {
    "requestBody": {
        "required": True,
        "content": {
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "required": ["file"],
                    "properties": {
                        "file": {"type": "string", "format": "binary", "description": "the video"},
                        "fps": {"type": "number", "exclusiveMinimum": 0, "maximum": 240},
                        "every_frame": {"type": "boolean"},
                        "render": {"type": "boolean", "description": "also write annotated.mp4"},
                    },
                }
            }
        },
    }
}


@dataclass(frozen=True)
class Services:
    settings: ApiSettings
    client: "redis.Redis"
    ingest: Ingest
    store: VideoStore


def create_app(settings: ApiSettings, client: "redis.Redis") -> FastAPI:
    tokens = settings.token_set()
    if not tokens:
        raise ValueError("no API token: set EMO_API_TOKENS or EMO_API_TOKENS_FILE")
    ingest = Ingest(settings, client)
    services = Services(settings, client, ingest, VideoStore(client, settings.out_dir, ingest))

    @contextlib.asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        resumed = ingest.resume()
        if resumed:
            log.info("resumed %d uploads left in %s", resumed, ingest.spool)
        yield
        ingest.close()

    app = FastAPI(title="emostream", version="1", lifespan=lifespan, description=__doc__)
    app.middleware("http")(_observe)
    app.exception_handler(redis.RedisError)(_redis_unavailable)
    _health_routes(app, client)
    authorised = Depends(_bearer(tokens))
    _video_routes(app, services, authorised)
    _camera_routes(app, services, authorised)
    return app


def _health_routes(app: FastAPI, client: "redis.Redis") -> None:
    @app.get("/healthz", tags=["health"])
    def healthz() -> JSONResponse:
        try:
            client.ping()
        except redis.RedisError as exc:
            return JSONResponse({"ok": False, "redis": redact_text(str(exc))}, status_code=503)
        return JSONResponse({"ok": True})

    @app.get("/metrics", tags=["health"])
    def metrics() -> Response:
        return Response(generate_latest(am.REGISTRY), media_type=CONTENT_TYPE_LATEST)


def _video_routes(app: FastAPI, services: Services, authorised: Any) -> None:
    store = services.store

    @app.post("/v1/videos", status_code=202, dependencies=[authorised], openapi_extra=UPLOAD_FORM)
    async def upload(request: Request) -> dict[str, str]:
        return await _upload(request, services)

    @app.get("/v1/videos", dependencies=[authorised])
    def list_videos(
        limit: Annotated[int, Query(ge=1, le=500)] = 50, offset: Annotated[int, Query(ge=0)] = 0
    ) -> dict[str, Any]:
        return store.recent(limit, offset)

    @app.get("/v1/videos/{video_id}", dependencies=[authorised])
    def video_status(video_id: str) -> dict[str, Any]:
        return store.status(_ours(video_id))

    @app.delete("/v1/videos/{video_id}", dependencies=[authorised], status_code=204)
    def delete_video(video_id: str) -> Response:
        store.delete(_ours(video_id))
        return Response(status_code=204)

    for route, output_file in OUTPUTS.items():
        _output_route(app, store, authorised, route, output_file)


def _camera_routes(app: FastAPI, services: Services, authorised: Any) -> None:
    client = services.client

    @app.get("/v1/cameras", dependencies=[authorised])
    def cameras() -> dict[str, Any]:
        return {"cameras": [camera_status(client, c) for c in services.store.camera_ids()]}

    @app.get("/v1/cameras/{camera_id}", dependencies=[authorised])
    def camera(camera_id: str) -> dict[str, Any]:
        state = camera_status(client, camera_id) if valid_video_id(camera_id) else None
        if state is None:
            raise HTTPException(404, f"no camera with id {camera_id!r}")
        return state


async def _redis_unavailable(_: Request, exc: Exception) -> JSONResponse:
    return JSONResponse({"detail": f"Redis is unavailable: {redact_text(str(exc))}"}, status_code=503)


def _output_route(app: FastAPI, store: VideoStore, authorised: Any, route: str, output_file: tuple[str, str]) -> None:
    filename, media = output_file

    def output(video_id: str) -> FileResponse:
        return FileResponse(store.output(_ours(video_id), filename), media_type=media)

    app.get(f"/v1/videos/{{video_id}}/{route}", dependencies=[authorised], name=f"video_{route}")(output)


async def _upload(request: Request, services: Services) -> dict[str, str]:
    settings, client, ingest = services.settings, services.client, services.ingest
    declared = int(request.headers.get("content-length") or 0)
    if declared > settings.max_upload_bytes:
        raise HTTPException(413, f"the upload is larger than {settings.max_upload_mb:g} MB")
    ingest.spool.mkdir(parents=True, exist_ok=True)
    partial = ingest.spool / f".upload-{secrets.token_hex(8)}.part"
    try:
        received = await receive_upload(
            request.headers.get("content-type", ""), request.stream(), partial, settings.max_upload_bytes
        )
    except UploadTooLargeError as exc:
        raise HTTPException(413, str(exc)) from None
    except UploadError as exc:
        raise HTTPException(422, str(exc)) from None
    except ClientDisconnect:
        log.info("an upload was abandoned by its client; nothing kept")
        raise
    except OSError as exc:  # a full disk, mostly
        raise HTTPException(503, f"cannot store the upload: {exc.strerror or exc}") from None
    am.UPLOAD_BYTES.inc(received.size)
    assert received.path is not None
    try:
        options = read_options(received.fields, received.filename)
        await asyncio.to_thread(_check_video, received.path)
        await asyncio.to_thread(client.ping)  # refuse now rather than accept what cannot be sent
    except ValidationError as exc:
        received.path.unlink(missing_ok=True)
        error = exc.errors()[0]
        raise HTTPException(422, f"{'.'.join(map(str, error['loc']))}: {error['msg']}") from None
    except SourceError as exc:
        received.path.unlink(missing_ok=True)
        raise HTTPException(422, str(exc)) from None
    except BaseException:
        received.path.unlink(missing_ok=True)
        raise
    video_id = _new_video_id(received.filename)
    try:
        ingest.accept(video_id, received.path, options)
    except OSError as exc:  # the spool's disk
        received.path.unlink(missing_ok=True)
        ingest.forget(video_id)
        raise HTTPException(503, f"cannot store the upload: {exc.strerror or exc}") from None
    return {"video_id": video_id, "status_url": f"/v1/videos/{video_id}"}


def _check_video(path: Path) -> None:
    """The producer's own checks: a readable video with at least one stream and a frame size."""
    FileSource(path).close()


def _new_video_id(filename: str) -> str:
    stem = registry.video_id_from_name(Path(filename).stem or "upload")[:40]
    return f"{stem}-{secrets.token_hex(4)}"


def _ours(video_id: str) -> str:
    if not valid_video_id(video_id):
        raise HTTPException(404, "no such video")
    return video_id


def _bearer(tokens: frozenset[str]) -> Callable[[Request], None]:
    encoded = [t.encode() for t in tokens]

    def check(request: Request) -> None:
        scheme, _, given = request.headers.get("authorization", "").partition(" ")
        # Compare with every token, always: the time taken does not tell which one nearly matched.
        matches = [hmac.compare_digest(given.strip().encode(), token) for token in encoded]
        if scheme.lower() != "bearer" or not any(matches):
            raise HTTPException(401, "a valid 'Authorization: Bearer <token>' header is required",
                                headers={"WWW-Authenticate": "Bearer"})  # fmt: skip

    return check


async def _observe(request: Request, call_next: Callable[[Request], Awaitable[Response]]) -> Response:
    """Request counts and latencies by route template (bounded labels) and status."""
    started = time.perf_counter()
    status = 500
    try:
        response = await call_next(request)
        status = response.status_code
        return response
    finally:
        route = request.scope.get("route")
        path = getattr(route, "path", "unmatched")
        am.REQUESTS.labels(request.method, path, str(status)).inc()
        am.REQUEST_SECONDS.labels(request.method, path).observe(time.perf_counter() - started)
