"""Real UDP transport: one non-blocking datagram socket, drained in batches.

Performance: one ``await`` per datagram costs ~5x a plain
non-blocking drain, so ``recv_batch`` reads until the queue is empty (after
the first datagram asked with ``FIONREAD``, so a batch of one ends without
a receive that fails with EAGAIN, which raises) and the endpoint processes
the whole batch before sending its ACKs.  A batch may
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

Segmentation offload (Linux): ``send_many`` hands a run of equal-sized
datagrams to one peer (the last may be shorter) to the kernel in one
``sendmsg`` with a ``UDP_SEGMENT`` control message (GSO); the kernel, or the
NIC, cuts it into the same datagrams one by one sends would have made, so the
wire is unchanged.  The first refusal (an old kernel, a device without it:
EIO, EINVAL, ENOPROTOOPT...) turns GSO off for this socket and the run goes
out datagram by datagram, as everywhere else.  On receive, ``UDP_GRO`` lets
the kernel hand back several datagrams of one sender as one buffer, with a
control message giving the segment size to cut it at; each piece passes the
accept filter on its own.  GRO coalesces only datagrams whose IP headers match
(TOS included), so the ECN field read once applies to every piece.
``EMUTCP_NO_GSO=1`` in the environment, or ``gso=False``, turns both off.

A second waiter (trio): the endpoint's task waits for arrivals on the socket;
a reader blocked in ``recv`` may wait too, on a second descriptor of the same
socket (a ``dup``: trio allows one waiter per descriptor), so the datagram
that answers it wakes it in the same scheduler batch as the endpoint, instead
of one batch later through the endpoint (``wait_readable_too``; see
endpoint.py).  ``interrupt_second_wait`` wakes it early (an event the endpoint
found, a close, a port unreachable met by a send): trio's ``notify_closing``,
then that descriptor is closed and the next wait makes a new one.  Each
endpoint whose reader blocked keeps its second descriptor until then or
until it closes; at most ``SECOND_DESCRIPTORS_MAX`` per process.  Beyond that,
or when the system refuses one (EMFILE), the reader parks as before.
"""

from __future__ import annotations

import contextlib
import errno
import functools
import ipaddress
import os
import socket as stdsocket
import struct
import sys
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, Final

from . import runtime
from .base import AcceptFilter, Address, Arrival

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
# UDP segmentation offload (Linux 4.18+ send, 5.0+ receive): SOL_UDP options.
_SOL_UDP, _UDP_SEGMENT, _UDP_GRO = 17, 103, 104
_GSO_MAX_SEGMENTS = 64  # the kernel's UDP_MAX_SEGMENTS
_GSO_MAX_BYTES = 65_000  # one sendmsg carries at most a 64 KiB UDP datagram's worth
# Errors that mean "this system cannot do GSO", not "this datagram is lost".
_GSO_UNSUPPORTED = (errno.EIO, errno.EINVAL, errno.ENOPROTOOPT, errno.EOPNOTSUPP)
# Beyond loopback, GSO only for datagrams every Ethernet path carries: a GSO
# run crosses a virtual link (veth) as one packet, exempt from that link's MTU
# check, so larger segments would get through where the same ones sent one by
# one are dropped; how we batch must not change what the path carries, or
# PLPMTUD's black-hole detection (RFC 8899 4.3) learns a wrong size.
_GSO_SAFE: dict[int, int] = {stdsocket.AF_INET: 1500 - 20 - 8, stdsocket.AF_INET6: 1500 - 40 - 8}
# Second descriptors (dups) for readers waiting on their socket, process-wide:
# each endpoint whose reader blocked keeps one, so this caps what the fast
# path adds to the process's descriptors; beyond it, readers park as before.
SECOND_DESCRIPTORS_MAX: Final = 64
_second_descriptors = 0
# FIONREAD on a UDP socket: the size of the next queued datagram, 0 when none
# (Windows has no fcntl: there the batch ends on the receive that would block).
try:
    import fcntl
    import termios

    _ioctl: Callable[[int, int, bytearray], object] | None = fcntl.ioctl
    _FIONREAD = termios.FIONREAD
except ImportError:  # pragma: no cover - Windows
    _ioctl, _FIONREAD = None, 0
_NOTHING_QUEUED = bytes(4)
_U16 = struct.Struct("=H")  # UDP_SEGMENT's value: the segment size, a u16
_I32 = struct.Struct("=i")  # UDP_GRO's value on receive: the segment size, an int


@functools.lru_cache(maxsize=256)
def _is_loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(host.split("%")[0]).is_loopback
    except ValueError:
        return host == "localhost"


def family_of(host: str) -> int:
    return stdsocket.AF_INET6 if ":" in host else stdsocket.AF_INET


