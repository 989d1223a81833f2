"""Export emutcp segments as real TCP/IPv4 packets in a pcapng file.

Wireshark and tshark then dissect emutcp as TCP, and their TCP analysis
(retransmissions, duplicate ACKs, zero windows, stream graphs) works
unchanged.  ``PcapWriter(path)`` is a tracer (see trace.py): give it to a
host as ``trace=`` (or combine it with ``trace.tee``).

Each segment becomes an IPv4 header (protocol 6, DF, TTL 64, correct header
checksum) and a TCP header with the segment's own seq, ack, flags and window
field (as sent, before scaling) and its options in TCP's binary encoding (MSS,
window scale, SACK-permitted, SACK blocks, timestamps, padded with NOPs), a
correct TCP checksum over the pseudo-header, and the payload (cut to
``snaplen`` bytes in the capture; the original length is kept).  Why emutcp
sent the segment ("retransmission (RTO #2)", "delayed ACK", ...) goes into the
packet's pcapng comment, which Wireshark shows as ``frame.comment``.

Timestamps: a capture of real UDP is dated by the wall clock (so the
captures of two hosts merge with ``mergecap``); a run in virtual time (trio's
``MockClock``, the emulated network) is dated ``EMULATED_EPOCH``
(2000-01-01T00:00:00Z) plus virtual time, so a seed still gives the same
bytes.  ``PcapWriter(epoch=...)`` fixes the offset explicitly.

Addresses: the transport's IPv4 addresses and ports are used as they are;
``0.0.0.0`` (a wildcard bind) is shown as the peer's loopback or the peer's
address family's loopback, and non-IPv4 addresses get stable stand-ins in
198.18.0.0/15 (the benchmarking range).
"""

from __future__ import annotations

import ipaddress
import struct
import time as _time
from typing import IO

from .core.events import SegmentRecord, Transition
from .core.segment import Segment, encode_segment
from .wire.tcpip import checksum, encode_options, encode_packet

Address = tuple[str, int]

LINKTYPE_IPV4 = 228
_BYTE_ORDER_MAGIC = 0x1A2B3C4D


# One copy of the TCP/IP building, shared with the TUN transport (wire/tcpip.py).
_checksum = checksum
tcp_options = encode_options


def tcp_ip_packet(seg: Segment, src: tuple[str, int], dst: tuple[str, int], ident: int) -> bytes:
    """One IPv4+TCP packet for ``seg`` sent from ``src`` to ``dst``."""
    return encode_packet(seg, src, dst, ident=ident)


def _block(block_type: int, body: bytes) -> bytes:
    body += b"\0" * (-len(body) % 4)
    length = 12 + len(body)
    return struct.pack("<II", block_type, length) + body + struct.pack("<I", length)


def _option(code: int, value: bytes) -> bytes:
    return struct.pack("<HH", code, len(value)) + value + b"\0" * (-len(value) % 4)


