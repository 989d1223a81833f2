"""emutcp against the Linux kernel's own TCP, over a TUN device (issue 19).

Each test makes a network namespace with only ``lo`` (no route out); emutcp
creates its TUN device inside it, takes ``.2`` and gives the kernel ``.1``.
Needs root, iproute2 and /dev/net/tun: without them the tests skip, unless
``EMUTCP_REQUIRE_TUN=1`` (set by .ci/run) makes that a failure.

* ``tests/tun_peer.py`` runs the protocol scenarios in one process (emutcp
  and kernel sockets side by side), over IPv4 and over IPv6: every option
  negotiated both ways, connection refused both ways,
  half-close, RST on abort both ways, window scaling beyond 64 KB, SACK
  recovery with the kernel as sender while emutcp drops segments on
  purpose (and the reverse, emutcp recovering from the kernel's SACK
  blocks), and TIME-WAIT on both sides.
* The CLI tests move 1 MB and 10 MB each way with ``emutcp serve`` /
  ``emutcp connect --transport tun`` against plain Python sockets, sha256
  checked.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import pathlib
import shutil
import subprocess
import sys
import uuid
from collections.abc import Iterator

import pytest

HERE = pathlib.Path(__file__).resolve().parent
PY = [sys.executable, "-m", "emutcp"]


def require_tun() -> None:
    why = None
    if os.geteuid() != 0:
        why = "needs root"
    elif shutil.which("ip") is None:
        why = "needs iproute2's ip"
    elif not os.path.exists("/dev/net/tun"):
        why = "needs /dev/net/tun"
    if why is not None:
        if os.environ.get("EMUTCP_REQUIRE_TUN") == "1":
            pytest.fail(f"TUN test required but unavailable: {why}")
        pytest.skip(why)


@contextlib.contextmanager
def namespace() -> Iterator[list[str]]:
    """A fresh namespace with ``lo`` up; yields the ``ip netns exec NS`` prefix."""
    require_tun()
    name = f"emutcp-tun-{uuid.uuid4().hex[:6]}"
    subprocess.run(["ip", "netns", "add", name], check=True, capture_output=True)
    try:
        subprocess.run(["ip", "-n", name, "link", "set", "lo", "up"], check=True)
        yield ["ip", "netns", "exec", name]
    finally:
        subprocess.run(["ip", "netns", "del", name], capture_output=True)


def run_scenarios(network: str, tmp_path: pathlib.Path) -> dict:
    capture = []
    if shutil.which("tshark") is not None and network.startswith("10."):
        # The IPv4 run is also watched live, as a user would with Wireshark.
        capture = [str(tmp_path / "tun.pcapng")]
    with namespace() as ns:
        done = subprocess.run(
            [*ns, sys.executable, str(HERE / "tun_peer.py"), network, *capture],
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
    assert done.returncode == 0, done.stderr[-3000:]
    found = json.loads(done.stdout.strip().splitlines()[-1])
    found["capture"] = capture[0] if capture else None
    return found


# One test per address family runs every scenario once (in one namespace, one
# process) and then checks each finding; the checks are the functions below.
@pytest.mark.parametrize("network", ["10.77.0.0/24", "fd00:77::/64"], ids=["ipv4", "ipv6"])
def test_emutcp_against_the_kernel(network, tmp_path):
    findings = run_scenarios(network, tmp_path)
    for direction in ("out_handshake", "in_handshake"):
        check_handshake_negotiates_every_option(findings, direction)
    check_half_close_each_way(findings)
    check_rst_on_abort_both_ways(findings)
    check_window_scaling_beyond_64k(findings)
    check_sack_recovery_with_the_kernel_as_sender(findings)
    check_sack_recovery_with_emutcp_as_sender(findings)
    check_time_wait_on_both_sides(findings)
    check_connection_refused_both_ways(findings)
    if findings["capture"] is not None:
        check_tshark_on_the_tun_device_sees_real_tcp(findings)
    elif network.startswith("10.") and os.environ.get("EMUTCP_REQUIRE_TSHARK") == "1":
        pytest.fail("tshark is required (EMUTCP_REQUIRE_TSHARK=1) but not installed")


def check_handshake_negotiates_every_option(findings, direction):
    ours, kernel = findings[direction]["emutcp"], findings[direction]["kernel"]
    assert kernel["state"] == 1  # TCP_ESTABLISHED
    assert ours["sack"] and kernel["sack"]  # RFC 2018
    assert ours["timestamps"] and kernel["timestamps"]  # RFC 7323 3
    assert kernel["wscale"]  # RFC 7323 2: each side's shift as the other reads it
    assert ours["snd_wscale"] == kernel["rcv_wscale"] > 0
    assert ours["rcv_wscale"] == kernel["snd_wscale"] > 0
    # MSS: emutcp announces 1400; the kernel sends 1400 less 12 bytes of timestamps.
    assert kernel["snd_mss"] == 1400 - 12
    assert ours["snd_mss"] <= 1460


def check_half_close_each_way(findings):
    # emutcp shut down its sending side and still read the kernel's reply.
    assert findings["out_half_close"] == {"kernel_got": True, "reply": "reply after your FIN"}
    # The kernel's FIN came with its data (window_scaling) and emutcp read all of it.
    assert findings["window_scaling"]["intact"]


def check_rst_on_abort_both_ways(findings):
    assert findings["kernel_saw_rst"] == "ConnectionResetError"  # emutcp SO_LINGER 0
    assert findings["emutcp_saw_rst"] == "ConnectionResetError"  # kernel SO_LINGER 0


def check_window_scaling_beyond_64k(findings):
    # Before emutcp read anything the kernel had filled its 256 KiB buffer:
    # only a scaled window lets a sender have more than 64 KiB outstanding.
    assert findings["window_scaling"]["buffered_before_read"] > 65_535
    assert findings["in_handshake"]["emutcp"]["snd_wnd"] > 65_535  # the kernel's, scaled


def check_sack_recovery_with_the_kernel_as_sender(findings):
    sack = findings["sack_recovery"]
    assert sack["intact"]
    assert sack["dropped"] == 30
    assert sack["sacks_sent"] > 0  # emutcp reported the holes (RFC 2018)
    assert sack["kernel_retrans"] >= sack["dropped"]  # every hole was refilled
    assert sack["kernel_sack_recovery"] > 0  # ... by SACK-based fast recovery
    assert sack["kernel_rto"] == 0  # ... never by a retransmission timeout


def check_sack_recovery_with_emutcp_as_sender(findings):
    # The reverse direction: emutcp drops its own segments and refills the
    # holes the kernel's SACK blocks report (RFC 6675), not by timeouts.
    sack = findings["sack_recovery_emutcp_sender"]
    assert sack["intact"] and sack["dropped"] == 30
    assert sack["sacks_received"] > 0  # the kernel reported the holes (RFC 2018)
    # Each hole refilled once (no spurious resends), by fast recovery and the
    # SACK scoreboard (RFC 6675), none by a retransmission timeout.
    assert sack["retransmits"] == sack["dropped"]
    assert sack["fast_retransmits"] > 0
    assert sack["rto_retransmits"] == 0


def check_time_wait_on_both_sides(findings):
    assert findings["emutcp_time_wait"] == "TIME_WAIT"  # emutcp closed first
    assert findings["kernel_address"] in findings["kernel_time_wait"]  # the kernel closed first


def check_connection_refused_both_ways(findings):
    assert findings["emutcp_refused"] == "ConnectionRefusedError"  # the kernel's RST
    assert findings["kernel_refused"] == "ConnectionRefusedError"  # TunNetwork's RST
    assert findings["net_stats"]["closed_port_rst"] >= 1


KERNEL_CLIENT = """
import hashlib, socket, sys, threading
data = sys.stdin.buffer.read()
s = socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=60)
got = hashlib.sha256(); n = 0
def reader():
    global n
    while chunk := s.recv(1 << 20):
        got.update(chunk); n += len(chunk)
