"""The HTTP API as a client meets it: real uvicorn, a real redis-server, a worker and the aggregator."""

import functools
import os
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
import redis

from emostream import keys
from emostream.localserver import LocalServer, free_port, system_server_binary
from tests.integration.processes import command, running, wait_for

pytestmark = pytest.mark.integration

TOKEN = "api-test-token-4f1c9a"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
MAX_UPLOAD_MB = 2


@dataclass
class Api:
    url: str
    out: Path
    log: Path

    @property
    def spool(self) -> Path:
        return self.out / ".uploads"

    def client(self) -> httpx.Client:
        return httpx.Client(base_url=self.url, headers=AUTH, timeout=30)


def start_api(stack: ExitStack, redis_url: str, out: Path, log: Path, **settings: str) -> Api:
    port = free_port()
    env = {"EMO_API_TOKENS": f"other-token,{TOKEN}", "EMO_API_MAX_UPLOAD_MB": str(MAX_UPLOAD_MB), **settings}
    stack.enter_context(running(["api", "--out", str(out), "--port", str(port), "--redis-url", redis_url], log, env))
    api = Api(f"http://127.0.0.1:{port}", out, log)
    wait_for(lambda: _answers(api.url), 30, "the API to answer")
    return api


def _answers(url: str) -> bool:
    try:
        return httpx.get(f"{url}/healthz", timeout=1).status_code == 200
    except httpx.HTTPError:
        return False


@pytest.fixture(scope="module")
def api(redis_server: LocalServer, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Api]:
    folder = tmp_path_factory.mktemp("api")
    out = folder / "out"
    with ExitStack() as stack:
        stack.enter_context(running(["worker", "--redis-url", redis_server.url], folder / "worker.log"))
        aggregator = ["aggregator", "--out", str(out), "--redis-url", redis_server.url]
        stack.enter_context(running(aggregator, folder / "aggregator.log"))
        for role in ("worker", "aggregator"):  # running, with their stop handlers installed
            wait_for(functools.partial(reported, redis_server.url, role), 60, f"the {role} to report")
        yield start_api(stack, redis_server.url, out, folder / "api.log")


def reported(url: str, role: str) -> bool:
    return bool(redis.Redis.from_url(url).keys(keys.health_key(role, "*")))


def upload(api: Api, content: bytes, name: str = "clip.mp4", **fields: str) -> httpx.Response:
    with api.client() as client:
        return client.post("/v1/videos", files={"file": (name, content, "video/mp4")}, data=fields)


def wait_finished(api: Api, video_id: str, timeout: float = 120) -> dict[str, object]:
    state: dict[str, object] = {}

    def finished() -> bool:
        nonlocal state
        with api.client() as client:
            state = client.get(f"/v1/videos/{video_id}").json()
        return state.get("status") in ("complete", "partial", "failed")

    wait_for(finished, timeout, f"{video_id} to finish")
    return state


def spool_is_empty(api: Api) -> bool:
    return not any(api.spool.iterdir()) if api.spool.exists() else True


