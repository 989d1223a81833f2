"""``open_connection`` / ``start_server``: asyncio streams over emutcp.

The reader and writer are asyncio's own ``StreamReader`` and ``StreamWriter``
on a ``SocketTransport``, built exactly as ``asyncio.open_connection`` builds
them, so ``readexactly``'s ``IncompleteReadError``, ``readuntil``'s
``LimitOverrunError``, ``drain``'s flow control and ``wait_closed`` behave as
with kernel TCP.  ``writer.get_extra_info("socket")`` is the emutcp
``Socket`` (its ``state``, ``transitions``, ``info()``).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

from ..core.config import Config
from ..host import Host
from .server import Server, create_connection, create_server

_LIMIT = 2**16  # asyncio's default StreamReader limit

ClientConnected = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None] | None]


async def open_connection(
    host: str,
    port: int,
    *,
    emu_host: Host | None = None,
    config: Config | None = None,
    limit: int = _LIMIT,
) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    """Connect to ``(host, port)``: ``(reader, writer)``, as ``asyncio.open_connection``."""
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader(limit=limit, loop=loop)
    protocol = asyncio.StreamReaderProtocol(reader, loop=loop)
    transport, _ = await create_connection(
        lambda: protocol, host, port, emu_host=emu_host, config=config
    )
    writer = asyncio.StreamWriter(transport, protocol, reader, loop)
    return reader, writer


async def start_server(
    client_connected_cb: ClientConnected,
    host: str | None = None,
    port: int = 0,
    *,
    emu_host: Host | None = None,
    config: Config | None = None,
    limit: int = _LIMIT,
    backlog: int = 128,
    start_serving: bool = True,
) -> Server:
    """Serve ``client_connected_cb(reader, writer)`` on ``(host, port)``, as
    ``asyncio.start_server``."""
    loop = asyncio.get_running_loop()

    def factory() -> asyncio.StreamReaderProtocol:
        reader = asyncio.StreamReader(limit=limit, loop=loop)
        return asyncio.StreamReaderProtocol(reader, client_connected_cb, loop=loop)

    return await create_server(
        factory,
        host,
        port,
        emu_host=emu_host,
        config=config,
        backlog=backlog,
        start_serving=start_serving,
    )