t = threading.Thread(target=reader); t.start()
s.sendall(data); s.shutdown(socket.SHUT_WR); t.join(); s.close()
print(n, got.hexdigest())
"""

KERNEL_ECHO_SERVER = """
import socket, sys
lst = socket.socket(); lst.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
lst.bind(("0.0.0.0", int(sys.argv[1]))); lst.listen(1)
print("ready", flush=True)
conn, _ = lst.accept(); conn.settimeout(60)
while chunk := conn.recv(1 << 20):
    conn.sendall(chunk)
conn.shutdown(socket.SHUT_WR); conn.recv(1); conn.close()
"""


def _payload(n: int) -> bytes:
    return hashlib.shake_256(b"tun %d" % n).digest(n)


@pytest.mark.parametrize("size", [1 << 20, pytest.param(10 << 20, marks=pytest.mark.slow)])
def test_cli_kernel_client_to_emutcp_server(size):
    data = _payload(size)
    with namespace() as ns:
        server = subprocess.Popen(
            [
                *ns,
                *PY,
                "serve",
                "--transport",
                "tun",
                "--tun-net",
                "10.77.0.0/24",
                "--port",
                "8080",
                "--echo",
                "--once",
                "--json",
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        try:
            line = server.stderr.readline().decode()
            assert "listening on 10.77.0.2:8080" in line, line + server.stderr.read().decode()
            client = subprocess.run(
                [*ns, sys.executable, "-c", KERNEL_CLIENT, "10.77.0.2", "8080"],
                input=data,
                capture_output=True,
                timeout=120,
                check=True,
            )
            out, err = server.communicate(timeout=60)
        finally:
            if server.poll() is None:
                server.kill()
                server.wait()
    assert server.returncode == 0, err.decode()
    n, digest = client.stdout.decode().split()
    assert (int(n), digest) == (size, hashlib.sha256(data).hexdigest())
    summary = json.loads(out.decode().strip().splitlines()[-1])
    assert summary["bytes"] == size and summary["sha256"] == hashlib.sha256(data).hexdigest()
    assert summary["peer"][0] == "10.77.0.1"


@pytest.mark.parametrize(
    ("size", "extra"),
    [
        (1 << 20, []),
        (1 << 20, ["--tun-mtu", "9000", "--mss", "8000"]),  # jumbo frames: 8 KB segments
        pytest.param(10 << 20, [], marks=pytest.mark.slow),
    ],
)
def test_cli_emutcp_client_to_kernel_server(size, extra):
    data = _payload(size)
    with namespace() as ns:
        server = subprocess.Popen(
            [*ns, sys.executable, "-c", KERNEL_ECHO_SERVER, "9000"],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        try:
            assert server.stdout.readline().strip() == b"ready"
            client = subprocess.run(
                [
                    *ns,
                    *PY,
                    "connect",
                    "--transport",
                    "tun",
                    "--tun-net",
                    "10.78.0.0/24",
                    *extra,
                    "--json",
                    "10.78.0.1",
                    "9000",
                ],
                input=data,
                capture_output=True,
                timeout=120,
                check=False,
            )
            server.wait(timeout=30)
        finally:
            if server.poll() is None:
                server.kill()
                server.wait()
            server.stdout.close()
            server.stderr.close()
        # The device went away with the process.
        links = subprocess.run([*ns, "ip", "-o", "link"], capture_output=True, text=True)
    assert client.returncode == 0, client.stderr.decode()
    assert hashlib.sha256(client.stdout).digest() == hashlib.sha256(data).digest()
    summary = json.loads(client.stderr.decode().strip().splitlines()[-1])
    assert summary["mss"] == (8000 if extra else 1400)  # the device's MTU allows them
    assert "emutcp" not in links.stdout


def check_tshark_on_the_tun_device_sees_real_tcp(findings):
    fields = ["tcp.flags.syn", "tcp.flags.ack", "tcp.options.mss_val", "tcp.options.sack_perm"]
    fields += ["tcp.options.wscale.shift", "tcp.checksum.status", "tcp.len"]
    cmd = [shutil.which("tshark"), "-r", findings["capture"], "-o", "tcp.check_checksum:TRUE"]
    cmd += ["-Y", "tcp", "-T", "fields"]
    for name in fields:
        cmd += ["-e", name]
    out = subprocess.run(cmd, capture_output=True, text=True, check=True, timeout=120).stdout
    rows = [dict(zip(fields, line.split("\t"), strict=True)) for line in out.splitlines()]
    assert len(rows) > 1000  # every scenario's segments, both directions
    assert all(r["tcp.checksum.status"] == "1" for r in rows)  # 1: good, on every packet
    syns = [r for r in rows if r["tcp.flags.syn"] == "1"]
    assert len(syns) >= 8  # SYN and SYN+ACK of each connection
    for syn in syns:
        if syn["tcp.flags.ack"] == "1" and syn["tcp.options.mss_val"]:
            assert syn["tcp.options.sack_perm"] and syn["tcp.options.wscale.shift"]
    assert sum(int(r["tcp.len"] or 0) for r in rows) > 3 << 20  # the payload went through


DEVICE_DELETED = """
import subprocess, trio
import emutcp
from emutcp.tun import TunNetwork

async def main():
    net = TunNetwork("10.77.0.0/24")
    host = emutcp.Host(transport=net.factory())
    listeners = await host.open_listeners(8080)
    kernel = trio.socket.socket()
    await kernel.connect(("10.77.0.2", 8080))
    stream = await listeners[0].accept()
    subprocess.run(["ip", "link", "del", net.name], check=True)
    try:
        with trio.fail_after(10):
            await stream.receive_some(10)
        print("no error")
    except trio.BrokenResourceError as exc:
        print(exc.__cause__)
    net.close()

trio.run(main)
"""


def test_a_tun_device_deleted_under_emutcp_is_a_clear_error():
    with namespace() as ns:
        done = subprocess.run(
            [*ns, sys.executable, "-c", DEVICE_DELETED],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
    assert done.returncode == 0, done.stderr[-2000:]  # no TrioInternalError
    line = done.stdout.strip()
    assert line.startswith("[Errno 5] transport TunPortTransport failed"), line
    assert "TUN device emutcp" in line
