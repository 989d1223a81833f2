"""``emutcp.socket()``: the socket calls of the seed lab, mirroring ``trio.socket``.

Same names and the same sync/async split as ``trio.socket``: ``bind``,
``connect``, ``accept``, ``send``, ``sendall``, ``recv`` are async; ``listen``,
``shutdown``, ``close``, ``getsockname``, ``setsockopt`` are sync.  Every
async call is a trio checkpoint.  The same class serves asyncio
(``emutcp.aio.socket()``): a socket waits through the primitives of the loop
it runs on (``transport/runtime.py``); under asyncio a call that need not
block does not yield, as asyncio's own calls.

A socket is a thin handle: it owns an endpoint reference (the transport socket
and its mux) and either a listener or one connection.  Blocking calls park on
the socket's parking lots; the socket ``attach``es its connection (or
listener) to the endpoint, which calls ``wake()`` whenever the core reports an
event for it; the call then re-checks its condition.  It reaches its host only
through the host's public seam (``resolve``, ``bind_endpoint``,
``endpoint_for_connect``).

Errors are the standard ones, as Python's own sockets raise them: ``ConnectionRefusedError``,
``ConnectionResetError``, ``TimeoutError``, ``BrokenPipeError`` after
``shutdown(SHUT_WR)``, ``OSError(EADDRINUSE)``, ``OSError(EBADF)`` after
``close()``, and an ``OSError`` naming the state for calls in the wrong state.
"""

from __future__ import annotations

import contextlib
import errno
import operator
import socket as _std
import struct
import warnings
from collections.abc import Callable, Collection
from typing import TYPE_CHECKING, Any

from .core.config import Config
from .core.connection import Connection
from .core.events import Event, TcpInfo, Transition
from .core.segment import segment_overhead
from .core.state import State
from .transport import runtime

Address = tuple[str, int]
Buffer = bytes | bytearray | memoryview

if TYPE_CHECKING:
    from .endpoint import Endpoint
    from .host import Host

SHUT_RD, SHUT_WR, SHUT_RDWR = _std.SHUT_RD, _std.SHUT_WR, _std.SHUT_RDWR
SOL_SOCKET, IPPROTO_TCP = _std.SOL_SOCKET, _std.IPPROTO_TCP
SO_SNDBUF, SO_RCVBUF, SO_REUSEADDR, SO_LINGER = (
    _std.SO_SNDBUF,
    _std.SO_RCVBUF,
    _std.SO_REUSEADDR,
    _std.SO_LINGER,
)
TCP_NODELAY = _std.TCP_NODELAY
TCP_CONGESTION = getattr(_std, "TCP_CONGESTION", 13)
TCP_MAXSEG = _std.TCP_MAXSEG
TCP_USER_TIMEOUT = getattr(_std, "TCP_USER_TIMEOUT", 18)
SO_KEEPALIVE = _std.SO_KEEPALIVE
TCP_KEEPIDLE = getattr(_std, "TCP_KEEPIDLE", 4)
TCP_KEEPINTVL = getattr(_std, "TCP_KEEPINTVL", 5)
TCP_KEEPCNT = getattr(_std, "TCP_KEEPCNT", 6)

_CONNECTING = (State.SYN_SENT, State.SYN_RCVD)


# Which core events can unblock which calls (Event.STATE and ESTABLISHED
# concern only calls parked on the general lot: connect, accept, wait_closed).
_READER_EVENTS = frozenset({Event.READABLE, Event.EOF, Event.RESET, Event.TIMED_OUT, Event.CLOSED})
_WRITER_EVENTS = frozenset({Event.WRITABLE, Event.RESET, Event.TIMED_OUT, Event.CLOSED})


def _number(value: object) -> float:
    """An option's numeric value; anything else is the ``TypeError`` Python's
    own ``setsockopt`` raises."""
    if isinstance(value, int | float):
        return value
    raise TypeError(f"an integer is required for this option, not {type(value).__name__}")


MIN_MSS = 48  # the smallest MSS a path can impose (Linux: tcp_min_snd_mss)


