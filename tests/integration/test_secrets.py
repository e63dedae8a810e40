"""A password in the Redis URL or a camera URL never reaches logs, errors, status output or output files."""

import shutil
import subprocess
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from emostream.localserver import LocalServer, free_port, system_server_binary
from tests.integration.processes import command, run, wait_for

pytestmark = pytest.mark.integration

SECRET = "pw-7f3a9c-secret"  # a test password for a throwaway server


@pytest.fixture(scope="module")
def protected_server() -> Iterator[LocalServer]:
    binary = system_server_binary()
    if binary is None:
        pytest.skip("redis-server is not installed")
    server = LocalServer(binary, ("--appendonly", "no", "--requirepass", SECRET)).start()
    yield server
    server.stop()


def test_the_password_is_used_but_never_printed(
    protected_server: LocalServer, astronaut_video: Path, tmp_path: Path
) -> None:
    url = f"redis://:{SECRET}@127.0.0.1:{protected_server.port}/0"
    wrong = f"redis://:{SECRET}-wrong@127.0.0.1:{protected_server.port}/0"
    out = tmp_path / "out"
    uploads = tmp_path / "uploads"
    uploads.mkdir()
    shutil.copy(astronaut_video, uploads / "astro.mp4")
    camera = f"rtsp://cam:{SECRET}@127.0.0.1:{free_port()}/nothing-listens"
    camera_by_query = f"rtsp://127.0.0.1:{free_port()}/nothing-listens?channel=1&user=cam&password={SECRET}"
    captured = []
    for args in (
        ["--log-level", "debug", "produce", str(astronaut_video), "--video-id", "a", "--redis-url", url],
        ["--log-level", "debug", "worker", "--burst", "--redis-url", url],
        ["--log-level", "debug", "aggregator", "--burst", "--out", str(out), "--redis-url", url],
        ["status", "a", "--redis-url", url],
        ["status", "--redis-url", url],
        ["worker", "--check", "--redis-url", url],
        ["worker", "--burst", "--redis-url", wrong],  # authentication fails: the error must not echo it
        ["analyze", str(astronaut_video), "--out", str(out / "analyze"), "--redis-url", url],
        ["--log-level", "debug", "watch", str(uploads), "--once", "--poll-s", "0.1", "--redis-url", url],
        ["watch", str(uploads), "--check", "--redis-url", url],
        ["--log-level", "debug", "camera", camera, "--camera-id", "c1", "--restart-budget", "1", "--redis-url", url],
        ["status", "--camera", "c1", "--redis-url", url],
        ["camera", camera_by_query, "--camera-id", "c2", "--restart-budget", "1", "--redis-url", url],
        ["status", "--camera", "c2", "--redis-url", url],
    ):
        done = run(*args)
        captured.append((args[2] if args[0] == "--log-level" else args[0], done.returncode, done.stdout + done.stderr))
    captured.append(("metrics", 0, _metrics_text(url)))
    codes = {name: code for name, code, _ in captured}
    assert codes["produce"] == 0
    assert codes["aggregator"] == 0
    assert codes["analyze"] == 0
    assert codes["watch"] == 0
    assert codes["camera"] == 1  # nothing answers: the camera fails after its budget
    texts = [text for *_, text in captured]
    texts += [p.read_bytes().decode("utf-8", "replace") for p in out.rglob("*") if p.is_file()]  # PNGs too
    assert any("redis://***@127.0.0.1" in text for text in texts)  # the URL is shown, redacted
    assert any("rtsp://cam:***@127.0.0.1" in text for text in texts)  # so is the camera's
    assert any("&user=cam&password=***" in text for text in texts)  # and one given in the query
    leaks = [text for text in texts if SECRET in text]
    assert not leaks, leaks[0][-2000:]


