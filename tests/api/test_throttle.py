"""Wrong tokens counted per address and refused past the limit (``api.throttle``): the count on a
real redis-server, the routes on fakeredis through httpx's ASGI transport."""

import logging
import socket
from pathlib import Path

import fakeredis
import httpx
import pytest
import redis
from fastapi import FastAPI
from redis.backoff import NoBackoff
from redis.retry import Retry

from api import metrics as am
from api import session
from api.app import create_app
from api.throttle import WINDOW_S, FailureLimit
from emostream import keys
from emostream.settings import ApiSettings

TOKEN = "throttle-test-token-0123456789"
GUESSER, NEIGHBOUR = "203.0.113.7", "198.51.100.20"
OURS = {"Origin": "http://testserver"}

pytestmark = pytest.mark.anyio


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def app_for(tmp_path: Path, per_minute: int = 3, tokens: str = TOKEN) -> FastAPI:
    settings = ApiSettings(out_dir=tmp_path / "out", tokens=tokens, auth_failures_per_minute=per_minute)
    return create_app(settings, fakeredis.FakeRedis())


def from_address(app: FastAPI, address: str) -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=app, client=(address, 40000))
    return httpx.AsyncClient(transport=transport, base_url="http://testserver")


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def test_failures_past_the_limit_close_the_address_until_the_minute_ends(
    real_redis: "redis.Redis", monkeypatch: pytest.MonkeyPatch
) -> None:
    limit = FailureLimit(real_redis, per_minute=3)
    minute_start = 1_000_000 * WINDOW_S
    monkeypatch.setattr("api.throttle.time.time", lambda: minute_start + 20.5)
    for _ in range(2):
        limit.failed(GUESSER)
    assert limit.wait_s(GUESSER) == 0
    limit.failed(GUESSER)
    assert limit.wait_s(GUESSER) == 40  # until the minute ends
    assert limit.wait_s(NEIGHBOUR) == 0
    assert 0 < real_redis.ttl(keys.auth_failures_key(GUESSER, 1_000_000)) <= 2 * WINDOW_S  # nothing left behind
    monkeypatch.setattr("api.throttle.time.time", lambda: minute_start + WINDOW_S + 0.5)
    assert limit.wait_s(GUESSER) == 0


def test_without_redis_nobody_is_locked_out(caplog: pytest.LogCaptureFixture) -> None:
    with socket.socket() as unused:
        unused.bind(("127.0.0.1", 0))
        port = unused.getsockname()[1]
    limit = FailureLimit(redis.Redis(port=port, retry=Retry(NoBackoff(), 0)), per_minute=1)  # nothing listens
    limit.failed(GUESSER)
    assert limit.wait_s(GUESSER) == 0
    assert "not counted" in caplog.text


def test_an_outage_is_logged_when_it_starts_and_ends_not_at_every_token(caplog: pytest.LogCaptureFixture) -> None:
    server = fakeredis.FakeServer()
    limit = FailureLimit(fakeredis.FakeRedis(server=server), per_minute=2)
    server.connected = False
    with caplog.at_level(logging.INFO, logger="api.throttle"):
        for _ in range(5):
            limit.failed(GUESSER)
            assert limit.wait_s(GUESSER) == 0
        assert caplog.text.count("not counted") == 1
        server.connected = True
        limit.failed(GUESSER)
        limit.failed(GUESSER)
        assert limit.wait_s(GUESSER) > 0  # counted again, from the two since
    assert caplog.text.count("counted again") == 1


def refused_count(reason: str) -> float:
    """The API's counter, process-wide: other tests' refusals are in it too."""
    return am.REGISTRY.get_sample_value("emostream_api_auth_refused_total", {"reason": reason}) or 0.0


async def test_wrong_bearer_tokens_close_the_address_even_to_the_right_one(tmp_path: Path) -> None:
    app = app_for(tmp_path)
    before = {reason: refused_count(reason) for reason in ("wrong_token", "throttled")}
    async with from_address(app, GUESSER) as guesser, from_address(app, NEIGHBOUR) as neighbour:
        for guess in ("secret", "password", "admin"):
            assert (await guesser.get("/v1/videos", headers=bearer(guess))).status_code == 401
        refused = await guesser.get("/v1/videos", headers=bearer(TOKEN))
        assert refused.status_code == 429  # a guess past the limit tells nothing
        assert 1 <= int(refused.headers["retry-after"]) <= WINDOW_S
        assert "try again in" in refused.json()["detail"]
        assert (await neighbour.get("/v1/videos", headers=bearer(TOKEN))).status_code == 200
    assert refused_count("wrong_token") - before["wrong_token"] == 3
    assert refused_count("throttled") - before["throttled"] == 1


async def test_requests_without_a_token_are_not_counted_as_guesses(tmp_path: Path) -> None:
    """A browser opening a link before signing in, a monitor probing: no token, no guess."""
    async with from_address(app_for(tmp_path), GUESSER) as client:
        for _ in range(5):
            assert (await client.get("/v1/videos")).status_code == 401
        assert (await client.get("/v1/videos", headers={"Authorization": "Basic abc"})).status_code == 401
        assert (await client.get("/v1/videos", headers=bearer(TOKEN))).status_code == 200


async def test_the_sign_in_form_is_closed_to_a_guesser_and_a_signed_in_browser_still_reads(tmp_path: Path) -> None:
    app = app_for(tmp_path)
    async with from_address(app, GUESSER) as guesser:
        for guess in ("secret", "hunter2", "letmein"):
            answer = await guesser.post("/session", data={"token": guess}, headers=OURS)
            assert answer.status_code == 401
        answer = await guesser.post("/session", data={"token": TOKEN}, headers=OURS)
        assert answer.status_code == 429
        assert "Too many wrong tokens from your address" in answer.text
        assert "retry-after" in answer.headers
        assert session.COOKIE not in answer.cookies
        guesser.cookies.set(session.COOKIE, session.issue(TOKEN))  # signed in before, on this address
        assert (await guesser.get("/v1/videos")).status_code == 200


async def test_no_limit_when_set_to_zero(tmp_path: Path) -> None:
    async with from_address(app_for(tmp_path, per_minute=0), GUESSER) as client:
        for _ in range(12):
            assert (await client.get("/v1/videos", headers=bearer("wrong"))).status_code == 401
        assert (await client.get("/v1/videos", headers=bearer(TOKEN))).status_code == 200


def test_a_short_token_is_warned_of_at_start_without_showing_it(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, logger="api.app"):
        app_for(tmp_path, tokens=f"secret,{TOKEN}")
    assert "1 API token(s) of 6 characters" in caplog.text
    assert "secret" not in caplog.text.replace("secrets", "")  # the advice names the module, not the token
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="api.app"):
        app_for(tmp_path)
    assert "API token" not in caplog.text
