"""The API's routes (FastAPI): versioned under ``/v1``, every one behind a bearer token.

``/healthz`` and ``/metrics`` stay open, like every other process's. A browser signs in at ``/``
with a token and gets a session cookie (``api.session``), which the ``/v1`` routes that read
accept in place of the header; what changes anything (uploads, deletes) still needs the header,
or, for the page's own upload form, the cookie from a page of this server. Errors are JSON
(``{"detail": "..."}``) with the status that says what went wrong: 401 (token), 404 (not ours),
409 (not finished), 413 (too large), 422 (not a readable video, bad option), 503 (Redis or disk).
"""

import asyncio
import contextlib
import hmac
import logging
import secrets
import time
import urllib.parse
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

import redis
from fastapi import Depends, FastAPI, HTTPException, Query, Request, Response
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse, RedirectResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from pydantic import ValidationError
from starlette.requests import ClientDisconnect

from api import metrics as am
from api import pages, session
from api.ingest import Ingest, read_options
from api.throttle import FailureLimit, weak_tokens
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
                        "max_frame_side": {
                            "type": "integer",
                            "minimum": 64,
                            "maximum": 8192,
                            "description": "frames larger than this are downscaled before faces are looked for "
                            "(default 1280); 1920 or 3840 find smaller faces in HD or 4K video, at more CPU",
                        },
                        "render": {"type": "boolean", "description": "also write annotated.mp4"},
                    },
                }
            }
        },
    }
}


SIGN_IN_MAX_BYTES = 4096  # a sign-in form holds one token
OFF = "Browser sign-in is off here (EMO_API_SESSION_HOURS=0): use the API with its bearer token."
PAGE_VIDEOS = 50  # the newest videos the page lists; the JSON list pages through them all


@dataclass(frozen=True)
class Services:
    settings: ApiSettings
    client: "redis.Redis"
    ingest: Ingest
    store: VideoStore


@dataclass(frozen=True)
class Access:
    """Who may do what: ``write`` (uploads, deletes) takes the bearer header only; ``read`` also
    takes a browser's session cookie, while sessions are on (``EMO_API_SESSION_HOURS`` > 0).
    Wrong tokens are counted per address, and refused past ``limit`` (``api.throttle``)."""

    tokens: frozenset[str]
    session_s: float
    limit: FailureLimit

    def signed_in(self, request: Request) -> bool:
        cookie = request.cookies.get(session.COOKIE, "")
        return self.session_s > 0 and bool(cookie) and session.valid(cookie, self.tokens, self.session_s)

    def refusal(self, request: Request, token: str) -> HTTPException | None:
        """Why ``token`` is not let in (None: it is one of ours): 429 while its address has failed
        too often, checked first so that a guess past the limit tells nothing; 401 when it is not
        ours, counted against the address unless it is empty (no header, an empty form: no guess)."""
        address = request.client.host if request.client else "unknown"
        if wait := self.limit.wait_s(address):
            am.AUTH_REFUSED.labels("throttled").inc()
            detail = f"too many wrong tokens from this address: try again in {wait} s"
            return HTTPException(429, detail, headers={"Retry-After": str(wait)})
        if _known(token, self.tokens):
            return None
        if token:
            self.limit.failed(address)
            am.AUTH_REFUSED.labels("wrong_token").inc()
        return HTTPException(401, BEARER_NEEDED, headers={"WWW-Authenticate": "Bearer"})

    @property
    def write(self) -> Any:
        return Depends(_bearer(self))

    @property
    def read(self) -> Any:
        bearer = _bearer(self)

        def check(request: Request) -> None:
            if not self.signed_in(request):
                bearer(request)

        return Depends(check)


def create_app(settings: ApiSettings, client: "redis.Redis") -> FastAPI:
    tokens = settings.token_set()
    if not tokens:
        raise ValueError("no API token: set EMO_API_TOKENS or EMO_API_TOKENS_FILE")
    if short := weak_tokens(tokens):  # the lengths only: a token never reaches a log
        log.warning(
            "%d API token(s) of %s characters: short enough to guess; use long random ones, such as "
            "`python3 -c 'import secrets; print(secrets.token_urlsafe(32))'` prints",
            len(short), ", ".join(map(str, short)),
        )  # fmt: skip
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
    app.state.services = services
    app.middleware("http")(_observe)
    app.exception_handler(redis.RedisError)(_redis_unavailable)
    _health_routes(app, client)
    access = Access(tokens, settings.session_hours * 3600, FailureLimit(client, settings.auth_failures_per_minute))
    _video_routes(app, services, access)
    _camera_routes(app, services, access)
    _page_routes(app, services, access)
    _session_routes(app, services, access)
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