def test_an_upload_is_analysed_rendered_and_every_route_serves_it(
    api: Api, astronaut_video: Path, redis_server: LocalServer
) -> None:
    answer = upload(api, astronaut_video.read_bytes(), "my astronaut.mp4", render="true", fps="5")
    assert answer.status_code == 202, answer.text
    video_id = answer.json()["video_id"]
    assert answer.json()["status_url"] == f"/v1/videos/{video_id}"
    state = wait_finished(api, video_id)
    assert state["status"] == "complete"
    assert (state["frames_expected"], state["frames_processed"]) == (20, 20)  # 4 s at fps=5
    assert state["source"] == "my astronaut.mp4"
    assert state["warnings"] == []
    wait_for(lambda: spool_is_empty(api), 60, "the render to finish")
    ttl = redis.Redis.from_url(redis_server.url).ttl(keys.video_results_key(video_id))
    assert 6 * 86400 < ttl <= 7 * 86400  # EMO_RESULTS_TTL_S: a week from the files being written
    with api.client() as client:
        assert client.get(f"/v1/videos/{video_id}/timeline").json()["video_id"] == video_id
        assert client.get(f"/v1/videos/{video_id}/summary").json()["frames_total"] == 20
        assert isinstance(client.get(f"/v1/videos/{video_id}/segments").json(), list)
        assert client.get(f"/v1/videos/{video_id}/timeline.csv").text.startswith("video_id,index,t_ms")
        assert 'src="annotated.mp4"' in client.get(f"/v1/videos/{video_id}/report").text
        ranged = client.get(f"/v1/videos/{video_id}/annotated.mp4", headers={"Range": "bytes=0-99"})
        assert ranged.status_code == 206
        assert len(ranged.content) == 100
        assert ranged.headers["content-range"].startswith("bytes 0-99/")
        listed = client.get("/v1/videos", params={"limit": 500}).json()
        assert video_id in [v["video_id"] for v in listed["videos"]]
        redis.Redis.from_url(redis_server.url).delete(keys.video_key(video_id))  # as when its week is over
        expired = client.get(f"/v1/videos/{video_id}").json()
        assert (expired["expired"], expired["status"], expired["frames_processed"]) == (True, "complete", 20)
        assert client.delete(f"/v1/videos/{video_id}").status_code == 204
        assert client.get(f"/v1/videos/{video_id}").status_code == 404
    assert not (api.out / video_id).exists()


def test_an_uploads_frame_side_reaches_its_producer_and_a_bad_one_is_refused(api: Api, tmp_path: Path) -> None:
    from tests.conftest import write_video

    video = write_video(tmp_path / "wide.mp4", frames=5, size=(1920, 1080))
    answer = upload(api, video.read_bytes(), "wide.mp4", max_frame_side="1600")
    assert answer.status_code == 202, answer.text
    video_id = answer.json()["video_id"]
    assert wait_finished(api, video_id)["status"] == "complete"
    with api.client() as client:
        assert client.get(f"/v1/videos/{video_id}/timeline").json()["box_scale"] == 1.2  # 1920 px sent at 1600
    refused = upload(api, video.read_bytes(), "wide.mp4", max_frame_side="10")
    assert refused.status_code == 422
    assert "max_frame_side" in refused.json()["detail"]


def test_every_v1_route_needs_the_token_and_health_stays_open(api: Api) -> None:
    for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": f"Basic {TOKEN}"}):
        assert httpx.get(f"{api.url}/v1/videos", headers=headers).status_code == 401
        assert httpx.post(f"{api.url}/v1/videos", headers=headers, files={"file": ("a.mp4", b"x")}).status_code == 401
    assert httpx.get(f"{api.url}/v1/videos", headers={"Authorization": "Bearer other-token"}).status_code == 200
    assert httpx.get(f"{api.url}/healthz").json() == {"ok": True}
    metrics = httpx.get(f"{api.url}/metrics").text
    assert 'emostream_api_requests_total{method="GET",route="/v1/videos",status="401"}' in metrics
    assert TOKEN not in api.log.read_text()


