"""Real UDP transport: one non-blocking datagram socket, drained in batches.

Performance: one ``await`` per datagram costs ~5x a plain
non-blocking drain, so ``recv_batch`` reads until the socket would block and
the endpoint processes the whole batch before sending its ACKs.  A batch may
hold up to 16,384 datagrams (about 15 ms of work at most): under a flood of
junk at the server's port, draining the socket fully each time is what keeps
the kernel from dropping the real segments queued behind the junk
(benchmarks/garbage_flood.py: small batches lost most of the goodput).

ICMP port unreachable reaches a *connected* UDP socket as ``ECONNREFUSED`` on
the next receive; a client connection connects its UDP socket to the peer so
"nothing listens there" becomes ``ConnectionRefusedError`` at once, as with
kernel TCP, instead of minutes of SYN retries.

ECN (RFC 3168, the way QUIC carries it, RFC 9000 13.4): after
``enable_ecn()`` the ECN field of each datagram sent is set through
``IP_TOS``/``IPV6_TCLASS`` (changed only when it differs from the last one,
so a bulk sender pays one system call per change, not per datagram), and
arrivals are read with ``recvmsg`` and ``IP_RECVTOS``/``IPV6_RECVTCLASS`` so
their ECN field, possibly CE from a router on the path, reaches the core.
"""

from __future__ import annotations

import contextlib
import errno
import socket as stdsocket
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING

from . import runtime
from .base import AcceptFilter, Address, Arrival, EcnArrival

if TYPE_CHECKING:
    from .registry import TransportFactory, TransportOptions

_MAX_DATAGRAM = 65_535


# Path MTU discovery (Linux): "don't fragment", and the kernel's path MTU of a
# connected socket.  Python's socket module does not name these constants.
_LINUX = sys.platform.startswith("linux")
_PMTU_OPTIONS: dict[
    int, tuple[int, int, int, int, int]
] = {  # family: (level, MTU_DISCOVER, PMTUDISC_DO, MTU, IP header bytes)
    stdsocket.AF_INET: (stdsocket.IPPROTO_IP, 10, 2, 14, 20),
    stdsocket.AF_INET6: (stdsocket.IPPROTO_IPV6, 23, 2, 24, 40),
}
_UDP_HEADER = 8
# ECN: the TOS / traffic class options (family: level, set, ask for it on receive).
_TOS_OPTIONS: dict[int, tuple[int, int, int]] = {
    stdsocket.AF_INET: (
        stdsocket.IPPROTO_IP,
        getattr(stdsocket, "IP_TOS", 1),
        getattr(stdsocket, "IP_RECVTOS", 13),
    ),
    stdsocket.AF_INET6: (
        stdsocket.IPPROTO_IPV6,
        getattr(stdsocket, "IPV6_TCLASS", 67),
        getattr(stdsocket, "IPV6_RECVTCLASS", 66),
    ),
}
_CMSG_SPACE = stdsocket.CMSG_SPACE(4) if hasattr(stdsocket, "CMSG_SPACE") else 0


def family_of(host: str) -> int:
    return stdsocket.AF_INET6 if ":" in host else stdsocket.AF_INET


