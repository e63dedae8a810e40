"""Hosts on one machine: Linux network namespaces joined by veth links (root or CAP_NET_ADMIN).

``Hub`` makes a namespace for the server and one per other host, each joined to the hub's
namespace by its own veth pair on its own /24; a host's link can be cut and restored. Every
name carries a random suffix and everything is deleted on exit, so the machine's own network
is never touched.
"""

import secrets
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass


def _ip(*args: str) -> None:
    subprocess.run(["ip", *args], check=True, capture_output=True, text=True)


def namespaces_available() -> str | None:
    """None if namespaces and veth links can be made here, else why not."""
    name = f"emo-probe-{secrets.token_hex(3)}"
    try:
        _ip("netns", "add", name)
    except (OSError, subprocess.CalledProcessError) as exc:
        return f"cannot create a network namespace ({getattr(exc, 'stderr', '') or exc}); needs root or CAP_NET_ADMIN"
    _ip("netns", "del", name)
    return None


@dataclass(frozen=True)
class Namespace:
    namespace: str

    def command(self, *args: str) -> list[str]:
        """``args`` run inside this namespace."""
        return ["ip", "netns", "exec", self.namespace, *args]


@dataclass(frozen=True)
class Host(Namespace):
    address: str  # this host's address on its link to the hub
    link: str  # this host's end of the link

    def cut(self) -> None:
        _ip("-n", self.namespace, "link", "set", self.link, "down")

    def restore(self) -> None:
        _ip("-n", self.namespace, "link", "set", self.link, "up")


@dataclass(frozen=True)
class Network:
    hub: Namespace  # it has an address on every link: hub_address(host) is the one a host reaches
    hosts: list[Host]

    def hub_address(self, host: Host) -> str:
        return host.address.rsplit(".", 1)[0] + ".1"


@contextmanager
def network(hosts: int) -> Iterator[Network]:
    """A hub namespace and ``hosts`` namespaces, host i on 10.77.<i+1>.2 with the hub on .1."""
    tag = secrets.token_hex(3)
    hub = f"emo-hub-{tag}"
    made = [hub]
    try:
        _ip("netns", "add", hub)
        _ip("-n", hub, "link", "set", "lo", "up")
        members = []
        for i in range(hosts):
            name, subnet = f"emo-h{i}-{tag}", f"10.77.{i + 1}"
            _ip("netns", "add", name)
            made.append(name)
            hub_end, host_end = f"eh{i}{tag}", f"eg{i}{tag}"
            _ip("link", "add", hub_end, "netns", hub, "type", "veth", "peer", "name", host_end, "netns", name)
            _ip("-n", hub, "addr", "add", f"{subnet}.1/24", "dev", hub_end)
            _ip("-n", name, "addr", "add", f"{subnet}.2/24", "dev", host_end)
            for ns, dev in ((hub, hub_end), (name, host_end), (name, "lo")):
                _ip("-n", ns, "link", "set", dev, "up")
            members.append(Host(name, f"{subnet}.2", host_end))
        yield Network(Namespace(hub), members)
    finally:
        for name in reversed(made):
            subprocess.run(["ip", "netns", "del", name], check=False, capture_output=True)
