"""An ``asyncio.Transport`` over one connected emutcp socket.

Theory of operation
-------------------
asyncio libraries built on protocols (aiohttp, asyncpg, asyncio's own
streams) talk to an ``asyncio.Transport`` and receive callbacks on an
``asyncio.Protocol``.  ``SocketTransport`` is that transport for an emutcp
``Socket``, run the way asyncio's selector transports run: on callbacks, with
no task per connection.

The socket's endpoint calls ``wake(events)`` when the core reports news for
the connection; the transport's wake callback only schedules ``_service`` on
the loop (at most once at a time), because the endpoint is mid-work then.
``_service`` moves what it can: readable bytes to ``data_received`` (or a
``BufferedProtocol``'s buffer), end of stream to ``eof_received``, the
transport's write buffer into the TCP send buffer, and errors to
``connection_lost(exc)``.

Flow control: ``write`` hands bytes straight to the TCP send buffer and keeps
only what does not fit; above the high-water mark the protocol's
``pause_writing`` is called, below the low-water mark ``resume_writing``, as
asyncio's transports do (the TCP send buffer plays the kernel's part).
``pause_reading`` stops reading, so the receive window closes and the peer
stops: the back-pressure a kernel socket gives.
"""

from __future__ import annotations

import asyncio
import errno
from collections.abc import Collection
from typing import Any

from ..core.events import Event
from ..socket import SHUT_WR, SO_LINGER, SOL_SOCKET, Socket

_READ_SIZE = 65_536
_HIGH_WATER = 64 * 1024


