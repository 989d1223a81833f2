"""Helpers for transfers over an emulated network (virtual time)."""

from __future__ import annotations

import hashlib
import random
from dataclasses import dataclass

import trio

import emutcp

A, B = "10.0.0.1", "10.0.0.2"


def payload(n: int, seed: int = 7) -> bytes:
    return random.Random(seed).randbytes(n)


def two_hosts(seed: int = 0, config: emutcp.Config | None = None, **link):
    net = emutcp.EmulatedNetwork(seed=seed)
    a = net.add_host(A, config=config)
    b = net.add_host(B, config=config)
    net.add_link(A, B, **link)
    return net, a, b


@dataclass
class Result:
    sent: bytes
    received: bytes
    seconds: float
    client_info: emutcp.TcpInfo

    @property
    def intact(self) -> bool:
        return hashlib.sha256(self.sent).digest() == hashlib.sha256(self.received).digest()


async def transfer(a, b, data: bytes, *, port: int = 80) -> Result:
    """Client on ``a`` sends ``data`` to a server on ``b``; returns what arrived."""
    listeners = await b.open_listeners(port)
    chunks: list[bytes] = []

    async def sink(task_status=trio.TASK_STATUS_IGNORED):
        task_status.started()
        stream = await listeners[0].accept()
        while chunk := await stream.receive_some(1 << 20):
            chunks.append(chunk)
        await stream.aclose()

    async with trio.open_nursery() as nursery:
        await nursery.start(sink)
        t0 = trio.current_time()
        stream = await a.open_stream(b.address, port)
        await stream.send_all(data)
        await stream.send_eof()
        assert await stream.receive_some(1) == b""
        seconds = trio.current_time() - t0
        info = stream.socket.info()
        await stream.aclose()
    await listeners[0].aclose()
    return Result(data, b"".join(chunks), seconds, info)


async def connected_sockets(a, b, port: int = 80):
    """A listening socket on ``b``, a client socket on ``a`` and the accepted one."""
    server = b.socket()
    await server.bind((b.address, port))
    server.listen(1)
    client = a.socket()
    await client.connect((b.address, port))
    conn, _ = await server.accept()
    return server, client, conn
