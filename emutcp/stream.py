"""trio stream interfaces over emutcp sockets.

``SocketStream`` is a ``trio.abc.HalfCloseableStream`` and ``SocketListener``
a ``trio.abc.Listener``, so everything built on trio streams (``SSLStream``,
``serve_listeners``, h11 servers) runs over emutcp unchanged.  As in
``trio.SocketStream``, socket errors are translated in one place,
``_translate_errors``: a use after ``aclose`` is ``ClosedResourceError``,
anything the network did to us (reset, timeout, refused) is
``BrokenResourceError`` with the ``OSError`` as its ``__cause__``.
"""

from __future__ import annotations

import errno
import operator
from collections.abc import Iterator
from contextlib import contextmanager

import trio

from .socket import SHUT_WR, Socket

_DEFAULT_RECEIVE_SIZE = 65_536


@contextmanager
def _translate_errors(sock: Socket, what: str) -> Iterator[None]:
    if sock.closed:
        raise trio.ClosedResourceError(f"{what}: this stream was closed")
    try:
        yield
    except OSError as exc:
        if sock.closed or exc.errno == errno.EBADF:
            raise trio.ClosedResourceError(f"{what}: this stream was closed") from None
        raise trio.BrokenResourceError(f"{what}: {exc}") from exc


class _Guard:
    """Raise ``BusyResourceError`` when two tasks use one direction at once."""

    def __init__(self, message: str) -> None:
        self._held = False
        self._message = message

    def __enter__(self) -> None:
        if self._held:
            raise trio.BusyResourceError(self._message)
        self._held = True

    def __exit__(self, *exc: object) -> None:
        self._held = False


class SocketStream(trio.abc.HalfCloseableStream):
    def __init__(self, socket: Socket) -> None:
        self.socket = socket
        self._send_guard = _Guard("another task is already sending on this stream")
        self._receive_guard = _Guard("another task is already receiving on this stream")

    async def send_all(self, data: bytes | bytearray | memoryview) -> None:
        with self._send_guard:
            if self.socket.did_shutdown_SHUT_WR and not self.socket.closed:
                await trio.lowlevel.checkpoint()
                raise trio.ClosedResourceError("send_all: send_eof() was called")
            with _translate_errors(self.socket, "send_all"):
                await self.socket.sendall(data)

    async def wait_send_all_might_not_block(self) -> None:
        with self._send_guard, _translate_errors(self.socket, "wait_send_all_might_not_block"):
            await self.socket.wait_send_space()

    async def send_eof(self) -> None:
        with self._send_guard:
            await trio.lowlevel.checkpoint()
            if self.socket.did_shutdown_SHUT_WR:
                return
            with _translate_errors(self.socket, "send_eof"):
                self.socket.shutdown(SHUT_WR)

    async def receive_some(self, max_bytes: int | None = None) -> bytes:
        if max_bytes is None:
            max_bytes = _DEFAULT_RECEIVE_SIZE
        max_bytes = operator.index(max_bytes)
        if max_bytes < 1:
            raise ValueError("max_bytes must be >= 1")
        with self._receive_guard, _translate_errors(self.socket, "receive_some"):
            return await self.socket.recv(max_bytes)

    async def aclose(self) -> None:
        self.socket.close()
        await trio.lowlevel.checkpoint()

    async def wait_closed(self) -> None:
        """Let the graceful close (FIN exchange) finish after ``aclose``."""
        await self.socket.wait_closed()

    def setsockopt(self, level: int, option: int, value: int | bytes | str) -> None:
        self.socket.setsockopt(level, option, value)

    def getsockopt(self, level: int, option: int) -> int | bytes:
        return self.socket.getsockopt(level, option)


class SocketListener(trio.abc.Listener[SocketStream]):
    def __init__(self, socket: Socket) -> None:
        if not socket.is_listening:
            raise ValueError("SocketListener needs a listening socket")
        self.socket = socket

    async def accept(self) -> SocketStream:
        with _translate_errors(self.socket, "accept"):
            sock, _ = await self.socket.accept()
        return SocketStream(sock)

    async def aclose(self) -> None:
        self.socket.close()
        await trio.lowlevel.checkpoint()
