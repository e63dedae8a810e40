"""Who a browser's session lets in, and from where (the app on fakeredis: no frames flow here;
tests/integration/test_api.py follows a browser through a real upload)."""

import json
import time
from pathlib import Path

import fakeredis
import httpx
import pytest
from fastapi import FastAPI

from api import session
from api.app import create_app
from emostream import keys, registry
from emostream.settings import ApiSettings

TOKEN = "browser-test-token"
OURS = {"Origin": "http://testserver"}  # the client's own origin: a form posted from the API's page

pytestmark = pytest.mark.anyio


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def browser(
    tmp_path: Path, session_hours: float = 12, server: "fakeredis.FakeRedis | None" = None
) -> httpx.AsyncClient:
    return client_of(app_for(tmp_path, session_hours, server))


def app_for(tmp_path: Path, session_hours: float = 12, server: "fakeredis.FakeRedis | None" = None) -> FastAPI:
    settings = ApiSettings(out_dir=tmp_path / "out", tokens=TOKEN, session_hours=session_hours)
    return create_app(settings, server or fakeredis.FakeRedis())


def client_of(app: FastAPI) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://testserver")


async def status(client: httpx.AsyncClient, method: str, url: str, **options: object) -> int:
    return (await client.request(method, url, **options)).status_code  # type: ignore[arg-type]


async def test_signing_in_gives_a_cookie_that_reads_but_does_not_write(tmp_path: Path) -> None:
    async with browser(tmp_path) as client:
        assert await status(client, "GET", "/v1/videos") == 401
        form = {"username": "emostream", "token": TOKEN}  # as the page's form sends it
        assert await status(client, "POST", "/session", data=form, headers=OURS) == 303
        assert (await client.get("/v1/videos")).json()["total"] == 0
        assert await status(client, "GET", "/v1/cameras") == 200
        assert 'action="/upload"' in (await client.get("/upload")).text
        assert await status(client, "POST", "/v1/videos", files={"file": ("a.mp4", b"x")}) == 401
        assert await status(client, "DELETE", "/v1/videos/some-video") == 401


async def test_the_pages_forbid_scripts_and_the_openapi_docs_keep_theirs(tmp_path: Path) -> None:
    async with browser(tmp_path) as client:
        assert "script-src" not in (await client.get("/")).headers["content-security-policy"]  # so none at all
        docs = await client.get("/docs")  # Swagger UI: its scripts come from a CDN
        assert docs.status_code == 200
        assert "content-security-policy" not in docs.headers


@pytest.mark.parametrize(
    "headers",
    [{}, {"Origin": "https://elsewhere.example"}, {"Origin": "null"}, {"Referer": "https://elsewhere.example/x"}],
)
async def test_a_sign_in_or_upload_posted_from_another_site_is_refused(tmp_path: Path, headers: dict[str, str]) -> None:
    async with browser(tmp_path) as client:
        assert await status(client, "POST", "/session", data={"token": TOKEN}, headers=headers) == 403
        client.cookies.set(session.COOKIE, session.issue(TOKEN))
        assert await status(client, "POST", "/upload", files={"file": ("a.mp4", b"x")}, headers=headers) == 403


async def test_a_browser_that_sends_referer_but_no_origin_may_sign_in(tmp_path: Path) -> None:
    async with browser(tmp_path) as client:
        referer = {"Referer": "http://testserver/"}
        assert await status(client, "POST", "/session", data={"token": TOKEN}, headers=referer) == 303


async def test_an_expired_cookie_is_refused(tmp_path: Path) -> None:
    async with browser(tmp_path, session_hours=1) as client:
        client.cookies.set(session.COOKIE, session.issue(TOKEN, now=time.time() - 3601))
        assert await status(client, "GET", "/v1/videos") == 401
        assert 'action="/session"' in (await client.get("/")).text


