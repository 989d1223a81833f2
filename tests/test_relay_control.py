"""The relay driven live: commands change its links while it runs; Ctrl-C
stops it cleanly and ``--json`` still prints its counters."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import time

import pytest
from netns import PY, free_udp_port

from emutcp.lab.relay import Relay
from emutcp.lab.relay_control import apply_command
from emutcp.transport.link import LinkProfile


def test_commands_change_both_directions_or_one():
    relay = Relay(
        listen=("127.0.0.1", 0),
        target=("127.0.0.1", 9),
        forward=LinkProfile(),
        reverse=LinkProfile(),
    )
    try:
        assert apply_command(relay, "loss 0.25", now=0.0).startswith("ok")
        assert relay.profile("forward").loss == relay.profile("reverse").loss == 0.25
        assert apply_command(relay, "rev delay 40ms", now=0.0).startswith("ok")
        assert relay.profile("reverse").delay == pytest.approx(0.04)
        assert relay.profile("forward").delay == 0.0
        assert apply_command(relay, "rate 10mbit", now=0.0).startswith("ok")
        assert relay.profile("forward").rate == 10e6
        assert apply_command(relay, "rate off", now=0.0).startswith("ok")
        assert relay.profile("forward").rate is None
        assert apply_command(relay, "down", now=5.0) == "ok link down"
        assert relay.profile("forward").outages == ((5.0, float("inf")),)
        assert relay.profile("forward").loss == 0.25  # kept through the outage
        assert json.loads(apply_command(relay, "show", now=5.0))["reverse"]["down"] is True
        assert apply_command(relay, "up", now=6.0) == "ok link up"
        assert relay.profile("reverse").outages == ()
        for bad in ("loss 2", "delay soon", "warp 9", "loss", "fwd"):
            assert apply_command(relay, bad, now=0.0).startswith("error"), bad
        assert "commands" in apply_command(relay, "help", now=0.0)
    finally:
        relay.front.close()


def _until(predicate, what: str, timeout: float = 10.0):
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        assert time.monotonic() < deadline, f"timed out waiting for {what}"


@pytest.mark.skipif(not hasattr(socket, "AF_UNIX"), reason="Unix control socket")
def test_down_and_up_through_the_control_socket_then_ctrl_c(tmp_path):
    # A plain UDP echo target, the relay in front of it, a client socket.
    target = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    target.bind(("127.0.0.1", 0))
    target.settimeout(0.2)
    client = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    client.settimeout(0.2)
    port = free_udp_port()
    control = str(tmp_path / "relay.ctl")
    to = f"127.0.0.1:{target.getsockname()[1]}"
    argv = ["relay", "--listen", str(port), "--listen-address", "127.0.0.1", "--to", to]
    relay = subprocess.Popen(
        [*PY, *argv, "--control", control, "--json"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        _until(lambda: os.path.exists(control), "the control socket")
        assert oct(os.stat(control).st_mode & 0o777) == "0o600"

        def through(tag: bytes) -> bool:
            """Send one datagram via the relay; did the target get it?"""
            client.sendto(tag, ("127.0.0.1", port))
            try:
                return target.recv(100) == tag
            except TimeoutError:
                return False

        def command(line: str) -> str:
            with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as c:
                c.settimeout(5)
                c.connect(control)
                c.sendall(line.encode() + b"\n")
                return c.makefile().readline().strip()

        _until(lambda: through(b"up-1"), "a datagram through the relay")
        assert command("down") == "ok link down"
        assert not any(through(b"down-%d" % i) for i in range(3))
        assert command("up") == "ok link up"
        _until(lambda: through(b"up-2"), "the link back up")
        assert json.loads(command("show"))["forward"]["down"] is False
    finally:
        relay.send_signal(signal.SIGINT)
        out, err = relay.communicate(timeout=20)
        client.close()
        target.close()
    assert relay.returncode == 0, err
    assert b"Traceback" not in err
    stats = json.loads(out.decode().strip().splitlines()[-1])
    forward = stats["sessions"][0]["forward"]
    assert forward["dropped"]["outage"] == 3
    assert forward["delivered"] >= 2
    assert not os.path.exists(control)  # removed at exit