class UdpTransport:
    """A ``DatagramTransport`` over one real, non-blocking UDP socket.

    ``accept`` (optional) sees each datagram in the receive buffer before it is
    copied; ``False`` drops it and counts it in ``junk``.  The host hands in
    the core's cheap segment check; the relay, which carries any UDP, none."""

    def __init__(
        self, local: Address, *, accept: AcceptFilter | None = None, gso: bool | None = None
    ) -> None:
        self._sock = stdsocket.socket(family_of(local[0]), stdsocket.SOCK_DGRAM)
        self._sock.setblocking(False)
        for opt, size in ((stdsocket.SO_RCVBUF, 4 << 20), (stdsocket.SO_SNDBUF, 4 << 20)):
            # Large kernel buffers absorb bursts of a full congestion window.
            with contextlib.suppress(OSError):
                self._sock.setsockopt(stdsocket.SOL_SOCKET, opt, size)
        self._family = family_of(local[0])
        self._tos_level = _TOS_OPTIONS[self._family][0]  # where IP_TOS / IPV6_TCLASS arrive
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
        self._fd = self._sock.fileno()
        self.peer: Address | None = None
        self.closed = False
        self.junk = 0  # datagrams the accept filter dropped
        self._refusals = 0  # port unreachables met by send, not yet reported
        self._too_big: list[Address] = []  # peers a send was refused to for its size
        self._accept = accept
        self._runtime: runtime.Runtime | None = None  # trio's or asyncio's, at first wait
        self._buf = bytearray(_MAX_DATAGRAM)
        self._view = memoryview(self._buf)
        self._queued = bytearray(4)  # FIONREAD's answer
        self._bufs = [self._buf]  # recvmsg_into's argument
        self._ecn = False
        self._tos = 0  # the ECN field outgoing datagrams carry now
        if gso is None:
            gso = _LINUX and os.environ.get("EMUTCP_NO_GSO", "") in ("", "0")
        self.gso = bool(gso and _LINUX and _CMSG_SPACE)  # send runs with UDP_SEGMENT
        self.gro = False  # the kernel may coalesce arrivals (UDP_GRO)
        self._gso_safe = _GSO_SAFE[self._family]
        if self.gso:
            try:
                self._sock.setsockopt(_SOL_UDP, _UDP_GRO, 1)
                self.gro = True
            except OSError:
                pass
        self.gso_sends = 0  # sendmsg calls that carried a run (for tests, benchmarks)
        self._second: stdsocket.socket | None = None  # a dup for a second waiter
        self.gro_merged = 0  # arrivals that held more than one datagram

    @property
    def accept(self) -> AcceptFilter | None:
        """The junk filter every arrival passes (None: none)."""
        return self._accept

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

    def can_wait_twice(self) -> bool:
        """Whether a second task may wait for arrivals (``wait_readable_too``):
        the loop must be able to interrupt that wait (trio can; asyncio here not)."""
        return self._rt.notify_closing is not None and not self.closed

    async def wait_readable_too(self) -> bool | None:
        """Wait for arrivals beside the endpoint's own wait (see the module
        docstring).  True: readable; False: interrupted or closed; None, at
        once and without a checkpoint: no second descriptor could be had (the
        process-wide cap, or the system refused one: EMFILE), so the caller
        must wait another way."""
        global _second_descriptors
        if self.closed:
            await self._rt.checkpoint()
            return False
        if self._refusals:
            await self._rt.checkpoint()
            return True
        second = self._second
        if second is None:
            if _second_descriptors >= SECOND_DESCRIPTORS_MAX:
                return None
            try:
                second = self._sock.dup()
            except OSError:
                return None
            self._second = second
            _second_descriptors += 1
        try:
            await self._rt.wait_readable(second)
        except self._rt.ClosedResource:
            return False
        except OSError:  # the loop could not watch it (raised before any wait)
            self.interrupt_second_wait()
            return None
        return True

    def interrupt_second_wait(self) -> None:
        """Wake the task in ``wait_readable_too`` (it returns False) and give
        the second descriptor back."""
        global _second_descriptors
        second, self._second = self._second, None
        if second is not None:
            notify = self._rt.notify_closing
            if notify is not None:
                notify(second)  # trio: before the descriptor is closed
            second.close()
            _second_descriptors -= 1

    def _note_refusal(self) -> None:
        """A send met an ICMP port unreachable: the next receive reports it.  A
        reader waiting on the second descriptor must hear of it now (nothing
        may arrive to wake it, and the endpoint task leaves arrivals to it)."""
        self._refusals += 1
        if self._second is not None:
            self.interrupt_second_wait()

    def _drained(self) -> bool:
        """Whether the receive queue is empty now, asked with one ``ioctl``
        instead of learnt from a receive that fails (that raises, at twice
        the cost).  Asked once per batch, after its first datagram: a batch of
        one (request/response) ends without a failing receive, a longer one
        reads on until the queue is empty.  A zero-length datagram or a
        pending ICMP error also answers 0: the batch ends, the socket stays
        readable, and the next batch reads them."""
        queued = self._queued
        if _ioctl is None:
            return False
        _ioctl(self._fd, _FIONREAD, queued)
        return queued == _NOTHING_QUEUED

    def has_queued(self) -> bool:
        """Whether a receive would find something now: a datagram, or a refusal
        to report (one ``ioctl``; where there is none, assume so)."""
        if self.closed:
            return False
        if self._refusals or _ioctl is None:
            return True
        queued = self._queued  # (_drained, inlined: every blocking recv asks)
        _ioctl(self._fd, _FIONREAD, queued)
        return queued != _NOTHING_QUEUED

    def recv_batch(self, limit: int = 16384) -> list[Arrival]:
        """Datagrams waiting, without blocking.  Reads into one reusable buffer and
        drops junk (the accept filter) before copying it out: under a flood of
        garbage, keeping up with the socket is what protects real data."""
        if self._ecn:
            return self._recv_batch_msg(limit, True)  # type: ignore[return-value]  # (data, addr, ecn) triples
        if self.gro:
            return self._recv_batch_msg(limit, False)  # type: ignore[return-value]
        out: list[Arrival] = []
        if self._refusals:
            self._report_refusals(out, False)
        recv_into = self._sock.recvfrom_into
        buf, view, accept = self._buf, self._view, self._accept
        drained = self._drained
        for i in range(limit):
            if i == 1 and drained():
                break
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
            out.append((bytes(data), addr if len(addr) == 2 else addr[:2]))
        return out

    def _recv_batch_msg(self, limit: int, with_ecn: bool) -> list[tuple[object, ...]]:
        """``recv_batch`` through ``recvmsg``: the ECN field (``with_ecn``: triples)
        and, with GRO, several datagrams per read cut at the segment size."""
        out: list[tuple[object, ...]] = []
        if self._refusals:
            self._report_refusals(out, with_ecn)
        recvmsg_into = self._sock.recvmsg_into
        view, accept, bufs = self._view, self._accept, self._bufs
        space = (_CMSG_SPACE if with_ecn else 0) + (_CMSG_SPACE if self.gro else 0)
        count = 0
        asked = False  # whether more are queued, asked after the first read
        while count < limit:
            try:
                n, ancdata, _flags, addr = recvmsg_into(bufs, space)
            except BlockingIOError:
                break
            except ConnectionRefusedError:
                if self.peer is not None:
                    out.append((None, self.peer, 0) if with_ecn else (None, self.peer))
                continue
            except OSError as exc:
                if exc.errno in (errno.EHOSTUNREACH, errno.ENETUNREACH, errno.EMSGSIZE):
                    continue
                raise
            if ancdata or len(addr) != 2:  # a GRO run, the ECN field, an IPv6 address
                count += self._msg_arrivals(out, n, ancdata, addr, with_ecn)
            else:  # one IPv4 datagram, Not-ECT: the usual read
                count += 1
                data = view[:n]
                if accept is not None and not accept(data):
                    self.junk += 1
                else:
                    out.append((bytes(data), addr, 0) if with_ecn else (bytes(data), addr))
            if not asked and _ioctl is not None:
                # After the first read, ask whether more wait (_drained, inlined):
                # a batch of one (request/response) ends without a failing receive.
                asked = True
                queued = self._queued
                _ioctl(self._fd, _FIONREAD, queued)
                if queued == _NOTHING_QUEUED:
                    break
        return out

    def _report_refusals(self, out: list[Any], with_ecn: bool) -> None:
        """Port unreachables a send met, as (None, peer) arrivals (connected only)."""
        peer = self.peer
        if peer is not None:
            refusal = (None, peer, 0) if with_ecn else (None, peer)
            out.extend(refusal for _ in range(self._refusals))
        self._refusals = 0

    def _msg_arrivals(
        self,
        out: list[tuple[object, ...]],
        n: int,
        ancdata: list[tuple[int, int, bytes]],
        addr: tuple[Any, ...],
        with_ecn: bool,
    ) -> int:
        """The datagrams of one ``recvmsg`` read with control messages (a GRO
        run cut at its segment size; the ECN field) or an IPv6 address, into
        ``out``; returns how many datagrams the read held."""
        ecn, size = 0, n
        for level, kind, value in ancdata:
            if level == _SOL_UDP and kind == _UDP_GRO and len(value) >= 4:
                size = _I32.unpack_from(value)[0] or n
            elif level == self._tos_level and value:
                # IP_TOS: one byte; IPV6_TCLASS: an int (low byte first)
                ecn = value[0] & 3
        source = addr if len(addr) == 2 else addr[:2]  # (IPv6: host, port of four)
        view, accept = self._view, self._accept
        if size >= n or size <= 0:  # one datagram (an empty one too), not a GRO run
            data = view[:n]
            if accept is not None and not accept(data):
                self.junk += 1
            else:
                out.append((bytes(data), source, ecn) if with_ecn else (bytes(data), source))
            return 1
        self.gro_merged += 1
        count = 0
        for start in range(0, n, size):
            count += 1
            data = view[start : min(start + size, n)]
            if accept is not None and not accept(data):
                self.junk += 1
                continue
            out.append((bytes(data), source, ecn) if with_ecn else (bytes(data), source))
        return count

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
            self._note_refusal()
            return True
        except OSError as exc:
            if exc.errno == errno.EMSGSIZE:  # the path MTU fell below this datagram
                self._too_big.append(self.peer or addr)
            return True  # soft errors: the datagram is lost; TCP retransmits
        return True

    def send_many(self, items: Sequence[tuple[bytes, Address, int]]) -> int:
        """Send ``(data, addr, ecn)`` datagrams in order; return how many went out
        before the socket would block (the caller keeps the rest).  Runs to one
        peer with one ECN field, of equal size but the last, leave as one GSO
        ``sendmsg`` where the kernel can (see the module docstring)."""
        total = len(items)
        if total == 1:  # a request, a response, an ACK: no run to look for
            data, addr, ecn = items[0]
            return 1 if self.send(data, addr, ecn) else 0
        if not self.gso:
            send = self.send
            for i, (data, addr, ecn) in enumerate(items):
                if not send(data, addr, ecn):
                    return i
            return total
        i = 0
        while i < total:
            data, addr, ecn = items[i]
            size = len(data)
            # The run: same peer and ECN field, equal sizes, the last may be shorter.
            j = i + 1
            most = min(total, i + _GSO_MAX_SEGMENTS, i + max(1, _GSO_MAX_BYTES // max(size, 1)))
            while j < most:
                nxt = items[j]
                length = len(nxt[0])
                if nxt[1] != addr or nxt[2] != ecn or length > size:
                    break
                j += 1
                if length < size:
                    break
            if j - i < 2 or (size > self._gso_safe and not _is_loopback(addr[0])):
                if not self.send(data, addr, ecn):
                    return i
                i += 1
                continue
            sent = self._send_run(items, i, j, size)
            if sent is None:
                # Refused: send the run one by one.  If those go out whole, the
                # kernel cannot do GSO (old kernel, device): never again.  If
                # they are too big too, the path MTU fell (PLPMTUD, ICMP): keep it.
                too_big = len(self._too_big)
                self.gso = False
                done = self.send_many(items[i:j])
                self.gso = len(self._too_big) > too_big
                if done < j - i:
                    return i + done
            elif not sent:
                return i
            i = j
        return total

    def _send_run(
        self, items: Sequence[tuple[bytes, Address, int]], i: int, j: int, size: int
    ) -> bool | None:
        """One GSO ``sendmsg`` of ``items[i:j]``: True sent (or lost to a soft
        error), False would block, None the kernel cannot do GSO."""
        _, addr, ecn = items[i]
        if ecn != self._tos and self._ecn:
            level, option, _ = _TOS_OPTIONS[self._family]
            with contextlib.suppress(OSError):
                self._sock.setsockopt(level, option, ecn)
                self._tos = ecn
        chunks = [item[0] for item in items[i:j]]
        cmsg = [(_SOL_UDP, _UDP_SEGMENT, _U16.pack(size))]
        try:
            if self.peer is not None:
                self._sock.sendmsg(chunks, cmsg)
            else:
                self._sock.sendmsg(chunks, cmsg, 0, addr)
        except BlockingIOError:
            return False
        except ConnectionRefusedError:
            self._note_refusal()
            return True
        except OSError as exc:
            if exc.errno in _GSO_UNSUPPORTED:
                return None
            if exc.errno == errno.EMSGSIZE:
                self._too_big.append(self.peer or addr)
            return True
        self.gso_sends += 1
        return True

    def take_too_big(self) -> list[Address]:
        peers, self._too_big = self._too_big, []
        return peers

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            self.interrupt_second_wait()
            self._sock.close()


def plugin(options: TransportOptions) -> TransportFactory:
    """The ``udp`` entry point: real UDP sockets (the default transport)."""
    return lambda local: UdpTransport(local, accept=options.accept)