def test_a_browser_signs_in_uploads_and_opens_the_report_and_video_without_the_header(
    api: Api, astronaut_video: Path
) -> None:
    page = {"Origin": api.url}  # what a browser sends with a form posted from the API's own page
    with httpx.Client(base_url=api.url, timeout=30) as browser:
        assert 'action="/session"' in browser.get("/").text  # not signed in: the form
        assert browser.post("/session", data={"token": "wrong"}, headers=page).status_code == 401
        assert browser.post("/session", data={"token": TOKEN}).status_code == 403  # posted from elsewhere
        assert not browser.cookies
        signed_in = browser.post("/session", data={"token": TOKEN}, headers=page)
        assert signed_in.status_code == 303
        assert "httponly" in signed_in.headers["set-cookie"].lower()
        assert TOKEN not in signed_in.headers["set-cookie"]

        video = {"file": ("my talk.mp4", astronaut_video.read_bytes(), "video/mp4")}
        form = {"render": "true", "fps": "5"}
        assert browser.post("/upload", files=video, data=form).status_code == 403  # no Origin: not our page
        assert browser.post("/v1/videos", files=video).status_code == 401  # the JSON API's writes want the header
        accepted = browser.post("/upload", files=video, data=form, headers=page)
        assert accepted.status_code == 303, accepted.text
        video_id = accepted.headers["location"].removeprefix("/?accepted=")
        assert f"<td>{video_id}</td>" in browser.get("/").text  # listed at once, queued or being sent
        assert browser.delete(f"/v1/videos/{video_id}").status_code == 401
        assert wait_finished(api, video_id)["status"] == "complete"
        wait_for(lambda: spool_is_empty(api), 60, "the render to finish")

        listed = browser.get("/")
        assert f'href="/v1/videos/{video_id}/report"' in listed.text
        assert "<td>my talk.mp4</td><td>complete</td><td>20 / 20</td>" in listed.text
        assert "script-src" not in listed.headers["content-security-policy"]  # so no script runs at all
        report = browser.get(f"/v1/videos/{video_id}/report")
        assert report.status_code == 200
        assert report.headers["content-security-policy"] == listed.headers["content-security-policy"]
        assert browser.get(f"/v1/videos/{video_id}/annotated.mp4", headers={"Range": "bytes=0-9"}).status_code == 206

        assert browser.post(f"/videos/{video_id}/delete", headers=page).status_code == 303
        assert not (api.out / video_id).exists()

        browser.cookies.set("emostream_session", "1999999999.forged")
        assert browser.get(f"/v1/videos/{video_id}/report").status_code == 401
        browser.cookies.clear()
        browser.post("/session", data={"token": TOKEN}, headers=page)
        assert browser.post("/session/end").status_code == 303
        assert not browser.cookies
        assert browser.get("/v1/videos").status_code == 401
    assert TOKEN not in api.log.read_text()


def test_a_token_guesser_is_refused_by_every_replica_and_its_guesses_are_not_logged(tmp_path: Path) -> None:
    """Two API processes on one Redis share the count: what one refused, the other refuses too."""
    binary = system_server_binary()
    assert binary is not None
    guesses = [f"guess-{n}-7d2e" for n in range(3)]
    with ExitStack() as stack:
        server = stack.enter_context(LocalServer(binary))  # its own: the count is per address, and ours is 127.0.0.1
        first, second = (
            start_api(
                stack, server.url, tmp_path / "out", tmp_path / f"api-{n}.log", EMO_API_AUTH_FAILURES_PER_MINUTE="3"
            )
            for n in (1, 2)
        )
        for guess, api in zip(guesses, (first, second, first), strict=True):
            assert httpx.get(f"{api.url}/v1/videos", headers={"Authorization": f"Bearer {guess}"}).status_code == 401
        for api in (first, second):
            refused = httpx.get(f"{api.url}/v1/videos", headers=AUTH)
            assert refused.status_code == 429
            assert 1 <= int(refused.headers["retry-after"]) <= 60
        assert redis.Redis.from_url(server.url).keys("emo:api:auth_failures:127.0.0.1:*")
    logs = "".join(api.log.read_text() for api in (first, second))
    assert not any(guess in logs for guess in [*guesses, TOKEN])


def test_a_body_over_the_limit_is_cut_off_with_413_and_nothing_is_kept(api: Api) -> None:
    answer = upload(api, b"\0" * (MAX_UPLOAD_MB * 1024 * 1024 + 1))
    assert answer.status_code == 413
    assert "larger than" in answer.json()["detail"]
    assert spool_is_empty(api)


def test_a_file_that_is_not_a_video_gets_422_with_the_producers_reason(api: Api) -> None:
    answer = upload(api, b"just some notes\n" * 100, "notes.mp4")
    assert answer.status_code == 422
    assert "not a readable video" in answer.json()["detail"]
    assert upload(api, b"x", fps="-1").status_code == 422
    assert spool_is_empty(api)


