"""Real UDP transport: one non-blocking datagram socket, drained in batches.

DESIGN.md's performance budget: one ``await`` per datagram costs ~5x a plain
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
"""

from __future__ import annotations

import contextlib
import errno
import socket as stdsocket

import trio

from ..core.segment import FORMAT_VERSION, MIN_DATAGRAM

Address = tuple[str, int]
_MAX_DATAGRAM = 65_535


def family_of(host: str) -> int:
    return stdsocket.AF_INET6 if ":" in host else stdsocket.AF_INET


class UdpTransport:
    def __init__(self, local: Address, *, filter_junk: bool = True) -> None:
        self._sock = stdsocket.socket(family_of(local[0]), stdsocket.SOCK_DGRAM)
        self._sock.setblocking(False)
        for opt, size in ((stdsocket.SO_RCVBUF, 4 << 20), (stdsocket.SO_SNDBUF, 4 << 20)):
            # Large kernel buffers absorb bursts of a full congestion window.
            with contextlib.suppress(OSError):
                self._sock.setsockopt(stdsocket.SOL_SOCKET, opt, size)
        try:
            self._sock.bind(local)
        except OSError:
            self._sock.close()
            raise
        self.local: Address = self._sock.getsockname()[:2]
        self.peer: Address | None = None
        self.closed = False
        self.junk = 0  # datagrams dropped before decoding
        self.filter_junk = filter_junk  # off for the relay, which carries any UDP
        self._buf = bytearray(_MAX_DATAGRAM)
        self._view = memoryview(self._buf)

    def connect(self, addr: Address) -> None:
        """Restrict the socket to one peer so ICMP errors are reported to us."""
        self._sock.connect(addr)
        self.peer = addr
        self.local = self._sock.getsockname()[:2]

    async def wait_readable(self) -> None:
        await trio.lowlevel.wait_readable(self._sock)

    async def wait_writable(self) -> None:
        await trio.lowlevel.wait_writable(self._sock)

    def recv_batch(self, limit: int = 16384) -> list[tuple[bytes | None, Address]]:
        """Datagrams waiting, without blocking.  Reads into one reusable buffer and
        drops obvious junk (wrong first bytes) before copying it out: under a
        flood of garbage, keeping up with the socket is what protects real data."""
        out: list[tuple[bytes | None, Address]] = []
        recv_into = self._sock.recvfrom_into
        buf, view = self._buf, self._view
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
            if self.filter_junk and (
                n < MIN_DATAGRAM or buf[0] != 0x9A or buf[1] != FORMAT_VERSION
            ):
                self.junk += 1  # see segment.looks_like_segment
                continue
            out.append((bytes(view[:n]), addr[:2]))
        return out

    def send(self, data: bytes, addr: Address) -> bool:
        try:
            if self.peer is not None:
                self._sock.send(data)
            else:
                self._sock.sendto(data, addr)
        except BlockingIOError:
            return False
        except OSError:
            # ICMP errors surface on send as well; the datagram is simply lost
            # (TCP retransmits), and refusal is reported by recv_batch.
            return True
        return True

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            self._sock.close()
