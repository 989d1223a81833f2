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

Addresses: the transport's IPv4 addresses and ports are used as they are;
``0.0.0.0`` (a wildcard bind) is shown as the peer's loopback or the peer's
address family's loopback, and non-IPv4 addresses get stable stand-ins in
198.18.0.0/15 (the benchmarking range).
"""

from __future__ import annotations

import ipaddress
import struct
from typing import IO

from .core.events import SegmentRecord
from .core.segment import Segment
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
    ) -> None:
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
        self.packets += 1
        packet = tcp_ip_packet(record.segment, src, dst, self.packets)
        self.write_packet(record.time, packet, record.reason)

    def write_packet(self, time: float, packet: bytes, comment: str = "") -> None:
        micros = round(time * 1e6)
        captured = packet[: self.snaplen]
        body = (
            struct.pack("<IIIII", 0, micros >> 32, micros & 0xFFFFFFFF, len(captured), len(packet))
            + captured
            + b"\0" * (-len(captured) % 4)
        )
        if comment:
            body += _option(1, comment.encode()) + _option(0, b"")
        self._file.write(_block(0x00000006, body))

    def close(self) -> None:
        self._file.flush()
        if self._owned:
            self._file.close()
