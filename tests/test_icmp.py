"""ICMP port unreachable over real loopback UDP: a peer process killed mid-stream.

A SIGKILLed ``emutcp serve`` leaves no process to send a RST; its host answers
every datagram to the dead port with ICMP port unreachable.  The client's UDP
socket is connected, so the kernel reports each one (ECONNREFUSED), and RFC
1122 4.2.3.9 makes port unreachable a hard error: after three of them with
nothing from the peer in between the sender gives up with ConnectionResetError,
in seconds rather than after minutes of retransmissions.
"""

from __future__ import annotations

import subprocess
import sys

import pytest
import trio

import emutcp

pytestmark = pytest.mark.skipif(
    not sys.platform.startswith("linux"), reason="relies on Linux reporting ICMP errors"
)


def _free_udp_port() -> int:
    import socket

    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def _start_server(port: int) -> trio.Process:
    argv = [sys.executable, "-m", "emutcp", "serve", "--port", str(port)]
    server = await trio.lowlevel.open_process(
        [*argv, "--address", "127.0.0.1", "--discard"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    assert server.stdout is not None
    seen = b""
    with trio.fail_after(20):
        while b"listening" not in seen:
            chunk = await server.stdout.receive_some()
            assert chunk, f"serve exited early: {seen!r}"
            seen += chunk
    return server


async def test_a_sender_whose_peer_process_was_killed_is_reset_within_10_s():
    port = _free_udp_port()
    server = await _start_server(port)
    sock = emutcp.socket()
    try:
        await sock.connect(("127.0.0.1", port))
        chunk = b"x" * 65_536
        for _ in range(16):  # a stream is flowing
            await sock.sendall(chunk)
        server.kill()  # SIGKILL: no RST, only ICMP from the host
        await server.wait()
        start = trio.current_time()
        with pytest.raises(ConnectionResetError, match="unreachable"), trio.fail_after(10):
            while True:
                await sock.sendall(chunk)
        assert trio.current_time() - start < 10
    finally:
        sock.close()
        if server.returncode is None:
            server.kill()
            await server.wait()
        if server.stdout is not None:
            await server.stdout.aclose()
