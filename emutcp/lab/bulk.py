"""The bulk transfer: the one sha256-checked "send N bytes, time it" runner.

``bulk_transfer(client_host, server_host, data)`` opens a listener on the
server host (or uses the one given), connects from the client host, sends
``data``, shuts down the write side, and waits for the server's EOF, which
the server sends only after it has read everything.  The server side hashes
what it reads as it goes.  The result carries both clocks: ``seconds`` on
trio's clock (virtual under a ``MockClock``, so an emulated run reports link
time) and ``wall_seconds`` on the wall clock (what a loopback benchmark
wants), plus the client's final ``TcpInfo``.

It runs on any host, real or emulated, and is what the demo, the benchmarks,
the fault tests and the relay tests use, so "the transfer was intact" means
the same thing everywhere.
"""

from __future__ import annotations

import contextlib
import hashlib
import time
from dataclasses import dataclass

import trio

from ..core.config import Config
from ..core.events import TcpInfo
from ..host import Host
from ..socket import SHUT_WR, Socket

Address = tuple[str, int]


@dataclass(frozen=True, slots=True)
class TransferResult:
    nbytes: int
    seconds: float  # trio's clock: virtual time under a MockClock
    wall_seconds: float
    sent_sha256: str
    received_sha256: str
    received_bytes: int
    client_info: TcpInfo
    received: bytes | None = None  # the bytes themselves, with keep=True

    @property
    def intact(self) -> bool:
        return self.received_bytes == self.nbytes and self.sent_sha256 == self.received_sha256

    @property
    def goodput_bps(self) -> float:
        """Bits per second over ``seconds`` (trio's clock)."""
        return self.nbytes * 8 / self.seconds if self.seconds > 0 else 0.0

    @property
    def wall_goodput_Bps(self) -> float:
        """Bytes per wall-clock second."""
        return self.nbytes / self.wall_seconds if self.wall_seconds > 0 else 0.0


def _default_address(host: Host) -> str:
    wildcard = host.wildcard_address
    return "127.0.0.1" if wildcard in ("0.0.0.0", "", "::") else wildcard


async def bulk_transfer(
    client_host: Host,
    server_host: Host | None,
    data: bytes,
    *,
    listener: Socket | None = None,
    address: str | None = None,
    port: int = 0,
    connect_to: Address | None = None,
    config: Config | None = None,
    keep: bool = False,
    timeout: float | None = None,
) -> TransferResult:
    """Send ``data`` from a client on ``client_host`` to a server on ``server_host``.

    ``listener``: a listening socket to accept on instead of opening one
    (``server_host`` may then be ``None``).  ``connect_to``: where the client
    connects (a relay, say) if not the listener itself.  ``keep``: return the
    received bytes too.  ``timeout``: raise ``trio.TooSlowError`` after that
    many seconds of trio's clock."""
    own_listener = listener is None
    if listener is None:
        if server_host is None:
            raise ValueError("bulk_transfer needs a server_host or a listener")
        listener = server_host.socket(config)
        try:
            await listener.bind((address or _default_address(server_host), port))
            listener.listen(1)
        except BaseException:
            listener.close()
            raise
    target = connect_to or listener.getsockname()
    digest = hashlib.sha256()
    chunks: list[bytes] = []
    received = 0

    async def sink() -> None:
        nonlocal received
        conn, _ = await listener.accept()
        while chunk := await conn.recv(1 << 20):
            digest.update(chunk)
            received += len(chunk)
            if keep:
                chunks.append(chunk)
        conn.close()

    with trio.fail_after(timeout) if timeout is not None else contextlib.nullcontext():
        async with trio.open_nursery() as nursery:
            nursery.start_soon(sink)
            client = client_host.socket(config)
            try:
                await client.connect(target)
                t0, wall0 = trio.current_time(), time.perf_counter()
                await client.sendall(data)
                client.shutdown(SHUT_WR)
                await client.recv(1)  # the server's EOF: it has read everything
                seconds = trio.current_time() - t0
                wall_seconds = time.perf_counter() - wall0
                info = client.info()
            finally:
                client.close()
    if own_listener:
        listener.close()
    return TransferResult(
        nbytes=len(data),
        seconds=seconds,
        wall_seconds=wall_seconds,
        sent_sha256=hashlib.sha256(data).hexdigest(),
        received_sha256=digest.hexdigest(),
        received_bytes=received,
        client_info=info,
        received=b"".join(chunks) if keep else None,
    )