async def test_with_sessions_off_no_cookie_is_taken_and_the_page_says_so(tmp_path: Path) -> None:
    async with browser(tmp_path, session_hours=0) as client:
        client.cookies.set(session.COOKIE, session.issue(TOKEN))
        assert await status(client, "GET", "/v1/videos") == 401
        home = await client.get("/")
        assert home.status_code == 403
        assert "EMO_API_SESSION_HOURS=0" in home.text
        assert await status(client, "POST", "/session", data={"token": TOKEN}, headers=OURS) == 403


async def test_a_sign_in_form_larger_than_a_token_is_refused(tmp_path: Path) -> None:
    async with browser(tmp_path) as client:
        form = {"token": TOKEN, "pad": "x" * 5000}
        assert await status(client, "POST", "/session", data=form, headers=OURS) == 401


async def test_a_cameras_page_shows_its_state_and_latest_windows(tmp_path: Path) -> None:
    """As the camera producer and the aggregator leave them in Redis."""
    server = fakeredis.FakeRedis()
    server.sadd(keys.CAMERAS_INDEX, "lobby")
    server.hset(keys.camera_key("lobby"), mapping={"state": "running", "fps": 5, "frames_sent": 1200,
                                                   "url": "rtsp://admin:***@10.0.0.5/stream1"})  # fmt: skip
    window = {"start": "2026-12-07T05:20:10+00:00", "faces": 48, "people": 2, "dominant_emotion": "happy",
              "emotion_share": {"happy": 0.75, "neutral": 0.25}, "frames_processed": 50, "frames_dropped": 0,
              "latency_ms_p95": 181.2}  # fmt: skip
    server.lpush(keys.camera_windows_key("lobby", "10s"), json.dumps(window))
    async with browser(tmp_path, server=server) as client:
        assert 'action="/session"' in (await client.get("/cameras/lobby")).text  # signed out: the form
        client.cookies.set(session.COOKIE, session.issue(TOKEN))
        assert 'href="/cameras/lobby"' in (await client.get("/")).text
        page = (await client.get("/cameras/lobby")).text
        assert "<td>frames sent</td><td>1200</td>" in page
        assert "<td>05:20:10</td><td>48</td><td>2</td><td>happy</td>" in page
        assert "width:75.0%;background:#F0E442" in page
        assert "181 ms" in page
        assert "No window closed yet." in page  # the 1 min windows
        assert (await client.get("/cameras/nope")).status_code == 404


async def test_a_finished_video_is_deleted_from_the_page_after_asking_once_more(tmp_path: Path) -> None:
    server = fakeredis.FakeRedis()
    registry.register(server, "talk-1", source="talk.mp4", status="complete")
    registry.register(server, "live-2", source="live.mp4")  # still being sent
    async with browser(tmp_path, server=server) as client:
        client.cookies.set(session.COOKIE, session.issue(TOKEN))
        home = (await client.get("/")).text
        assert 'href="/videos/talk-1/delete"' in home
        assert 'href="/videos/live-2/delete"' not in home
        assert 'action="/videos/talk-1/delete"' in (await client.get("/videos/talk-1/delete")).text
        assert await status(client, "POST", "/videos/talk-1/delete") == 403  # not from our page
        assert await status(client, "GET", "/v1/videos/talk-1") == 200
        assert await status(client, "POST", "/videos/talk-1/delete", headers=OURS) == 303
        assert await status(client, "GET", "/v1/videos/talk-1") == 404
        assert await status(client, "POST", "/videos/talk-1/delete", headers=OURS) == 404


async def test_an_upload_accepted_but_not_yet_sent_is_listed_and_the_list_follows_it(tmp_path: Path) -> None:
    server = fakeredis.FakeRedis()
    registry.register(server, "talk-1", source="talk.mp4", status="complete")
    app = app_for(tmp_path, server=server)
    app.state.services.ingest.queued.add("new-2")  # as Ingest.accept leaves it until the producer registers it
    async with client_of(app) as client:
        client.cookies.set(session.COOKIE, session.issue(TOKEN))
        home = (await client.get("/")).text
        assert home.index("<td>new-2</td><td></td><td>queued</td>") < home.index("<td>talk-1</td>")
        assert "http-equiv=refresh" in home
