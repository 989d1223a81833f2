"""Two network namespaces joined by a veth pair, for tests that cross hosts.

Addresses live only on the pair and there is no default route, so nothing
can leave it.  Needs root and iproute2; without them the test skips, unless
``EMUTCP_REQUIRE_NETNS=1`` (set by .ci/run) makes that a failure.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import subprocess
import sys
import uuid
from collections.abc import Iterator
from dataclasses import dataclass

import pytest

PY = [sys.executable, "-m", "emutcp"]
A_ADDR, B_ADDR = "192.168.77.1", "192.168.77.2"


def _ip(*args: str) -> None:
    subprocess.run(["ip", *args], check=True, capture_output=True)


def require_netns() -> None:
    why = None
    if os.geteuid() != 0:
        why = "needs root"
    elif shutil.which("ip") is None:
        why = "needs iproute2's ip"
    if why is not None:
        if os.environ.get("EMUTCP_REQUIRE_NETNS") == "1":
            pytest.fail(f"network-namespace test required but unavailable: {why}")
        pytest.skip(why)


@dataclass(frozen=True)
class Pair:
    a: str  # namespace names
    b: str
    dev_a: str  # the veth end in each
    dev_b: str

    def run(self, ns: str, *cmd: str) -> list[str]:
        """``cmd`` run inside namespace ``ns``."""
        return ["ip", "netns", "exec", ns, *cmd]

    def set_mtu(self, mtu: int) -> None:
        """Change the MTU of both ends of the pair (the path MTU follows)."""
        for ns, dev in ((self.a, self.dev_a), (self.b, self.dev_b)):
            _ip("-n", ns, "link", "set", dev, "mtu", str(mtu))

    def snmp(self, ns: str) -> dict[str, int]:
        """The namespace's IP counters from /proc/net/snmp (FragCreates, ...)."""
        text = subprocess.run(
            self.run(ns, "cat", "/proc/net/snmp"), capture_output=True, text=True, check=True
        ).stdout
        lines = [line.split() for line in text.splitlines() if line.startswith("Ip:")]
        return {k: int(v) for k, v in zip(lines[0][1:], lines[1][1:], strict=True)}


@contextlib.contextmanager
def veth_pair(*, mtu: int | None = None) -> Iterator[Pair]:
    """Namespaces A (192.168.77.1) and B (.2) joined by one veth pair."""
    require_netns()
    tag = uuid.uuid4().hex[:6]
    veth_a, veth_b = f"ea{tag}", f"eb{tag}"
    pair = Pair(f"emutcp-a-{tag}", f"emutcp-b-{tag}", veth_a, veth_b)
    try:
        _ip("netns", "add", pair.a)
        _ip("netns", "add", pair.b)
        _ip("link", "add", veth_a, "type", "veth", "peer", "name", veth_b)
        _ip("link", "set", veth_a, "netns", pair.a)
        _ip("link", "set", veth_b, "netns", pair.b)
        _ip("-n", pair.a, "addr", "add", f"{A_ADDR}/30", "dev", veth_a)
        _ip("-n", pair.b, "addr", "add", f"{B_ADDR}/30", "dev", veth_b)
        for ns, dev in ((pair.a, veth_a), (pair.b, veth_b)):
            if mtu is not None:
                _ip("-n", ns, "link", "set", dev, "mtu", str(mtu))
            _ip("-n", ns, "link", "set", dev, "up")
            _ip("-n", ns, "link", "set", "lo", "up")
        yield pair
    finally:
        for ns in (pair.a, pair.b):  # deleting a namespace removes its veth end too
            subprocess.run(["ip", "netns", "del", ns], capture_output=True)


def transfer(server_cmd, client_cmd, payload: bytes, *, timeout: float = 60) -> dict:
    """Start ``emutcp serve ... --json``, pipe ``payload`` into ``emutcp connect``,
    return the server's JSON summary."""
    server = subprocess.Popen(server_cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        line = server.stderr.readline().decode()  # "emutcp: listening on ..."
        assert "listening" in line, line + server.stderr.read().decode()
        client = subprocess.run(
            client_cmd, input=payload, capture_output=True, timeout=timeout, check=False
        )
        assert client.returncode == 0, client.stderr.decode()
        out, err = server.communicate(timeout=timeout)
        assert server.returncode == 0, err.decode()
    finally:
        if server.poll() is None:
            server.kill()
            server.wait()
    return json.loads(out.decode().strip().splitlines()[-1])


def free_udp_port() -> int:
    import socket

    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


@dataclass(frozen=True)
class RoutedPath:
    a: str  # namespaces: A --(jumbo)-- router --(narrow at the router)-- B
    router: str
    b: str
    a_addr: str
    b_addr: str

    def run(self, ns: str, *cmd: str) -> list[str]:
        return ["ip", "netns", "exec", ns, *cmd]


@contextlib.contextmanager
def black_hole_path(*, jumbo: int = 9000, narrow: int = 1500) -> Iterator[RoutedPath]:
    """A and B with ``jumbo`` MTUs, joined through a router whose interface
    towards B has only ``narrow``: B's big packets to A are dropped silently at
    the router (a veth drops frames above its MTU; no ICMP is sent), while B's
    own interface says ``jumbo``.  A path-MTU black hole, B to A."""
    require_netns()
    tag = uuid.uuid4().hex[:6]
    path = RoutedPath(
        f"emutcp-a-{tag}", f"emutcp-r-{tag}", f"emutcp-b-{tag}", "192.168.78.1", "192.168.79.2"
    )
    ar_a, ar_r, rb_r, rb_b = (f"{x}{tag}" for x in ("pa", "pr", "qr", "qb"))
    try:
        for ns in (path.a, path.router, path.b):
            _ip("netns", "add", ns)
            _ip("-n", ns, "link", "set", "lo", "up")
        _ip(
            "link",
            "add",
            ar_a,
            "netns",
            path.a,
            "type",
            "veth",
            "peer",
            "name",
            ar_r,
            "netns",
            path.router,
        )
        _ip(
            "link",
            "add",
            rb_r,
            "netns",
            path.router,
            "type",
            "veth",
            "peer",
            "name",
            rb_b,
            "netns",
            path.b,
        )
        for ns, dev, addr, mtu in (
            (path.a, ar_a, f"{path.a_addr}/24", jumbo),
            (path.router, ar_r, "192.168.78.254/24", jumbo),
            (path.router, rb_r, "192.168.79.254/24", narrow),
            (path.b, rb_b, f"{path.b_addr}/24", jumbo),
        ):
            _ip("-n", ns, "addr", "add", addr, "dev", dev)
            _ip("-n", ns, "link", "set", dev, "mtu", str(mtu), "up")
        _ip("-n", path.a, "route", "add", "192.168.79.0/24", "via", "192.168.78.254")
        _ip("-n", path.b, "route", "add", "192.168.78.0/24", "via", "192.168.79.254")
        subprocess.run(
            path.run(path.router, "sysctl", "-qw", "net.ipv4.ip_forward=1"),
            check=True,
            capture_output=True,
        )
        yield path
    finally:
        for ns in (path.a, path.router, path.b):
            subprocess.run(["ip", "netns", "del", ns], capture_output=True)