def _metrics_text(url: str) -> str:
    """What a scrape of a running aggregator's /metrics and /healthz shows."""
    port = free_port()
    process = subprocess.Popen(command("aggregator", "--metrics-port", str(port), "--redis-url", url))
    try:
        wait_for(lambda: _get(f"http://127.0.0.1:{port}/healthz") is not None, 60, "the metrics server")
        return (_get(f"http://127.0.0.1:{port}/metrics") or "") + (_get(f"http://127.0.0.1:{port}/healthz") or "")
    finally:
        process.terminate()
        process.wait(timeout=30)


def _get(url: str) -> str | None:
    try:
        with urllib.request.urlopen(url, timeout=5) as reply:
            return str(reply.read().decode())
    except OSError:
        return None


def test_environment_url_is_not_echoed_by_the_check_command(protected_server: LocalServer) -> None:
    env_url = f"redis://:{SECRET}@127.0.0.1:{protected_server.port}/0"
    done = subprocess.run(
        command("aggregator", "--check"), capture_output=True, text=True, timeout=60, check=False,
        env={"EMO_REDIS_URL": env_url, "PATH": "/usr/bin:/bin"},
    )  # fmt: skip
    assert SECRET not in done.stdout + done.stderr


def test_an_acl_user_url_works_and_its_password_is_not_printed(protected_server: LocalServer) -> None:
    admin = redis.Redis(port=protected_server.port, password=SECRET)
    admin.acl_setuser("emo", enabled=True, passwords=[f"+{SECRET}-acl"], keys=["*"], commands=["+@all"])
    admin.close()
    url = f"redis://emo:{SECRET}-acl@127.0.0.1:{protected_server.port}/0"
    done = run("status", "--redis-url", url)
    assert done.returncode == 0, done.stderr
    bad = run("status", "--redis-url", url.replace("-acl@", "-nope@"))
    assert bad.returncode == 1
    assert "redis://emo:***@127.0.0.1" in bad.stderr
    assert SECRET not in done.stdout + done.stderr + bad.stdout + bad.stderr


@pytest.fixture
def tls_server(tmp_path: Path) -> Iterator[int]:
    """redis-server with TLS only, a self-signed certificate and a password."""
    binary = system_server_binary()
    if binary is None or shutil.which("openssl") is None:
        pytest.skip("redis-server or openssl is not installed")
    key, cert = str(tmp_path / "key.pem"), str(tmp_path / "cert.pem")
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=127.0.0.1",
         "-addext", "subjectAltName=IP:127.0.0.1", "-keyout", key, "-out", cert],
        check=True, capture_output=True,
    )  # fmt: skip
    port = free_port()
    server = subprocess.Popen(
        [str(binary), "--port", "0", "--tls-port", str(port), "--bind", "127.0.0.1", "--save", "",
         "--dir", str(tmp_path), "--tls-cert-file", cert, "--tls-key-file", key, "--tls-ca-cert-file", cert,
         "--tls-auth-clients", "no", "--requirepass", SECRET],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    client = redis.Redis.from_url(f"rediss://:{SECRET}@127.0.0.1:{port}/0?ssl_ca_certs={tmp_path / 'cert.pem'}")
    wait_for(lambda: _pings(client), 10, "the TLS server")
    client.close()
    yield port
    server.terminate()
    server.wait()


def _pings(client: "redis.Redis") -> bool:
    try:
        return bool(client.ping())
    except redis.ConnectionError:
        return False


def test_a_tls_url_works_and_its_password_is_not_printed(tls_server: int, tmp_path: Path) -> None:
    url = f"rediss://:{SECRET}@127.0.0.1:{tls_server}/0?ssl_ca_certs={tmp_path / 'cert.pem'}"
    ok = run("status", "--redis-url", url)
    assert ok.returncode == 0, ok.stderr
    assert ok.stdout.strip() == "[]"
    unverified = run("status", "--redis-url", url.split("?", maxsplit=1)[0])  # the self-signed certificate is refused
    assert unverified.returncode == 1
    assert "rediss://***@127.0.0.1" in unverified.stderr
    assert SECRET not in ok.stdout + ok.stderr + unverified.stdout + unverified.stderr