def _linger_value(value: object) -> tuple[int, int]:
    """SO_LINGER's ``struct linger`` (``struct.pack("ii", onoff, seconds)``, or the
    pair itself); anything malformed is ``OSError(EINVAL)``, as the kernel says."""
    try:
        if isinstance(value, bytes | bytearray | memoryview):
            onoff, seconds = struct.unpack("ii", value)
        elif isinstance(value, tuple) and all(isinstance(v, int) for v in value):
            onoff, seconds = value
        else:
            raise ValueError
    except (struct.error, ValueError):
        raise OSError(errno.EINVAL, f"SO_LINGER: not a struct linger: {value!r}") from None
    if seconds < 0:
        raise OSError(errno.EINVAL, "SO_LINGER: seconds must be >= 0")
    return int(onoff), int(seconds)


def _byte_view(data: Buffer) -> memoryview:
    """``data`` as a flat view of bytes: ``send`` counts bytes, not items (an
    ``array('i')`` of 2 items is 8 bytes, as for Python's own sockets)."""
    view = memoryview(data)
    return view if view.format == "B" and view.ndim == 1 else view.cast("B")


def _close_tcbs(
    endpoint: Endpoint, conn: Connection | None, listener: Any, linger: int | None
) -> None:
    """What ``close()`` does to the core: stop listening, close the connection
    (FIN after queued data; RST with unread data or ``SO_LINGER`` 0), send what
    that produces, and give the endpoint back."""
    if endpoint.closed:
        return
    now = endpoint.runtime.current_time()
    if listener is not None:
        endpoint.mux.close_listener(now)
    if conn is not None and conn.state is not State.CLOSED:
        if linger == 0:
            conn.abort(now, "close with SO_LINGER 0: sent RST")
        else:
            conn.close(now)
        endpoint.mux.touch(conn)
    endpoint.flush(now)
    for tcb in (conn, listener):
        if tcb is not None:
            endpoint.detach(tcb)
    endpoint.release()


def _copy_error(err: OSError) -> OSError:
    """A fresh exception of the same type each time it is raised to a user."""
    return type(err)(err.errno, err.strerror)


