"""Who a browser's session lets in, and from where (the app on fakeredis: no frames flow here;
tests/integration/test_api.py follows a browser through a real upload)."""

import time
from pathlib import Path

import fakeredis
import httpx
import pytest

from api import session
from api.app import create_app
from emostream.settings import ApiSettings

TOKEN = "browser-test-token"
OURS = {"Origin": "http://testserver"}  # the client's own origin: a form posted from the API's page

pytestmark = pytest.mark.anyio


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def browser(tmp_path: Path, session_hours: float = 12) -> httpx.AsyncClient:
    settings = ApiSettings(out_dir=tmp_path / "out", tokens=TOKEN, session_hours=session_hours)
    app = create_app(settings, fakeredis.FakeRedis())
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://testserver")


async def status(client: httpx.AsyncClient, method: str, url: str, **options: object) -> int:
    return (await client.request(method, url, **options)).status_code  # type: ignore[arg-type]


async def test_signing_in_gives_a_cookie_that_reads_but_does_not_write(tmp_path: Path) -> None:
    async with browser(tmp_path) as client:
        assert await status(client, "GET", "/v1/videos") == 401
        assert await status(client, "POST", "/session", data={"token": TOKEN}, headers=OURS) == 303
        assert (await client.get("/v1/videos")).json()["total"] == 0
        assert await status(client, "GET", "/v1/cameras") == 200
        assert 'action="/upload"' in (await client.get("/upload")).text
        assert await status(client, "POST", "/v1/videos", files={"file": ("a.mp4", b"x")}) == 401
        assert await status(client, "DELETE", "/v1/videos/some-video") == 401


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
