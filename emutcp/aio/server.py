"""``create_connection`` / ``create_server``: asyncio protocols over emutcp.

They take the arguments of ``loop.create_connection`` and
``loop.create_server`` (a protocol factory, a host and a port) plus, by
keyword, the emutcp ``Host`` to use (``emu_host``; default: this machine over
real UDP) and a ``Config``.  The connection is a ``SocketTransport``; the
server is a ``Server`` with asyncio's ``Server`` interface, whose one task
accepts connections and hands each to a new protocol.
"""

from __future__ import annotations

import asyncio
import errno
import logging
from collections.abc import Callable

from ..core.config import Config
from ..host import Host, default_host
from ..socket import SO_REUSEADDR, SOL_SOCKET, Socket
from .transport import SocketTransport

log = logging.getLogger("emutcp.aio")
ProtocolFactory = Callable[[], asyncio.BaseProtocol]


def _host(emu_host: Host | None) -> Host:
    return emu_host if emu_host is not None else default_host()


async def create_connection(
    protocol_factory: ProtocolFactory,
    host: str,
    port: int,
    *,
    emu_host: Host | None = None,
    config: Config | None = None,
) -> tuple[SocketTransport, asyncio.BaseProtocol]:
    """Connect to ``(host, port)`` and run a new protocol on the connection, as
    ``loop.create_connection`` does; errors are the same (``ConnectionRefusedError``,
    ``TimeoutError`` ...)."""
    sock = _host(emu_host).socket(config)
    try:
        await sock.connect((host, port))
    except BaseException:
        sock.close()
        raise
    loop = asyncio.get_running_loop()
    protocol = protocol_factory()
    transport = SocketTransport(loop, sock, protocol)
    # connection_made runs before we return, as with asyncio's own transports.
    await asyncio.sleep(0)
    return transport, protocol


class Server(asyncio.AbstractServer):
    """asyncio's ``Server`` over one listening emutcp socket."""

    def __init__(
        self, loop: asyncio.AbstractEventLoop, sock: Socket, protocol_factory: ProtocolFactory
    ) -> None:
        self._loop = loop
        self._listener = sock
        self._factory = protocol_factory
        self._task: asyncio.Task[None] | None = None
        self._transports: set[SocketTransport] = set()
        self._closed = loop.create_future()
        self._serving_forever: asyncio.Future[None] | None = None

    def __repr__(self) -> str:
        return f"<emutcp.aio.Server sockets={self.sockets!r}>"

    # --------------------------------------------------- the accept loop

    async def _accept_loop(self) -> None:
        while True:
            try:
                sock, _ = await self._listener.accept()
            except OSError as exc:
                if exc.errno == errno.EBADF or self._listener.closed:
                    return  # close() stopped the listener
                log.warning("emutcp.aio: accept failed: %s", exc)
                continue
            try:
                protocol = self._factory()
            except Exception:
                log.exception("emutcp.aio: the protocol factory failed")
                sock.close()
                continue
            SocketTransport(self._loop, sock, protocol, server=self)

    def attach(self, transport: SocketTransport) -> None:
        self._transports.add(transport)

    def detach(self, transport: SocketTransport) -> None:
        self._transports.discard(transport)
        self._check_closed()

    def _check_closed(self) -> None:
        if self._listener.closed and not self._transports and not self._closed.done():
            self._closed.set_result(None)

    # ------------------------------------------------ asyncio.Server API

    @property
    def sockets(self) -> tuple[Socket, ...]:
        return () if self._listener.closed else (self._listener,)

    def get_loop(self) -> asyncio.AbstractEventLoop:
        return self._loop

    def is_serving(self) -> bool:
        return self._task is not None and not self._listener.closed

    async def start_serving(self) -> None:
        if self._listener.closed:
            raise RuntimeError(f"server {self!r} is closed")
        if self._task is None:
            self._task = self._loop.create_task(self._accept_loop(), name="emutcp-aio-accept")
        await asyncio.sleep(0)

    async def serve_forever(self) -> None:
        if self._serving_forever is not None:
            raise RuntimeError(f"server {self!r} is already being awaited on serve_forever()")
        await self.start_serving()
        self._serving_forever = self._loop.create_future()
        try:
            await self._serving_forever
        except asyncio.CancelledError:
            try:
                self.close()
                await self.wait_closed()
            finally:
                raise
        finally:
            self._serving_forever = None

    def close(self) -> None:
        """Stop listening; connections already accepted go on (as asyncio)."""
        if self._listener.closed:
            return
        self._listener.close()
        if self._task is not None:
            self._task.cancel()
        if self._serving_forever is not None and not self._serving_forever.done():
            self._serving_forever.cancel()
        self._check_closed()

    def close_clients(self) -> None:
        for transport in list(self._transports):
            transport.close()

    def abort_clients(self) -> None:
        for transport in list(self._transports):
            transport.abort()

    async def wait_closed(self) -> None:
        """Wait until the server is closed and its connections are gone
        (Python 3.12's semantics)."""
        await asyncio.shield(self._closed)

    async def __aenter__(self) -> Server:
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.close()
        await self.wait_closed()


async def create_server(
    protocol_factory: ProtocolFactory,
    host: str | None = None,
    port: int = 0,
    *,
    emu_host: Host | None = None,
    config: Config | None = None,
    backlog: int = 128,
    reuse_address: bool = True,
    start_serving: bool = True,
) -> Server:
    """Listen on ``(host, port)`` (port 0: any free port; ``server.sockets[0].
    getsockname()`` tells which) and run a new protocol per connection, as
    ``loop.create_server`` does."""
    h = _host(emu_host)
    sock = h.socket(config)
    try:
        if reuse_address:
            sock.setsockopt(SOL_SOCKET, SO_REUSEADDR, 1)
        await sock.bind((host or h.wildcard_address, port))
        sock.listen(backlog)
    except BaseException:
        sock.close()
        raise
    server = Server(asyncio.get_running_loop(), sock, protocol_factory)
    if start_serving:
        await server.start_serving()
    return server