class Socket:
    def __init__(self, host: Host, config: Config | None = None) -> None:
        self.host = host
        self.config = config or host.config
        if self.config.plpmtud is None:  # the host knows whether its paths are real
            self.config = self.config.replace(plpmtud=host.probes_path_mtu)
        self.family = _std.AF_INET
        self.type = _std.SOCK_STREAM
        self._endpoint: Endpoint | None = None
        self._conn: Connection | None = None
        self._listener: Any = None
        # Blocked calls park by what they wait for, so an event wakes only the
        # calls it can help: readers (data, EOF, errors), writers (buffer
        # space, errors), and everything else (state changes, accept).  The
        # lots belong to the loop (trio or asyncio) the socket is first used in.
        self._rt: runtime.Runtime | None = None
        self._lot: runtime.Lot
        self._readers: runtime.Lot
        self._writers: runtime.Lot
        with contextlib.suppress(RuntimeError):  # made outside a run: first use picks
            self._runtime()
        self._closed = False
        self._shut_wr = False
        self._shut_rd = False
        self._reuseaddr = False
        self._linger: int | None = None
        self._on_wake: Callable[[Collection[Event] | None], None] | None = None
        self._parked_calls = 0  # calls parked on the lots now (_wait_on)

    def __repr__(self) -> str:
        return f"<emutcp.Socket {self.state} local={self._local()} peer={self._peer()}>"

    # -------------------------------------------------------------- plumbing

    def _runtime(self) -> runtime.Runtime:
        rt = self._rt
        if rt is None:
            rt = self._rt = runtime.current()
            self._lot, self._readers, self._writers = rt.Lot(), rt.Lot(), rt.Lot()
        return rt

    def wake(self, events: Collection[Event] | None = None) -> None:
        """Called by the endpoint when the core reports ``events`` for this
        socket's connection or listener (``None``: anything may have changed):
        the blocked calls those events concern re-check their condition."""
        if self._on_wake is not None:
            self._on_wake(events)
        reader_news = events is None or not _READER_EVENTS.isdisjoint(events)
        if reader_news:
            endpoint = self._endpoint
            if endpoint is not None and endpoint.waiting_reader is self:
                endpoint.interrupt_reader(self)  # it waits on the transport itself
        if not self._parked_calls:
            return  # this runs for every segment with news; most find no one parked
        if self._writers and (events is None or not _WRITER_EVENTS.isdisjoint(events)):
            self._writers.unpark_all()
        if reader_news and self._readers:
            self._readers.unpark_all()
        if self._lot:
            self._lot.unpark_all()

    def set_wake_callback(
        self, callback: Callable[[Collection[Event] | None], None] | None
    ) -> None:
        """Also call ``callback(events)`` on every ``wake()``: for drivers that run
        on callbacks rather than blocked calls (the asyncio ``Transport``).  It
        runs inside the endpoint's work: schedule, do not act, from it."""
        self._on_wake = callback

    async def wait_for_wakeup(self) -> None:
        """Block until the next ``wake()`` (any event on this socket's connection):
        for tools and tests that watch a connection without reading from it."""
        self._runtime()
        await self._wait_on(self._lot)

    def _now(self) -> float:
        endpoint = self._endpoint
        if endpoint is not None:
            return endpoint.clock()
        rt = self._rt
        return (rt if rt is not None else self._runtime()).current_time()

    def _config_for_path(self, endpoint: Endpoint, remote: Address) -> Config:
        """The config with the MSS lowered to what the path carries whole (RFC
        9293 3.7.1: the MSS we announce and send is at most the path's MTU less
        headers), so no segment is fragmented or refused for its size."""
        limit = endpoint.transport.max_datagram(remote)
        if limit is None:
            return self.config
        mss = max(MIN_MSS, limit - segment_overhead())
        return self.config.replace(mss=mss) if mss < self.config.mss else self.config

    def _use_endpoint(self, endpoint: Endpoint) -> None:
        """Use ``endpoint``, whose user count already includes this socket."""
        self._endpoint = endpoint

    def _adopt(self, conn: Connection) -> None:
        """Make ``conn`` this socket's connection and have the endpoint wake us."""
        assert self._endpoint is not None
        self._conn = conn
        self._endpoint.attach(conn, self)

    def _flush(self, conn: Connection | None = None) -> None:
        if self._endpoint is not None:
            if conn is not None:
                self._endpoint.mux.touch(conn)
            self._endpoint.flush()

    def _check_open(self, call: str) -> None:
        if self._closed:
            raise OSError(errno.EBADF, f"{call}: socket is closed")

    def _connection(self, call: str) -> Connection:
        if self._closed:  # (_check_open, inlined: every send and recv asks)
            raise OSError(errno.EBADF, f"{call}: socket is closed")
        if self._conn is None:
            raise OSError(errno.ENOTCONN, f"{call}: socket is not connected (state {self.state})")
        return self._conn

    async def _park(self) -> None:
        await self._wait_on(self._lot)

    async def _wait_on(self, lot: runtime.Lot) -> None:
        """Park on ``lot`` until ``wake()``.  The endpoint hears of it: while a
        call is parked, its task serves arrivals (endpoint.py, "hand-back")."""
        endpoint = self._endpoint
        self._parked_calls += 1
        try:
            if endpoint is None:
                await lot.park()
                return
            endpoint.parking()
            try:
                await lot.park()
            finally:
                endpoint.unparked()
        finally:
            self._parked_calls -= 1

    def _local(self) -> Address | None:
        return self._endpoint.local if self._endpoint is not None else None

    def _peer(self) -> Address | None:
        return self._conn.remote if self._conn is not None else None

    # ------------------------------------------------------------ properties

    @property
    def state(self) -> State:
        if self._conn is not None:
            return self._conn.state
        if self._listener is not None:
            return self._listener.state
        return State.CLOSED

    @property
    def transitions(self) -> list[Transition]:
        """Every state change, oldest first (an accepted one starts at LISTEN -> SYN-RECEIVED)."""
        if self._conn is not None:
            return list(self._conn.transitions)
        if self._listener is not None:
            return list(self._listener.transitions)
        return []

    @property
    def did_shutdown_SHUT_WR(self) -> bool:
        """``shutdown(SHUT_WR)`` was called (the name ``trio.socket`` uses)."""
        return self._shut_wr

    @property
    def closed(self) -> bool:
        """``close()`` was called."""
        return self._closed

    @property
    def is_listening(self) -> bool:
        return self._listener is not None

    @property
    def endpoint(self) -> Endpoint | None:
        """The endpoint (transport socket and its mux) this socket uses, once bound."""
        return self._endpoint

    @property
    def connection(self) -> Connection | None:
        """The core's connection (the TCB) behind this socket, read-only by
        convention: for tools and tests that inspect TCP's variables."""
        return self._conn

    def rtt_samples(self) -> list[float]:
        """The connection's recent RTT samples in seconds, oldest first."""
        return list(self._conn.rtt.recent) if self._conn is not None else []

    def info(self) -> TcpInfo:
        if self._conn is not None:
            return self._conn.info()
        return TcpInfo(
            state=self.state,
            local=self._local(),
            mss=self.config.mss,
            rto=self.config.initial_rto,
            recv_queue=len(self._listener.accept_queue) if self._listener else 0,
        )

    def history(self) -> list[tuple[float, int, int, float | None]]:
        """(time, cwnd, ssthresh, srtt) samples, oldest first, for plots."""
        return list(self._conn.history) if self._conn is not None else []

    def getsockname(self) -> tuple[str, int]:
        self._check_open("getsockname")
        return self._local() or ("0.0.0.0", 0)

    def getpeername(self) -> tuple[str, int]:
        conn = self._connection("getpeername")
        return conn.remote

    def fileno(self) -> int:
        return -1

    # ------------------------------------------------------------- options

    def setsockopt(
        self, level: int, option: int, value: int | bytes | str | tuple[int, int]
    ) -> None:
        self._check_open("setsockopt")
        changes: dict = {}
        if level == IPPROTO_TCP and option == TCP_NODELAY:
            changes["nodelay"] = bool(value)
        elif level == IPPROTO_TCP and option == TCP_CONGESTION:
            name = value.decode() if isinstance(value, bytes | bytearray) else str(value)
            from .core.algorithms import CONTROLLERS

            if name.rstrip("\0") not in CONTROLLERS:
                known = ", ".join(sorted(CONTROLLERS))
                raise OSError(errno.ENOENT, f"unknown congestion control {name!r} (known: {known})")
            if self._conn is not None:
                raise OSError(errno.EISCONN, "TCP_CONGESTION must be set before connecting")
            changes["congestion"] = name.rstrip("\0")
        elif level == IPPROTO_TCP and option == TCP_MAXSEG:
            changes["mss"] = int(_number(value))
        elif level == IPPROTO_TCP and option == TCP_USER_TIMEOUT:
            millis = int(_number(value))  # milliseconds, as Linux
            if millis < 0:
                raise OSError(errno.EINVAL, "TCP_USER_TIMEOUT must be >= 0 milliseconds")
            changes["user_timeout"] = millis / 1000 or None
        elif level == SOL_SOCKET and option == SO_SNDBUF:
            changes["send_buffer"] = int(_number(value))
            changes["autotune_send"] = False  # as Linux: an explicit size stays
            if self._conn is not None:
                self._conn.send_buf.capacity = int(_number(value))
        elif level == SOL_SOCKET and option == SO_RCVBUF:
            changes["recv_buffer"] = int(_number(value))
            changes["autotune_recv"] = False
            if self._conn is not None:
                # As Linux, at any time: tuning stops and the window follows the
                # new size as data is read; the right edge already advertised is
                # never withdrawn (RFC 9293 3.8.6.2.1), and the window scale
                # stays what the SYN fixed.
                self._conn.recv_buf.capacity = int(_number(value))
                self._conn.rcv_tune.ceiling = 0
        elif level == SOL_SOCKET and option == SO_KEEPALIVE:
            changes["keepalive"] = bool(value)
        elif level == IPPROTO_TCP and option == TCP_KEEPIDLE:
            changes["keepalive_idle"] = _number(value)
        elif level == IPPROTO_TCP and option == TCP_KEEPINTVL:
            changes["keepalive_interval"] = _number(value)
        elif level == IPPROTO_TCP and option == TCP_KEEPCNT:
            changes["keepalive_count"] = int(_number(value))
        elif level == SOL_SOCKET and option == SO_REUSEADDR:
            self._reuseaddr = bool(value)
        elif level == SOL_SOCKET and option == SO_LINGER:
            onoff, seconds = _linger_value(value)
            self._linger = seconds if onoff else None
        else:
            raise OSError(errno.ENOPROTOOPT, f"unsupported socket option ({level}, {option})")
        if changes:
            self.config = self.config.replace(**changes)
            if self._conn is not None:
                self._conn.config = self._conn.config.replace(**changes)
                if "keepalive" in changes:
                    self._conn.arm_keepalive(self._now())
                    self._flush(self._conn)

    def getsockopt(self, level: int, option: int) -> int | bytes:
        self._check_open("getsockopt")
        c = self._conn.config if self._conn is not None else self.config
        table: dict[tuple[int, int], int | bytes] = {
            (IPPROTO_TCP, TCP_NODELAY): int(c.nodelay),
            (IPPROTO_TCP, TCP_CONGESTION): c.congestion.encode(),
            (IPPROTO_TCP, TCP_MAXSEG): self._conn.snd_mss if self._conn else c.mss,
            (IPPROTO_TCP, TCP_USER_TIMEOUT): int((c.user_timeout or 0) * 1000),
            (SOL_SOCKET, SO_SNDBUF): c.send_buffer,
            (SOL_SOCKET, SO_RCVBUF): c.recv_buffer,
            (SOL_SOCKET, SO_KEEPALIVE): int(c.keepalive),
            (IPPROTO_TCP, TCP_KEEPIDLE): int(c.keepalive_idle),
            (IPPROTO_TCP, TCP_KEEPINTVL): int(c.keepalive_interval),
            (IPPROTO_TCP, TCP_KEEPCNT): c.keepalive_count,
            (SOL_SOCKET, SO_REUSEADDR): int(self._reuseaddr),
            (SOL_SOCKET, SO_LINGER): struct.pack("ii", self._linger is not None, self._linger or 0),
        }
        try:
            return table[(level, option)]
        except KeyError:
            raise OSError(
                errno.ENOPROTOOPT, f"unsupported socket option ({level}, {option})"
            ) from None

    # ------------------------------------------------------- socket calls

    async def bind(self, address: tuple[str, int]) -> None:
        """Bind to ``(address, port)``: on a real host, UDP port ``port``."""
        await self._runtime().checkpoint()
        self._check_open("bind")
        if self._endpoint is not None:
            raise OSError(errno.EINVAL, f"bind: socket already bound to {self._local()}")
        local = await self.host.resolve(address)
        self._use_endpoint(self.host.bind_endpoint(local, self.config, reuse=self._reuseaddr))

    def listen(self, backlog: int = 128) -> None:
        self._check_open("listen")
        if self._conn is not None:
            raise OSError(errno.EISCONN, f"listen: socket is connected (state {self.state})")
        endpoint = self._endpoint
        if endpoint is None:
            endpoint = self.host.bind_endpoint(self.host.wildcard(), self.config, reuse=False)
            self._use_endpoint(endpoint)
        self._listener = endpoint.mux.listen(backlog, self._now())
        endpoint.attach(self._listener, self)

    async def accept(self) -> tuple[Socket, tuple[str, int]]:
        rt = self._runtime()
        await rt.checkpoint_if_cancelled()
        self._check_open("accept")
        if self._listener is None:
            raise OSError(errno.EINVAL, f"accept: socket is not listening (state {self.state})")
        endpoint = self._endpoint
        assert endpoint is not None
        mux = endpoint.mux
        while True:
            self._check_open("accept")
            if endpoint.failure is not None:  # the transport failed (endpoint.py)
                raise _copy_error(endpoint.failure)
            conn = mux.accept()
            if conn is not None:
                child = Socket(self.host, self.config)
                endpoint.acquire()  # the child holds the endpoint too
                child._use_endpoint(endpoint)
                child._adopt(conn)
                await rt.cancel_shielded_checkpoint()
                return child, conn.remote
            await self._park()

    async def connect(self, address: tuple[str, int]) -> None:
        rt = self._runtime()
        await rt.checkpoint_if_cancelled()
        self._check_open("connect")
        if self._listener is not None or self._conn is not None:
            raise OSError(errno.EISCONN, f"connect: socket already in state {self.state}")
        remote = await self.host.resolve(address, peer=True)
        endpoint = self.host.endpoint_for_connect(remote, self.config, self._endpoint)
        self._use_endpoint(endpoint)
        conn = endpoint.mux.connect(remote, self._now(), self._config_for_path(endpoint, remote))
        self._adopt(conn)
        self._flush(conn)
        try:
            while conn.state in _CONNECTING:
                await self._park()
        except rt.Cancelled:
            if conn.state is not State.CLOSED:
                conn.abort(self._now(), "connect cancelled")
                self._flush(conn)
            raise
        if conn.error is not None:
            raise _copy_error(conn.error)
        if conn.state is State.CLOSED:  # pragma: no cover - defensive
            raise OSError(errno.ECONNABORTED, "connect: connection closed during handshake")

    async def send(self, data: Buffer) -> int:
        """Queue up to ``len(data)`` bytes; block only while the send buffer is
        full.  Returns the number of bytes queued (0 for an empty buffer)."""
        view = _byte_view(data)
        rt = self._runtime()
        await rt.checkpoint_if_cancelled()
        n = self._send_nowait(view)
        if n or not view:
            await rt.cancel_shielded_checkpoint()
            return n
        while True:
            await self._wait_on(self._writers)  # the checkpoint (as trio's socket calls)
            n = self._send_nowait(view)
            if n:
                return n

    def send_nowait(self, data: Buffer) -> int:
        """Queue what fits in the send buffer now, without blocking (0 if full)."""
        return self._send_nowait(_byte_view(data))

    def recv_nowait(self, bufsize: int) -> bytes | None:
        """Up to ``bufsize`` bytes, ``b""`` at EOF, or ``None`` if ``recv`` would block."""
        return self._recv_nowait(operator.index(bufsize))

    def _send_nowait(self, data: Buffer) -> int:
        conn = self._conn
        if conn is None or self._closed:
            conn = self._connection("send")  # (raises the error that says why)
        if self._shut_wr:
            raise BrokenPipeError(errno.EPIPE, "send: socket was shut down for writing")
        if conn.error is not None:
            raise _copy_error(conn.error)
        if not len(data):
            return 0
        endpoint = self._endpoint
        now = endpoint.clock() if endpoint is not None else self._now()
        n = conn.send(data, now)
        if n and endpoint is not None:  # (_flush, inlined, with the time just read)
            endpoint.mux.touch(conn)
            endpoint.flush(now)
        return n

    async def sendall(self, data: Buffer) -> None:
        # bytes as they are (the usual small write: no view to make); a view
        # once part of it went out, so the rest is never copied.
        view: Buffer = data if type(data) is bytes else _byte_view(data)
        rt = self._rt or self._runtime()
        await rt.checkpoint_if_cancelled()
        if not view:
            self._connection("sendall")
            await rt.cancel_shielded_checkpoint()
            return
        parked = False
        while True:
            n = self._send_nowait(view)
            if n == len(view):
                if not parked:  # a call that never waited still checkpoints
                    await rt.cancel_shielded_checkpoint()
                return
            if n:
                view = memoryview(view)[n:]
            await self._wait_on(self._writers)
            parked = True

    async def recv(self, bufsize: int) -> bytes:
        bufsize = operator.index(bufsize)  # TypeError for 1.5, as Python's sockets
        if bufsize < 0:
            raise ValueError("negative buffersize in recv")
        rt = self._rt or self._runtime()
        await rt.checkpoint_if_cancelled()
        if bufsize == 0:
            self._connection("recv")
            await rt.cancel_shielded_checkpoint()
            return b""
        data = self._recv_nowait(bufsize)
        endpoint = self._endpoint
        # Whether this reader may wait on the socket itself (endpoint.py).
        direct = data is None and endpoint is not None and endpoint.serves_reader()
        if direct and endpoint is not None and endpoint.serve_queued():
            data = self._recv_nowait(bufsize)  # it may have come meanwhile
            direct = endpoint.serves_reader()  # (what it served may have closed it)
        if data is not None:
            await rt.cancel_shielded_checkpoint()
            return data
        while True:
            # The wait is the call's checkpoint: data that woke us is returned
            # without one more trip through the scheduler (as trio's sockets).
            if not (direct and endpoint is not None and await endpoint.serve_reader(self)):
                await self._wait_on(self._readers)
            data = self._recv_nowait(bufsize)
            if data is not None:
                return data
            endpoint = self._endpoint
            direct = endpoint is not None and endpoint.serves_reader()

    def _recv_nowait(self, bufsize: int) -> bytes | None:
        """Bytes, b"" at EOF, or None if the caller must wait."""
        conn = self._conn
        if conn is None or self._closed:
            conn = self._connection("recv")  # (raises the error that says why)
        if conn.readable_bytes:
            endpoint = self._endpoint
            data = conn.receive(bufsize, endpoint.clock() if endpoint is not None else self._now())
            if conn.ack_due:
                # A window update is due (RFC 9293 3.8.6.2.2); otherwise reading
                # changed nothing the output path looks at: no output pass.
                self._flush(conn)
            return data
        if self._shut_rd or conn.at_eof:
            return b""
        if conn.error is not None:
            raise _copy_error(conn.error)
        if conn.state is State.CLOSED:
            return b""
        return None

    def shutdown(self, how: int) -> None:
        conn = self._connection("shutdown")
        if how not in (SHUT_RD, SHUT_WR, SHUT_RDWR):
            raise ValueError(f"shutdown: bad 'how' {how!r}")
        if how in (SHUT_RD, SHUT_RDWR):
            self._shut_rd = True
            conn.read_shutdown = True
            conn.recv_buf.discard_all()
        if how in (SHUT_WR, SHUT_RDWR) and not self._shut_wr:
            if conn.error is not None:
                raise _copy_error(conn.error)
            conn.shutdown_write(self._now())
            self._shut_wr = True
        self._flush(conn)
        self.wake()

    def close(self) -> None:
        """Close the socket.  A connection finishes its close in the background
        (FIN, then TIME-WAIT); unread data or ``SO_LINGER`` 0 aborts with RST."""
        if self._closed:
            return
        self._closed = True
        if self._endpoint is not None:
            _close_tcbs(self._endpoint, self._conn, self._listener, self._linger)
        self.wake()

    async def aclose(self) -> None:
        self.close()
        await self._runtime().checkpoint()

    async def wait_closed(self) -> None:
        """Wait until the connection has finished closing (CLOSED or TIME-WAIT)."""
        rt = self._runtime()
        conn = self._conn
        if conn is not None and conn.state not in (State.CLOSED, State.TIME_WAIT):
            endpoint = self._endpoint
            # close() detached the connection from this socket: have its events
            # wake us again while we wait (else nothing would ever unpark us).
            rewatch = self._closed and endpoint is not None and not endpoint.closed
            if rewatch:
                endpoint.attach(conn, self)  # type: ignore[union-attr]
            try:
                while conn.state not in (State.CLOSED, State.TIME_WAIT):
                    await self._park()
            finally:
                if rewatch:
                    endpoint.detach(conn)  # type: ignore[union-attr]
        await rt.checkpoint()

    async def wait_send_space(self) -> None:
        """Block while the send buffer is full (for ``wait_send_all_might_not_block``)."""
        rt = self._runtime()
        await rt.checkpoint_if_cancelled()
        while True:
            conn = self._connection("send")
            if conn.error is not None or conn.send_buf.free_space() > 0 or self._shut_wr:
                break
            await self._wait_on(self._writers)
        await rt.cancel_shielded_checkpoint()

    def __del__(self) -> None:
        # Like Python's own sockets: a socket dropped without close() is a bug in
        # the application, reported as a ResourceWarning; and like a kernel when
        # a process closes a descriptor, its connection is closed for it (FIN,
        # or RST with unread data) so the peer is not left waiting.
        # The close runs soon on the endpoint's loop, not here: a finalizer
        # may run in the middle of anything, even of the endpoint's own work.
        if self._closed or self._endpoint is None:
            return
        self._closed = True
        endpoint, conn, listener, linger = self._endpoint, self._conn, self._listener, self._linger
        endpoint.call_soon(lambda: _close_tcbs(endpoint, conn, listener, linger))
        warnings.warn(f"unclosed {self!r}", ResourceWarning, source=self, stacklevel=2)

    def __enter__(self) -> Socket:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    async def __aenter__(self) -> Socket:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()
