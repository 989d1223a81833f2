"""A dying program tells its peers, as a kernel does for a dying process.

emutcp lives inside the process, so it closes for it: when the trio run ends
with connections open, when a socket is dropped without ``close()`` (with a
``ResourceWarning``, like Python's own sockets), and when the command line
gets SIGINT or SIGTERM, every open connection's peer hears at once (RST, or
FIN where the close can still finish).
"""

from __future__ import annotations

import gc
import signal
import subprocess
import sys

import pytest
import trio

import emutcp
from emutcp.testing import connected_sockets, two_hosts

LO = "127.0.0.1"


async def _listener() -> emutcp.Socket:
    server = emutcp.socket()
    await server.bind((LO, 0))
    server.listen(4)
    return server


async def _read_until_peer_gone(conn: emutcp.Socket) -> str:
    """What the peer's departure looked like from here: 'eof' or 'reset'."""
    try:
        while await conn.recv(1 << 16):
            pass
    except ConnectionResetError:
        return "reset"
    return "eof"


async def test_connections_are_reset_when_the_trio_run_ends():
    server = await _listener()
    kept: list[emutcp.Socket] = []  # still referenced: only the run's end closes it

    def client_program() -> None:
        async def main() -> None:
            sock = emutcp.socket()
            await sock.connect(server.getsockname())
            await sock.sendall(b"request")
            assert await sock.recv(100) == b"reply"
            kept.append(sock)  # ... and return without close()

        trio.run(main)

    async with trio.open_nursery() as nursery:
        nursery.start_soon(trio.to_thread.run_sync, client_program)
        with trio.fail_after(10):
            conn, _ = await server.accept()
            assert await conn.recv(100) == b"request"
            await conn.sendall(b"reply")
        with trio.fail_after(1):  # loopback RTT is ~0.1 ms; a lost RST would be 60 s+
            assert await _read_until_peer_gone(conn) == "reset"
    conn.close()
    server.close()


async def test_a_dropped_socket_is_closed_for_the_application_with_a_warning():
    server = await _listener()
    client = emutcp.socket()
    await client.connect(server.getsockname())
    conn, _ = await server.accept()
    await client.sendall(b"bye")
    with pytest.warns(ResourceWarning, match="unclosed <emutcp.Socket ESTABLISHED"):
        del client
        gc.collect()
    with trio.fail_after(1):
        assert await conn.recv(10) == b"bye"
        assert await _read_until_peer_gone(conn) == "eof"  # a graceful FIN: nothing unread
    conn.close()
    server.close()


async def test_a_host_exit_tells_every_peer_within_one_rtt(mock_clock):
    _net, a, b = two_hosts(seed=1, delay=0.05)  # RTT 100 ms
    server, client, conn = await connected_sockets(a, b)
    t0 = trio.current_time()
    a.abort_all("process exiting")
    assert await _read_until_peer_gone(conn) == "reset"
    assert trio.current_time() - t0 <= 0.1
    for s in (server, client, conn):
        s.close()


@pytest.mark.parametrize(("sig", "status"), [(signal.SIGTERM, 143), (signal.SIGINT, 130)])
async def test_the_command_line_resets_its_peer_on_a_signal(sig, status):
    server = await _listener()
    port = server.getsockname()[1]
    proc = await trio.lowlevel.open_process(
        [sys.executable, "-m", "emutcp", "connect", LO, str(port)],
        stdin=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        with trio.fail_after(30):
            conn, _ = await server.accept()
            await proc.stdin.send_all(b"some input, never finished\n")
            assert await conn.recv(100)
        proc.send_signal(sig)
        with trio.fail_after(2):
            assert await _read_until_peer_gone(conn) == "reset"
            await proc.wait()
        assert proc.returncode == status
        err = await proc.stderr.receive_some(10_000)
        assert b"Traceback" not in err
    finally:
        proc.kill()
        await proc.wait()
    conn.close()
    server.close()