def _video_routes(app: FastAPI, services: Services, access: Access) -> None:
    store = services.store

    @app.post("/v1/videos", status_code=202, dependencies=[access.write], openapi_extra=UPLOAD_FORM)
    async def upload(request: Request) -> dict[str, str]:
        return await _upload(request, services)

    @app.get("/v1/videos", dependencies=[access.read])
    def list_videos(
        limit: Annotated[int, Query(ge=1, le=500)] = 50, offset: Annotated[int, Query(ge=0)] = 0
    ) -> dict[str, Any]:
        return store.recent(limit, offset)

    @app.get("/v1/videos/{video_id}", dependencies=[access.read])
    def video_status(video_id: str) -> dict[str, Any]:
        return store.status(_ours(video_id))

    @app.delete("/v1/videos/{video_id}", dependencies=[access.write], status_code=204)
    def delete_video(video_id: str) -> Response:
        store.delete(_ours(video_id))
        return Response(status_code=204)

    for route, output_file in OUTPUTS.items():
        _output_route(app, store, access.read, route, output_file)


def _camera_routes(app: FastAPI, services: Services, access: Access) -> None:
    @app.get("/v1/cameras", dependencies=[access.read])
    def cameras() -> dict[str, Any]:
        return {"cameras": _cameras(services)}

    @app.get("/v1/cameras/{camera_id}", dependencies=[access.read])
    def camera(camera_id: str) -> dict[str, Any]:
        state = camera_status(services.client, camera_id) if valid_video_id(camera_id) else None
        if state is None:
            raise HTTPException(404, f"no camera with id {camera_id!r}")
        return state


def _cameras(services: Services) -> list[dict[str, Any]]:
    found = (camera_status(services.client, c) for c in services.store.camera_ids())
    return [state for state in found if state is not None]


def _page_routes(app: FastAPI, services: Services, access: Access) -> None:
    """The pages a person reads in a browser (``api.pages``); not part of the JSON API's schema."""
    store = services.store

    @app.get("/", include_in_schema=False)
    def home(request: Request, accepted: str = "") -> HTMLResponse:
        if not access.signed_in(request):
            return _sign_in_page(access)
        listed, total = store.newest(PAGE_VIDEOS, 0)  # each then read once, with its progress
        waiting = sorted(set(store.ingest.queued) - set(listed))  # accepted, not registered yet: listed first
        videos = [_status_or_none(store, video_id) for video_id in [*waiting, *listed]]
        notice = f"Accepted as {accepted}." if valid_video_id(accepted) else ""
        shown = [v for v in videos if v]
        return _html(pages.videos_page(shown, _cameras(services), notice, total=total + len(waiting)))

    @app.get("/cameras/{camera_id}", include_in_schema=False)
    def camera_page(request: Request, camera_id: str) -> HTMLResponse:
        if not access.signed_in(request):
            return _sign_in_page(access)
        state = camera_status(services.client, camera_id) if valid_video_id(camera_id) else None
        if state is None:
            return _html(pages.message_page("camera", f"No camera with id {camera_id}."), 404)
        return _html(pages.camera_page(state))

    @app.get("/upload", include_in_schema=False)
    def upload_form(request: Request) -> HTMLResponse:
        return _html(pages.upload_page()) if access.signed_in(request) else _sign_in_page(access)

    @app.get("/videos/{video_id}/delete", include_in_schema=False)
    def delete_form(request: Request, video_id: str) -> HTMLResponse:
        if not access.signed_in(request):
            return _sign_in_page(access)
        video = _status_or_none(store, video_id) if valid_video_id(video_id) else None
        if video is None:
            return _html(pages.message_page("delete", f"No video with id {video_id}."), 404)
        return _html(pages.delete_page(video))