@pytest.mark.parametrize("path", ["/v1/videos/nope", "/v1/videos/..%2F..%2Fetc/timeline", "/v1/videos/a.b/summary"])
def test_ids_that_are_not_ours_get_404(api: Api, path: str) -> None:
    with api.client() as client:
        assert client.get(path).status_code == 404
        assert client.get("/v1/cameras/nope").status_code == 404


def test_results_of_an_unfinished_video_are_409(api: Api, redis_server: LocalServer) -> None:
    from emostream import registry

    # Not the flushing real_redis fixture: this module's worker is blocked on the server.
    server = redis.Redis.from_url(redis_server.url)
    registry.register(server, "in-progress", source="x.mp4")
    registry.register(server, "broken", source="y.mp4", status="failed", error="y.mp4: not a readable video")
    with api.client() as client:
        assert client.get("/v1/videos/in-progress").json()["status"] == "producing"
        assert client.get("/v1/videos/in-progress/timeline").status_code == 409
        assert client.delete("/v1/videos/in-progress").status_code == 204
        failed = client.get("/v1/videos/broken/summary")
        assert failed.status_code == 404
        assert "not a readable video" in failed.json()["detail"]


def test_a_client_that_disconnects_mid_upload_leaves_nothing_behind(api: Api) -> None:
    host, port = api.url.removeprefix("http://").split(":")
    boundary = "b0undary"
    head = (
        f"POST /v1/videos HTTP/1.1\r\nHost: {host}\r\nAuthorization: Bearer {TOKEN}\r\n"
        f"Content-Type: multipart/form-data; boundary={boundary}\r\nContent-Length: 1500000\r\n\r\n"
        f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="cut.mp4"\r\n\r\n'
    )
    with socket.create_connection((host, int(port))) as connection:
        connection.sendall(head.encode() + b"\1" * 400_000)
        time.sleep(0.5)  # the API is writing it to disk now
    wait_for(lambda: spool_is_empty(api), 10, "the partial upload to be removed")


def test_redis_stopping_during_an_upload_gets_503_and_nothing_is_kept(tmp_path: Path, astronaut_video: Path) -> None:
    binary = system_server_binary()
    assert binary is not None
    with ExitStack() as stack:
        server = stack.enter_context(LocalServer(binary))
        api = start_api(stack, server.url, tmp_path / "out", tmp_path / "api.log")
        boundary = "stop-redis-midway"
        head = f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="a.mp4"\r\n\r\n'.encode()
        video = astronaut_video.read_bytes()

        def body() -> Iterator[bytes]:
            yield head + video[: len(video) // 2]
            server.stop()  # Redis goes away while the upload is still streaming in
            yield video[len(video) // 2 :] + f"\r\n--{boundary}--\r\n".encode()

        with api.client() as client:
            answer = client.post(
                "/v1/videos", content=body(), headers={"Content-Type": f"multipart/form-data; boundary={boundary}"}
            )
        assert answer.status_code == 503
        assert "Redis" in answer.json()["detail"]
        assert spool_is_empty(api)
        assert httpx.get(f"{api.url}/healthz").status_code == 503


def test_the_api_is_fuzzed_from_its_own_openapi_document_without_a_server_error(api: Api) -> None:
    """schemathesis: every documented route, generated inputs, the token given; no 500 allowed."""
    report = subprocess.run(
        [
            os.path.join(os.path.dirname(command()[0]), "schemathesis"), "run", f"{api.url}/openapi.json",
            "--checks", "not_a_server_error", "--max-examples", "15", "--header", f"Authorization: Bearer {TOKEN}",
            "--exclude-method", "DELETE", "--phases", "examples,fuzzing", "--seed", "1", "--no-color",
        ],
        capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    assert report.returncode == 0, report.stdout[-4000:]
    assert _answers(api.url)  # and the API is still up
