"""Stream-pair makers shared by the stream tests (real loopback and emulated)."""

from __future__ import annotations

import trio

import emutcp
from emutcp import State

SMALL = emutcp.Config(mss=1000, send_buffer=4000, recv_buffer=4000)


async def stream_pair(host, address: str, *, config=None, client_host=None):
    listeners = await host.open_listeners(0, address=address, config=config)
    port = listeners[0].socket.getsockname()[1]
    client = await (client_host or host).open_stream(address, port, config=config)
    server = await listeners[0].accept()
    await listeners[0].aclose()
    return client, server


async def clog(stream: emutcp.SocketStream) -> None:
    """Fill the pipe until the peer's window is zero and our send buffer is full,
    so ``send_all`` must block (trio's "clogged stream")."""
    sock = stream.socket
    conn = sock._conn
    with trio.fail_after(120):
        while True:
            sock._send_nowait(b"x" * 10_000)
            if conn.send_buf.free_space() == 0 and conn.snd_wnd == 0 and conn.flight_size == 0:
                return
            assert conn.state is State.ESTABLISHED
            await sock._park()