def _session_routes(app: FastAPI, services: Services, access: Access) -> None:
    """Signing a browser in and out, and the upload form's post: what a session may change."""

    @app.post("/session", include_in_schema=False)
    async def sign_in(request: Request) -> Response:
        if access.session_s <= 0:
            return _sign_in_page(access)
        if not _same_origin(request):
            return _html(pages.message_page("sign in", "Sign in from this server's own page."), 403)
        token = await _form_token(request) or ""
        refused = access.refusal(request, token)
        if refused is not None:
            return _sign_in_again(refused)
        answer = RedirectResponse("/", status_code=303)
        answer.set_cookie(
            session.COOKIE, session.issue(token), max_age=int(access.session_s), path="/", httponly=True,
            secure=request.url.scheme == "https", samesite="lax",
        )  # fmt: skip
        return answer

    @app.post("/session/end", include_in_schema=False)
    def sign_out() -> Response:
        answer = RedirectResponse("/", status_code=303)
        answer.delete_cookie(session.COOKIE, path="/", httponly=True, samesite="lax")
        return answer

    @app.post("/upload", include_in_schema=False)
    async def upload_from_page(request: Request) -> Response:
        refused = _refused_from_page(request, access, "upload")
        if refused is not None:
            return refused
        try:
            accepted = await _upload(request, services)
        except HTTPException as exc:
            return _html(pages.message_page("upload refused", str(exc.detail)), exc.status_code)
        return RedirectResponse(f"/?accepted={accepted['video_id']}", status_code=303)

    @app.post("/videos/{video_id}/delete", include_in_schema=False)
    def delete_from_page(request: Request, video_id: str) -> Response:
        refused = _refused_from_page(request, access, "delete")
        if refused is not None:
            return refused
        try:
            services.store.delete(_ours(video_id))
        except HTTPException as exc:
            return _html(pages.message_page("delete", str(exc.detail)), exc.status_code)
        return RedirectResponse("/", status_code=303)


def _refused_from_page(request: Request, access: Access, what: str) -> HTMLResponse | None:
    """A change a session asks for: only from a signed-in browser, on a page of this server."""
    if not access.signed_in(request):
        return _html(pages.message_page(what, "Sign in first."), 401)
    if not _same_origin(request):  # a signed-in browser led to post here by another site
        return _html(pages.message_page(what, f"Only this server's own pages may {what}."), 403)
    return None


def _sign_in_again(refused: HTTPException) -> HTMLResponse:
    if refused.status_code != 429:
        return _html(pages.sign_in_page("That is not one of this API's tokens."), refused.status_code)
    wait = (refused.headers or {})["Retry-After"]
    answer = _html(pages.sign_in_page(f"Too many wrong tokens from your address: try again in {wait} s."), 429)
    answer.headers["Retry-After"] = wait
    return answer


def _sign_in_page(access: Access) -> HTMLResponse:
    if access.session_s <= 0:
        return _html(pages.message_page("sign in", OFF, back=False), 403)
    return _html(pages.sign_in_page())


def _status_or_none(store: VideoStore, video_id: str) -> dict[str, Any] | None:
    try:
        return store.status(video_id)
    except HTTPException:  # deleted or expired since it was listed
        return None


def _same_origin(request: Request) -> bool:
    """Sent from a page of this server (``Origin``, or ``Referer`` where a browser leaves it out):
    the session cookie alone does not show who made the request, so nothing it changes relies on it."""
    origin = request.headers.get("origin") or request.headers.get("referer") or ""
    host = request.headers.get("host")
    return host is not None and urllib.parse.urlsplit(origin).netloc == host


async def _form_token(request: Request) -> str | None:
    """The sign-in form's ``token``, read without taking more than a form needs."""
    body = b""
    async for chunk in request.stream():
        body += chunk
        if len(body) > SIGN_IN_MAX_BYTES:
            return None
    values = urllib.parse.parse_qs(body.decode("utf-8", "replace")).get("token", [])
    return values[0].strip() if len(values) == 1 else None


def _known(token: str, tokens: frozenset[str]) -> bool:
    # Compare with every token, always: the time taken does not tell which one nearly matched.
    matches = [hmac.compare_digest(token.encode(), t.encode()) for t in tokens]
    return any(matches)


def _html(page: str, status_code: int = 200) -> HTMLResponse:
    return HTMLResponse(page, status_code, headers=pages.HEADERS)


async def _redis_unavailable(_: Request, exc: Exception) -> JSONResponse:
    return JSONResponse({"detail": f"Redis is unavailable: {redact_text(str(exc))}"}, status_code=503)


def _output_route(app: FastAPI, store: VideoStore, authorised: Any, route: str, output_file: tuple[str, str]) -> None:
    filename, media = output_file

    headers = pages.HEADERS if media == "text/html" else None  # the report: a page like the API's own

    def output(video_id: str) -> FileResponse:
        return FileResponse(store.output(_ours(video_id), filename), media_type=media, headers=headers)

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


BEARER_NEEDED = "a valid 'Authorization: Bearer <token>' header is required (in a browser: sign in at /)"


def _bearer(access: Access) -> Callable[[Request], None]:
    def check(request: Request) -> None:
        scheme, _, given = request.headers.get("authorization", "").partition(" ")
        refused = access.refusal(request, given.strip() if scheme.lower() == "bearer" else "")
        if refused is not None:
            raise refused

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
