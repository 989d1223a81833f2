"""Helpers for tests and benchmarks of code that uses emutcp (and of emutcp).

Everything here goes through public seams, so a test that uses it keeps
working when emutcp's insides move:

* ``two_hosts(seed, config, **link)``: an ``EmulatedNetwork`` with hosts
  ``A`` and ``B`` joined by one link; ``payload(n, seed)``: repeatable bytes.
* ``bulk_transfer``: the sha256-checked transfer runner (``emutcp.lab.bulk``).
* ``stream_pair(host, address)``: a connected client/server stream pair;
  ``connected_sockets(a, b)``: listener, client and accepted socket.
* ``clog(stream)``: fill the pipe until ``send_all`` must block.
* ``connection_of(x)`` / ``mux_of(x)``: the core objects behind a socket or
  stream, to read TCP's variables; ``inject_datagram(x, data, src)``: as if
  it arrived; ``wait_until(sock, predicate)``: re-checked on every event.
* ``pin_trio_scheduling(seed)``: make trio's run-queue order repeatable.
* ``run_virtual(fn, *args, seed=)``: ``trio.run`` under an autojumping
  ``MockClock`` with pinned scheduling.
"""

from __future__ import annotations

import random
from collections.abc import Awaitable, Callable
from typing import TypeVar

import trio
import trio.testing

from .core.config import Config
from .core.connection import Connection
from .core.mux import Mux
from .core.state import State
from .emulated import EmulatedHost, EmulatedNetwork
from .host import Host
from .lab.bulk import TransferResult, bulk_transfer
from .lab.trial import pin_trio_scheduling
from .socket import Socket
from .stream import SocketListener, SocketStream

A, B = "10.0.0.1", "10.0.0.2"
T = TypeVar("T")
Address = tuple[str, int]

__all__ = [
    "A",
    "B",
    "TransferResult",
    "bulk_transfer",
    "clog",
    "connected_sockets",
    "connection_of",
    "inject_datagram",
    "mux_of",
    "payload",
    "pin_trio_scheduling",
    "run_virtual",
    "stream_pair",
    "two_hosts",
    "wait_until",
]


def payload(n: int, seed: int = 7) -> bytes:
    """``n`` incompressible bytes, the same for the same seed."""
    return random.Random(seed).randbytes(n)


def two_hosts(
    seed: int = 0, config: Config | None = None, **link: object
) -> tuple[EmulatedNetwork, EmulatedHost, EmulatedHost]:
    """Hosts ``A`` and ``B`` on a new emulated network, joined by one link."""
    net = EmulatedNetwork(seed=seed)
    a = net.add_host(A, config=config)
    b = net.add_host(B, config=config)
    net.add_link(A, B, **link)  # type: ignore[arg-type]
    return net, a, b


def _socket(x: Socket | SocketStream | SocketListener) -> Socket:
    return x if isinstance(x, Socket) else x.socket


def connection_of(x: Socket | SocketStream) -> Connection:
    """The core connection (TCB) behind a connected socket or stream."""
    conn = _socket(x).connection
    if conn is None:
        raise ValueError(f"{x!r} has no connection")
    return conn


def mux_of(x: Socket | SocketStream | SocketListener) -> Mux:
    """The core demultiplexer of the transport socket behind ``x``."""
    endpoint = _socket(x).endpoint
    if endpoint is None:
        raise ValueError(f"{x!r} is not bound")
    return endpoint.mux


def inject_datagram(x: Socket | SocketStream | SocketListener, data: bytes, src: Address) -> None:
    """Hand ``data`` to the endpoint behind ``x`` as if it had arrived from
    ``src`` now, and send whatever the core answers."""
    endpoint = _socket(x).endpoint
    if endpoint is None:
        raise ValueError(f"{x!r} is not bound")
    endpoint.mux.receive_datagram(data, src, trio.current_time())
    endpoint.flush()


async def wait_until(x: Socket | SocketStream, predicate: Callable[[], bool]) -> None:
    """Block until ``predicate()`` holds, re-checking on every event of ``x``'s
    connection (never polling on a timer)."""
    sock = _socket(x)
    while not predicate():
        await sock.wait_for_wakeup()


async def stream_pair(
    host: Host,
    address: str,
    *,
    config: Config | None = None,
    client_host: Host | None = None,
) -> tuple[SocketStream, SocketStream]:
    """A connected (client, server) stream pair; the listener is closed."""
    listeners = await host.open_listeners(0, address=address, config=config)
    port = listeners[0].socket.getsockname()[1]
    client = await (client_host or host).open_stream(address, port, config=config)
    server = await listeners[0].accept()
    await listeners[0].aclose()
    return client, server


async def connected_sockets(a: Host, b: Host, port: int = 80) -> tuple[Socket, Socket, Socket]:
    """A listening socket on ``b``, a client socket on ``a`` and the accepted one."""
    server = b.socket()
    await server.bind((b.wildcard_address, port))
    server.listen(1)
    client = a.socket()
    await client.connect((b.wildcard_address, port))
    conn, _ = await server.accept()
    return server, client, conn


async def clog(stream: SocketStream, *, limit: float = 120) -> None:
    """Fill the pipe until the peer's window is zero and our send buffer is full,
    so ``send_all`` must block (trio's "clogged stream")."""
    sock = stream.socket
    conn = connection_of(sock)
    with trio.fail_after(limit):
        while True:
            if conn.send_buf.free_space():
                await sock.send(b"x" * 10_000)
            if conn.send_buf.free_space() == 0 and conn.snd_wnd == 0 and conn.flight_size == 0:
                return
            assert conn.state is State.ESTABLISHED
            await sock.wait_for_wakeup()


def run_virtual(fn: Callable[..., Awaitable[T]], *args: object, seed: int = 0) -> T:
    """``trio.run(fn, *args)`` in virtual time, repeatable for a given seed."""
    pin_trio_scheduling(seed)
    return trio.run(fn, *args, clock=trio.testing.MockClock(autojump_threshold=0))
