"""Network partitions for the fault runs: Linux network namespaces joined to the host by
veth pairs, whose links a test cuts and heals.

Layout: services (Redis, the dev master) listen on addresses of their own, /32s on the
host's loopback in 10.231.X.0/24 (X picked free for this run). Each process under test
runs in a namespace of its own with one veth link per service it reaches, and a /32
route to that service through that link, so cutting one link partitions the process
from one service and from nothing else:

    namespace hippo-<pid>-w0            host
      r0n 10.231.X.2/30  <-- veth -->  r0h 10.231.X.1/30   --> Redis  10.231.X.250
      m0n 10.231.X.6/30  <-- veth -->  m0h 10.231.X.5/30   --> master 10.231.X.251

A cut drops every packet both ways silently, as a real partition does (the `blackhole`
queueing discipline on both ends; `tc` with `netem` is not needed): open connections
hang rather than fail fast, and new ones time out (or, once ARP gives up, fail with "no
route to host", as on a LAN). Where that discipline is missing the links are set down
instead, which fails connections at once.

Needs root and iproute2 (`ip`, `tc`). Everything made is removed by `NetLab.close()`,
which the fixture calls even when the test fails.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass, field

NET_PREFIX = "10.231"  # a private range unlikely to be in use on a test machine
HOST_SLOTS = 31  # /30 pairs per /24 that leave .248-.255 for service addresses


class NetLabError(Exception):
    """An `ip` or `tc` command failed; the message has its output."""


def ip_available() -> str | None:
    """Why network partitions cannot run here, or None when they can."""
    if os.geteuid() != 0:
        return "network partitions need root (ip netns)"
    try:
        subprocess.run(["ip", "netns", "list"], check=True, capture_output=True)
    except (OSError, subprocess.CalledProcessError) as e:
        return f"network partitions need iproute2's `ip netns` ({e})"
    return None


def run(*argv: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(list(argv), capture_output=True, text=True)
    if check and result.returncode != 0:
        raise NetLabError(f"{' '.join(argv)}: {result.stderr.strip() or result.stdout.strip()}")
    return result


def used_subnets() -> set[int]:
    """Third octets of 10.231.X.0/24 with any address on this host already."""
    out = run("ip", "-4", "-o", "addr", "show").stdout
    used = set()
    for word in out.split():
        if word.startswith(NET_PREFIX + "."):
            used.add(int(word.split(".")[2]))
    return used


def pick_subnet(pid: int, used: set[int]) -> int:
    """A third octet from the pid, stepping past those in use (1..254)."""
    for step in range(254):
        x = (pid + step) % 254 + 1
        if x not in used:
            return x
    raise NetLabError(f"no free {NET_PREFIX}.X.0/24 left")


@dataclass
class Link:
    """A veth pair: `host_if`/`host_addr` on the host, `ns_if`/`ns_addr` in `namespace`."""

    namespace: str
    host_if: str
    ns_if: str
    host_addr: str
    ns_addr: str
    routes: list[str] = field(default_factory=list)  # /32s reached through this link
    cut: bool = False


@dataclass
class NetLab:
    """Namespaces, links and service addresses of one test; `close()` removes them all."""

    tag: str = field(default_factory=lambda: str(os.getpid() % 100000))
    subnet: int = 0
    namespaces: list[str] = field(default_factory=list)
    links: list[Link] = field(default_factory=list)
    addresses: list[str] = field(default_factory=list)
    blackhole: bool = True
    _slots: int = 0

    def __post_init__(self) -> None:
        if not self.subnet:
            self.subnet = pick_subnet(os.getpid(), used_subnets())
        self.blackhole = _blackhole_works()

    def service_address(self) -> str:
        """A new /32 on the host's loopback for a service to listen on (.250 up)."""
        addr = f"{NET_PREFIX}.{self.subnet}.{250 + len(self.addresses)}"
        run("ip", "addr", "add", f"{addr}/32", "dev", "lo")
        self.addresses.append(addr)
        return addr

    def namespace(self, name: str) -> str:
        """A new namespace `hippo-<tag>-<name>` with its loopback up; returns its name."""
        ns = f"hippo-{self.tag}-{name}"
        run("ip", "netns", "add", ns)
        self.namespaces.append(ns)
        run("ip", "netns", "exec", ns, "ip", "link", "set", "lo", "up")
        return ns

    def link(self, namespace: str, label: str, reaches: Sequence[str]) -> Link:
        """A veth pair from the host into `namespace`, routing the /32s `reaches` through it."""
        slot = self._slots
        if slot >= HOST_SLOTS * 2:
            raise NetLabError("too many links for one /24")
        self._slots += 1
        base = slot * 4
        host_if = f"h{self.tag}{label}"
        if len(host_if) > 14:  # Linux names are at most 15 characters, and "n" is added
            raise NetLabError(f"link label {label!r} too long")
        link = Link(
            namespace,
            host_if,
            host_if + "n",
            f"{NET_PREFIX}.{self.subnet}.{base + 1}",
            f"{NET_PREFIX}.{self.subnet}.{base + 2}",
            list(reaches),
        )
        run("ip", "link", "add", link.host_if, "type", "veth", "peer", "name", link.ns_if)
        self.links.append(link)
        run("ip", "link", "set", link.ns_if, "netns", namespace)
        run("ip", "addr", "add", f"{link.host_addr}/30", "dev", link.host_if)
        run("ip", "link", "set", link.host_if, "up")
        self._ns(link, "ip", "addr", "add", f"{link.ns_addr}/30", "dev", link.ns_if)
        self._ns(link, "ip", "link", "set", link.ns_if, "up")
        self._route(link)
        return link

    def exec_argv(self, namespace: str, argv: Sequence[str]) -> list[str]:
        """`argv` run inside `namespace` (the same pid: `ip netns exec` execs)."""
        return ["ip", "netns", "exec", namespace, *argv]

    def cut(self, link: Link) -> None:
        """Drop every packet on `link`, both ways, until `heal`."""
        if link.cut:
            return
        if self.blackhole:
            run("tc", "qdisc", "replace", "dev", link.host_if, "root", "blackhole")
            self._ns(link, "tc", "qdisc", "replace", "dev", link.ns_if, "root", "blackhole")
        else:
            run("ip", "link", "set", link.host_if, "down")
        link.cut = True

    def heal(self, link: Link) -> None:
        if not link.cut:
            return
        if self.blackhole:
            run("tc", "qdisc", "del", "dev", link.host_if, "root")
            self._ns(link, "tc", "qdisc", "del", "dev", link.ns_if, "root")
        else:
            run("ip", "link", "set", link.host_if, "up")
            self._route(link)  # a link set down loses its routes
        link.cut = False

    def close(self) -> None:
        """Kill what runs in our namespaces, remove them, their links and our addresses."""
        for ns in self.namespaces:
            pids = run("ip", "netns", "pids", ns, check=False).stdout.split()
            for pid in pids:
                with contextlib.suppress(ProcessLookupError, ValueError):
                    os.kill(int(pid), 9)
            run("ip", "netns", "del", ns, check=False)
        for link in self.links:
            # Deleting a namespace deletes its end, and so the pair, but not at once.
            run("ip", "link", "del", link.host_if, check=False)
        for addr in self.addresses:
            run("ip", "addr", "del", f"{addr}/32", "dev", "lo", check=False)
        self.namespaces.clear()
        self.links.clear()
        self.addresses.clear()

    def _ns(self, link: Link, *argv: str) -> None:
        run("ip", "netns", "exec", link.namespace, *argv)

    def _route(self, link: Link) -> None:
        for target in link.routes:
            self._ns(
                link, "ip", "route", "replace", f"{target}/32", "via", link.host_addr,
                "dev", link.ns_if,
            )  # fmt: skip


def _blackhole_works() -> bool:
    """Whether this kernel has the `blackhole` queueing discipline (tried on a scratch pair)."""
    name = f"hbh{os.getpid() % 100000}"
    if run(
        "ip", "link", "add", name, "type", "veth", "peer", "name", name + "p", check=False
    ).returncode:
        return False
    try:
        return (
            run("tc", "qdisc", "add", "dev", name, "root", "blackhole", check=False).returncode == 0
        )
    finally:
        run("ip", "link", "del", name, check=False)