class UdpTransport:
    """A ``DatagramTransport`` over one real, non-blocking UDP socket.

    ``accept`` (optional) sees each datagram in the receive buffer before it is
    copied; ``False`` drops it and counts it in ``junk``.  The host hands in
    the core's cheap segment check; the relay, which carries any UDP, none."""

    def __init__(self, local: Address, *, accept: AcceptFilter | None = None) -> None:
        self._sock = stdsocket.socket(family_of(local[0]), stdsocket.SOCK_DGRAM)
        self._sock.setblocking(False)
        for opt, size in ((stdsocket.SO_RCVBUF, 4 << 20), (stdsocket.SO_SNDBUF, 4 << 20)):
            # Large kernel buffers absorb bursts of a full congestion window.
            with contextlib.suppress(OSError):
                self._sock.setsockopt(stdsocket.SOL_SOCKET, opt, size)
        self._family = family_of(local[0])
        if _LINUX:
            # RFC 1191 / 8201: send with DF; the kernel learns the path MTU from
            # ICMP "packet too big" and refuses larger datagrams (EMSGSIZE)
            # instead of fragmenting them.
            level, discover, do, _, _ = _PMTU_OPTIONS[self._family]
            with contextlib.suppress(OSError):
                self._sock.setsockopt(level, discover, do)
        try:
            self._sock.bind(local)
        except OSError:
            self._sock.close()
            raise
        self.local: Address = self._sock.getsockname()[:2]
        self.peer: Address | None = None
        self.closed = False
        self.junk = 0  # datagrams the accept filter dropped
        self._refusals = 0  # port unreachables met by send, not yet reported
        self._too_big: list[Address] = []  # peers a send was refused to for its size
        self._accept = accept
        self._runtime: runtime.Runtime | None = None  # trio's or asyncio's, at first wait
        self._buf = bytearray(_MAX_DATAGRAM)
        self._view = memoryview(self._buf)
        self._ecn = False
        self._tos = 0  # the ECN field outgoing datagrams carry now

    @property
    def _rt(self) -> runtime.Runtime:
        """The running loop's readiness primitives, looked up at first use: a
        transport may be built before its loop runs (the relay's front socket)."""
        rt = self._runtime
        if rt is None:
            rt = self._runtime = runtime.current()
        return rt

    def enable_ecn(self) -> bool:
        """Carry the ECN field (see the module docstring); False where the system
        cannot (no ``recvmsg`` or the options are refused)."""
        if not _CMSG_SPACE:
            return False
        level, _, recv_option = _TOS_OPTIONS[self._family]
        try:
            self._sock.setsockopt(level, recv_option, 1)
        except OSError:
            return False
        self._ecn = True
        return True

    def connect(self, addr: Address) -> bool:
        """Restrict the socket to one peer so ICMP errors are reported to us."""
        self._sock.connect(addr)
        self.peer = addr
        self.local = self._sock.getsockname()[:2]
        return True

    def set_arrival_callback(self, callback: Callable[[], None] | None) -> bool:
        return False  # the kernel queues arrivals; the endpoint waits for readability

    def max_datagram(self, addr: Address) -> int | None:
        """The largest UDP payload the path to ``addr`` carries unfragmented,
        from the kernel's path MTU (the interface MTU until ICMP says less);
        None where the system does not tell."""
        if not _LINUX:
            return None
        level, _, _, mtu_option, ip_header = _PMTU_OPTIONS[self._family]
        try:
            if self.peer is not None and addr == self.peer:
                mtu = self._sock.getsockopt(level, mtu_option)
            else:  # ask the routing table through a throwaway connected socket
                with stdsocket.socket(self._family, stdsocket.SOCK_DGRAM) as probe:
                    probe.connect(addr)
                    mtu = probe.getsockopt(level, mtu_option)
        except OSError:
            return None
        return int(mtu) - ip_header - _UDP_HEADER

    async def wait_readable(self) -> None:
        if self._refusals:
            await self._rt.checkpoint()  # a refusal is waiting to be reported
            return
        await self._rt.wait_readable(self._sock)

    async def wait_writable(self) -> None:
        await self._rt.wait_writable(self._sock)

    def recv_batch(self, limit: int = 16384) -> list[Arrival]:
        """Datagrams waiting, without blocking.  Reads into one reusable buffer and
        drops junk (the accept filter) before copying it out: under a flood of
        garbage, keeping up with the socket is what protects real data."""
        if self._ecn:
            return self._recv_batch_ecn(limit)  # type: ignore[return-value]  # EcnArrival
        out: list[Arrival] = []
        if self._refusals and self.peer is not None:
            out.extend((None, self.peer) for _ in range(self._refusals))
        self._refusals = 0
        recv_into = self._sock.recvfrom_into
        buf, view, accept = self._buf, self._view, self._accept
        for _ in range(limit):
            try:
                n, addr = recv_into(buf)
            except BlockingIOError:
                break
            except ConnectionRefusedError:
                if self.peer is not None:
                    out.append((None, self.peer))
                continue
            except OSError as exc:  # other ICMP errors: treat as soft, keep reading
                if exc.errno in (errno.EHOSTUNREACH, errno.ENETUNREACH, errno.EMSGSIZE):
                    continue
                raise
            data = view[:n]
            if accept is not None and not accept(data):
                self.junk += 1
                continue
            out.append((bytes(data), addr[:2]))
        return out

    def _recv_batch_ecn(self, limit: int) -> list[EcnArrival]:
        """``recv_batch`` with each datagram's ECN field, from its TOS byte."""
        out: list[EcnArrival] = []
        if self._refusals and self.peer is not None:
            out.extend((None, self.peer, 0) for _ in range(self._refusals))
        self._refusals = 0
        recvmsg_into = self._sock.recvmsg_into
        buf, view, accept = self._buf, self._view, self._accept
        bufs = [buf]
        for _ in range(limit):
            try:
                n, ancdata, _flags, addr = recvmsg_into(bufs, _CMSG_SPACE)
            except BlockingIOError:
                break
            except ConnectionRefusedError:
                if self.peer is not None:
                    out.append((None, self.peer, 0))
                continue
            except OSError as exc:
                if exc.errno in (errno.EHOSTUNREACH, errno.ENETUNREACH, errno.EMSGSIZE):
                    continue
                raise
            data = view[:n]
            if accept is not None and not accept(data):
                self.junk += 1
                continue
            ecn = 0
            for _level, _type, value in ancdata:
                if value:  # IP_TOS: one byte; IPV6_TCLASS: an int (low byte first)
                    ecn = value[0] & 3
            out.append((bytes(data), addr[:2], ecn))
        return out

    def send(self, data: bytes, addr: Address, ecn: int = 0) -> bool:
        if ecn != self._tos and self._ecn:
            # RFC 3168 5: the ECN field is the low two bits of TOS / traffic class.
            level, option, _ = _TOS_OPTIONS[self._family]
            with contextlib.suppress(OSError):
                self._sock.setsockopt(level, option, ecn)
                self._tos = ecn
        try:
            if self.peer is not None:
                self._sock.send(data)
            else:
                self._sock.sendto(data, addr)
        except BlockingIOError:
            return False
        except ConnectionRefusedError:
            # The kernel hands a pending ICMP port unreachable to whichever call
            # comes first; when that is a send, keep it for recv_batch to report.
            self._refusals += 1
            return True
        except OSError as exc:
            if exc.errno == errno.EMSGSIZE:  # the path MTU fell below this datagram
                self._too_big.append(self.peer or addr)
            return True  # soft errors: the datagram is lost; TCP retransmits
        return True

    def take_too_big(self) -> list[Address]:
        peers, self._too_big = self._too_big, []
        return peers

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            self._sock.close()


def plugin(options: TransportOptions) -> TransportFactory:
    """The ``udp`` entry point: real UDP sockets (the default transport)."""
    return lambda local: UdpTransport(local, accept=options.accept)