class PcapWriter:
    """A tracer that writes segments as pcapng packets.

    ``directions``: which segments to record, ``("in", "out")`` for the view
    of one host; use ``("out",)`` when several hosts share one writer so each
    segment appears once (as captured at its sender)."""

    def __init__(
        self,
        target: str | IO[bytes],
        *,
        snaplen: int = 65_535,
        directions: tuple[str, ...] = ("in", "out"),
        epoch: float | None = None,
    ) -> None:
        self.epoch = epoch  # seconds added to record times; None: chosen at the first packet
        self._file: IO[bytes]
        if isinstance(target, str):
            self._file = open(target, "wb")  # noqa: SIM115 - kept open until close()
            self._owned = True
        else:
            self._file = target
            self._owned = False
        self.snaplen = snaplen
        self.directions = directions
        self.packets = 0
        self._stand_ins: dict[str, str] = {}
        self._last_sent: dict[tuple[Address, Address], Segment] = {}
        shb = (
            struct.pack("<IHHq", _BYTE_ORDER_MAGIC, 1, 0, -1)
            + _option(4, b"emutcp")
            + _option(0, b"")
        )
        self._file.write(_block(0x0A0D0D0A, shb))
        idb = (
            struct.pack("<HHI", LINKTYPE_IPV4, 0, snaplen)
            + _option(
                9,
                b"\x06",  # if_tsresol: microseconds
            )
            + _option(2, b"emutcp")
            + _option(0, b"")
        )
        self._file.write(_block(0x00000001, idb))

    def _ipv4(self, host: str, other: str) -> str:
        if host in ("0.0.0.0", ""):
            return "127.0.0.1" if other.startswith("127.") else other
        try:
            ipaddress.IPv4Address(host)
            return host
        except ValueError:
            stand_in = self._stand_ins.get(host)
            if stand_in is None:
                stand_in = str(ipaddress.IPv4Address("198.18.0.1") + len(self._stand_ins))
                self._stand_ins[host] = stand_in
            return stand_in

    def __call__(self, record: object, local: Address, remote: Address | None) -> None:
        if isinstance(record, Transition) and ICMP_CAUSE in record.cause and remote:
            self._write_icmp_unreachable(record.time, local, remote)
        if not isinstance(record, SegmentRecord) or not isinstance(record.segment, Segment):
            return
        if record.direction not in self.directions or remote is None:
            return
        lip = self._ipv4(local[0], remote[0])
        rip = self._ipv4(remote[0], lip)
        if record.direction == "out":
            src, dst = (lip, local[1]), (rip, remote[1])
        else:
            src, dst = (rip, remote[1]), (lip, local[1])
        if record.direction == "out":
            self._last_sent[(local, remote)] = record.segment  # quoted if refused
        self.packets += 1
        packet = tcp_ip_packet(record.segment, src, dst, self.packets)
        self.write_packet(record.time, packet, record.reason)

    def write_packet(self, time: float, packet: bytes, comment: str = "") -> None:
        if self.epoch is None:
            self.epoch = clock_epoch()
        micros = round((self.epoch + time) * 1e6)
        captured = packet[: self.snaplen]
        body = (
            struct.pack("<IIIII", 0, micros >> 32, micros & 0xFFFFFFFF, len(captured), len(packet))
            + captured
            + b"\0" * (-len(captured) % 4)
        )
        if comment:
            body += _option(1, comment.encode()) + _option(0, b"")
        self._file.write(_block(0x00000006, body))

    def _write_icmp_unreachable(self, time: float, local: Address, remote: Address) -> None:
        """The peer's host refused our last datagram: nothing is bound to that UDP
        port, so its kernel answered with ICMP, not TCP (no RST was sent)."""
        seg = self._last_sent.pop((local, remote), None)
        udp_length = 8 + (len(encode_segment(seg)) if seg is not None else 0)
        lip = self._ipv4(local[0], remote[0])
        rip = self._ipv4(remote[0], lip)
        self.packets += 1
        packet = icmp_port_unreachable((lip, local[1]), (rip, remote[1]), udp_length, self.packets)
        self.write_packet(time, packet, f"ICMP port unreachable: no UDP socket on port {remote[1]}")

    def close(self) -> None:
        self._file.flush()
        if self._owned:
            self._file.close()


# The trace cause the core gives a connection refused or reset by ICMP.
ICMP_CAUSE = "ICMP port unreachable"


def _ipv4_header(src_ip: bytes, dst_ip: bytes, protocol: int, length: int, ident: int) -> bytes:
    ip = struct.pack(
        "!BBHHHBBH4s4s", 0x45, 0, length, ident & 0xFFFF, 0x4000, 64, protocol, 0, src_ip, dst_ip
    )
    return ip[:10] + struct.pack("!H", _checksum(ip)) + ip[12:]


def icmp_port_unreachable(src: Address, dst: Address, udp_length: int, ident: int) -> bytes:
    """The ICMP message the peer's host (``dst``) sends back when a UDP datagram
    from ``src`` finds no socket on ``dst``'s port: type 3 code 3 (RFC 792),
    quoting the offending datagram's IPv4 header and the first 8 bytes of its
    payload, i.e. the whole UDP header (RFC 1122 3.2.2.1)."""
    src_ip, dst_ip = ipaddress.IPv4Address(src[0]).packed, ipaddress.IPv4Address(dst[0]).packed
    quoted_ip = _ipv4_header(src_ip, dst_ip, 17, 20 + udp_length, ident)
    quoted_udp = struct.pack("!HHHH", src[1], dst[1], udp_length & 0xFFFF, 0)
    icmp = struct.pack("!BBHI", 3, 3, 0, 0) + quoted_ip + quoted_udp
    icmp = icmp[:2] + struct.pack("!H", _checksum(icmp)) + icmp[4:]
    return _ipv4_header(dst_ip, src_ip, 1, 20 + len(icmp), ident) + icmp


# Virtual-time captures are dated from here: 2000-01-01T00:00:00Z.
EMULATED_EPOCH = 946_684_800.0


def clock_epoch() -> float:
    """What to add to the running clock's time to get a capture timestamp: the
    wall clock's offset under a real clock, ``EMULATED_EPOCH`` in virtual time
    (or outside any event loop)."""
    import trio

    try:
        clock = trio.lowlevel.current_clock()
    except RuntimeError:
        import asyncio

        try:
            return _time.time() - asyncio.get_running_loop().time()
        except RuntimeError:
            return EMULATED_EPOCH
    from trio.testing import MockClock

    if isinstance(clock, MockClock):
        return EMULATED_EPOCH
    return _time.time() - trio.current_time()