class SocketTransport(asyncio.Transport):
    """``asyncio.Transport`` for a connected emutcp ``Socket``."""

    def __init__(
        self,
        loop: asyncio.AbstractEventLoop,
        sock: Socket,
        protocol: asyncio.BaseProtocol,
        *,
        server: Any = None,
    ) -> None:
        super().__init__()
        self._loop = loop
        self._sock = sock
        self._protocol = protocol
        self._server = server
        self._buffer = bytearray()
        self._closing = False  # close() called: no more reads, flush then close
        self._lost = False  # connection_lost has been scheduled
        self._eof_wanted = False  # write_eof() called
        self._eof_sent = False
        self._eof_received = False
        self._paused_reading = False
        self._protocol_paused = False
        self._scheduled = False
        self._high, self._low = _HIGH_WATER, _HIGH_WATER // 4
        self._info: dict[str, Any] = {
            "socket": sock,  # the emutcp Socket: state, transitions, info()
            "peername": sock.getpeername(),
            "sockname": sock.getsockname(),
        }
        if server is not None:
            server.attach(self)
        sock.set_wake_callback(self._woken)
        loop.call_soon(self._start)

    def __repr__(self) -> str:
        return f"<emutcp.aio.SocketTransport {self._sock.state} peer={self._info['peername']}>"

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return self._info.get(name, default)

    def _start(self) -> None:
        self._protocol.connection_made(self)
        self._service()

    # --------------------------------------------------------- the engine

    def _woken(self, events: Collection[Event] | None) -> None:
        if not self._scheduled and not self._lost:
            self._scheduled = True
            self._loop.call_soon(self._service)

    def _service(self) -> None:
        self._scheduled = False
        if self._lost:
            return
        try:
            self._flush_buffer()
            if not self._closing and not self._paused_reading:
                self._read()
        except OSError as exc:
            self._fatal(exc)
            return
        if self._closing and not self._buffer and not self._lost:
            self._finish_close(None)

    def _read(self) -> None:
        sock, protocol = self._sock, self._protocol
        while not self._paused_reading and not self._closing and not self._eof_received:
            data = sock.recv_nowait(_READ_SIZE)
            if data is None:
                return
            if not data:
                self._eof_received = True
                keep_open = protocol.eof_received()  # type: ignore[attr-defined]
                if not keep_open:
                    self.close()
                return
            if isinstance(protocol, asyncio.BufferedProtocol):
                view = memoryview(data)
                while view:
                    buf = memoryview(protocol.get_buffer(len(view))).cast("B")
                    n = min(len(buf), len(view))
                    buf[:n] = view[:n]
                    protocol.buffer_updated(n)
                    view = view[n:]
            else:
                protocol.data_received(data)  # type: ignore[attr-defined]

    def _flush_buffer(self) -> None:
        buf = self._buffer
        if buf:
            with memoryview(buf) as view:  # released even if send raises
                n = self._sock.send_nowait(view)
            if n:
                del buf[:n]
                self._maybe_resume_protocol()
        if not buf and self._eof_wanted and not self._eof_sent:
            self._eof_sent = True
            self._sock.shutdown(SHUT_WR)

    # ------------------------------------------------------------- writing

    def write(self, data: bytes | bytearray | memoryview) -> None:
        if not isinstance(data, bytes | bytearray | memoryview):
            raise TypeError(f"data argument must be a bytes-like object, not {type(data).__name__}")
        if self._eof_wanted:
            raise RuntimeError("Cannot call write() after write_eof()")
        if not data:
            return
        if self._lost or self._closing:
            return  # asyncio ignores writes after close (and logs after a loss)
        if not self._buffer:
            try:
                n = self._sock.send_nowait(data)
            except OSError as exc:
                self._fatal(exc)
                return
            if n == len(data):
                return
            data = memoryview(data)[n:]
        self._buffer += data
        self._maybe_pause_protocol()

    def writelines(self, list_of_data: Any) -> None:
        for data in list_of_data:
            self.write(data)

    def write_eof(self) -> None:
        if self._eof_wanted or self._closing:
            return
        self._eof_wanted = True
        if not self._buffer:
            try:
                self._flush_buffer()
            except OSError as exc:
                self._fatal(exc)

    def can_write_eof(self) -> bool:
        return True

    def get_write_buffer_size(self) -> int:
        return len(self._buffer)

    def get_write_buffer_limits(self) -> tuple[int, int]:
        return self._low, self._high

    def set_write_buffer_limits(self, high: int | None = None, low: int | None = None) -> None:
        if high is None:
            high = _HIGH_WATER if low is None else 4 * low
        if low is None:
            low = high // 4
        if not high >= low >= 0:
            raise ValueError(f"high ({high!r}) must be >= low ({low!r}) must be >= 0")
        self._high, self._low = high, low
        self._maybe_pause_protocol()

    def _maybe_pause_protocol(self) -> None:
        if len(self._buffer) > self._high and not self._protocol_paused:
            self._protocol_paused = True
            self._call_protocol("pause_writing")

    def _maybe_resume_protocol(self) -> None:
        if self._protocol_paused and len(self._buffer) <= self._low:
            self._protocol_paused = False
            self._call_protocol("resume_writing")

    def _call_protocol(self, name: str) -> None:
        try:
            getattr(self._protocol, name)()
        except Exception as exc:  # as asyncio: report, never break the transport
            self._loop.call_exception_handler(
                {
                    "message": f"protocol.{name}() failed",
                    "exception": exc,
                    "transport": self,
                    "protocol": self._protocol,
                }
            )

    # ------------------------------------------------------------- reading

    def is_reading(self) -> bool:
        return not self._paused_reading and not self._closing

    def pause_reading(self) -> None:
        self._paused_reading = True

    def resume_reading(self) -> None:
        if self._paused_reading:
            self._paused_reading = False
            self._woken(None)

    # ------------------------------------------------------------- closing

    def is_closing(self) -> bool:
        return self._closing or self._lost

    def close(self) -> None:
        """Flush the write buffer, then close (FIN); ``connection_lost(None)`` follows."""
        if self._closing or self._lost:
            return
        self._closing = True
        if not self._buffer:
            self._finish_close(None)

    def abort(self) -> None:
        """Close at once: the buffer is dropped and the peer gets a RST."""
        if self._lost:
            return
        self._buffer.clear()
        self._closing = True
        if not self._sock.closed:
            self._sock.setsockopt(SOL_SOCKET, SO_LINGER, (1, 0))
        self._finish_close(None)

    def _fatal(self, exc: Exception) -> None:
        if isinstance(exc, OSError) and exc.errno == errno.EBADF:
            exc = ConnectionAbortedError(errno.ECONNABORTED, "the socket was closed")
        self._buffer.clear()
        self._closing = True
        self._finish_close(exc)

    def _finish_close(self, exc: Exception | None) -> None:
        self._lost = True
        self._sock.set_wake_callback(None)
        self._sock.close()
        self._loop.call_soon(self._connection_lost, exc)

    def _connection_lost(self, exc: Exception | None) -> None:
        try:
            self._protocol.connection_lost(exc)
        finally:
            if self._server is not None:
                self._server.detach(self)
                self._server = None

    # ---------------------------------------------------------- protocol

    def set_protocol(self, protocol: asyncio.BaseProtocol) -> None:
        self._protocol = protocol

    def get_protocol(self) -> asyncio.BaseProtocol:
        return self._protocol
