"""``wait_closed()`` after ``close()``: the graceful close is awaited to its end.

``close()`` detaches the connection from its socket (the endpoint stops
waking it); ``wait_closed()`` must still be woken by the FIN exchange that
follows (RFC 9293 3.6), on the emulated network in virtual time and over
loopback UDP alike, for sockets and trio streams.
"""

from __future__ import annotations

import trio

import emutcp
from emutcp.core.state import State
from emutcp.testing import B, connected_sockets, run_virtual, stream_pair, two_hosts


def test_wait_closed_after_close_returns_when_the_fin_exchange_ends():
    async def main() -> None:
        _net, a, b = two_hosts(seed=5, delay=0.01)
        server, client, conn = await connected_sockets(a, b)
        await client.sendall(b"bye")
        assert await conn.recv(8) == b"bye"
        start = trio.current_time()
        client.close()  # FIN-WAIT-1
        assert await conn.recv(8) == b""
        conn.close()  # LAST-ACK
        with trio.fail_after(5):
            await client.wait_closed()
            await conn.wait_closed()
        # Two one-way trips and the ACK of the last FIN: no timer involved.
        assert trio.current_time() - start <= 0.031
        assert client.state is State.TIME_WAIT
        assert conn.state is State.CLOSED
        server.close()

    run_virtual(main, seed=5)


def test_stream_wait_closed_after_aclose():
    async def main() -> None:
        _net, _a, b = two_hosts(seed=6, delay=0.01)
        client, server = await stream_pair(b, B)
        await client.aclose()
        assert await server.receive_some(8) == b""
        await server.aclose()
        with trio.fail_after(5):
            await client.wait_closed()
            await server.wait_closed()
        assert client.socket.state is State.TIME_WAIT
        assert server.socket.state is State.CLOSED

    run_virtual(main, seed=6)


def test_wait_closed_after_close_over_loopback_udp():
    async def main() -> None:
        host = emutcp.UdpHost()
        listener = host.socket()
        await listener.bind(("127.0.0.1", 0))
        listener.listen(1)
        client = host.socket()
        await client.connect(listener.getsockname())
        conn, _ = await listener.accept()
        listener.close()
        client.close()
        with trio.fail_after(10):  # a bound, not a wait: this takes a few ms
            assert await conn.recv(8) == b""
            conn.close()
            await client.wait_closed()
            await conn.wait_closed()
        assert client.state is State.TIME_WAIT
        assert conn.state is State.CLOSED

    trio.run(main)
