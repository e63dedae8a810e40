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
