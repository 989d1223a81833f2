"""Real TCP/IP: emutcp segments as TCP in IPv4 or IPv6 packets, and back.

Theory of operation
-------------------
The core's ``Segment`` already holds every TCP header field (ports, seq, ack,
control bits, the window field as sent) and the options emutcp speaks, so
the mapping is one to one:

* ``encode_packet(seg, src, dst)`` writes the IP header (IPv4: DF, TTL 64,
  header checksum; IPv6: hop limit 64, no extension headers), the 20-byte
  TCP header (RFC 9293 3.1) with the addresses' ports, the options in TCP's
  binary form (``encode_options``) and the payload, with the TCP checksum
  over the pseudo-header (RFC 9293 3.1; IPv6: RFC 8200 8.1).
* ``decode_packet(packet)`` validates and parses one packet and raises only
  ``MalformedPacket`` (a ``MalformedSegment``): wrong version or protocol,
  lengths that do not add up, a fragment, a bad IPv4 header checksum or a
  bad TCP checksum; options are parsed by kind and length (unknown kinds
  skipped, RFC 9293 3.2), a window-scale shift above 14 is read as 14 (RFC
  7323 2.3), and a SACK option keeps its first four blocks.

The pcap writer (``emutcp/pcap.py``) and the TUN transport (``emutcp/tun.py``)
both use this module, so what Wireshark shows is exactly what the kernel
receives.  The urgent pointer is always 0 (emutcp sends no urgent data) and
is ignored on receipt, as are IP options and the TCP reserved bits.
"""

from __future__ import annotations

import functools
import ipaddress
import struct
from typing import NamedTuple

from ..core.segment import MAX_SACK_BLOCKS, MalformedSegment, Options, Segment

Address = tuple[str, int]

PROTO_TCP = 6
TTL = 64
_IP4 = struct.Struct("!BBHHHBBH4s4s")
_IP6 = struct.Struct("!IHBB16s16s")
_TCP = struct.Struct("!HHIIHHHH")
_DF = 0x4000


class MalformedPacket(MalformedSegment):
    """Not a valid TCP/IP packet (dropped and counted, like a bad segment)."""


class Packet(NamedTuple):
    src: Address
    dst: Address
    segment: Segment


def checksum(data: bytes | bytearray | memoryview, start: int = 0) -> int:
    """The Internet checksum (RFC 1071) of ``data`` plus a partial sum ``start``.

    The ones'-complement sum of 16-bit words equals the number the bytes
    spell in base 2**16, modulo 0xFFFF (2**16 is 1 modulo 0xFFFF), so one
    big-integer remainder replaces a loop over the words."""
    if len(data) % 2:
        data = bytes(data) + b"\0"
    total = int.from_bytes(data, "big") + start
    folded = total % 0xFFFF
    if folded == 0 and total:
        folded = 0xFFFF  # a nonzero sum folds to 0xFFFF (ones' complement -0)
    return ~folded & 0xFFFF


def encode_options(o: Options) -> bytes:
    """The options in TCP wire format (RFC 9293 3.2, RFC 7323, RFC 2018),
    NOP-aligned and padded with EOL to a multiple of 4, at most 40 bytes."""
    out = b""
    if o.mss is not None:
        out += struct.pack("!BBH", 2, 4, o.mss)
    if o.sack_permitted:
        out += b"\x01\x01\x04\x02"  # NOP NOP SACK-permitted
    if o.timestamps is not None:
        out += b"\x01\x01" + struct.pack("!BBII", 8, 10, *o.timestamps)
    if o.wscale is not None:
        out += b"\x01" + struct.pack("!BBB", 3, 3, o.wscale)
    if o.sack_blocks:
        blocks = o.sack_blocks[: (40 - len(out) - 4) // 8]
        out += b"\x01\x01" + struct.pack("!BB", 5, 2 + 8 * len(blocks))
        for left, right in blocks:
            out += struct.pack("!II", left, right)
    return out + b"\x00" * (-len(out) % 4)


def decode_options(data: bytes | memoryview) -> Options:
    """Parse a TCP option area (RFC 9293 3.2): kind, length, value."""
    mss = wscale = timestamps = None
    sack_permitted = False
    sack_blocks: tuple[tuple[int, int], ...] = ()
    i, n = 0, len(data)
    while i < n:
        kind = data[i]
        if kind == 0:  # End of Option List
            break
        if kind == 1:  # No-Operation
            i += 1
            continue
        if i + 1 >= n or data[i + 1] < 2 or i + data[i + 1] > n:
            raise MalformedPacket(f"TCP option {kind} has a bad length")
        length = data[i + 1]
        value = bytes(data[i + 2 : i + length])
        if kind == 2 and length == 4:
            mss = int.from_bytes(value, "big") or None
        elif kind == 3 and length == 3:
            wscale = min(value[0], 14)  # RFC 7323 2.3: a shift above 14 is used as 14
        elif kind == 4 and length == 2:
            sack_permitted = True
        elif kind == 5 and length >= 10 and (length - 2) % 8 == 0:
            edges = struct.unpack(f"!{(length - 2) // 4}I", value)
            pairs = tuple(zip(edges[::2], edges[1::2], strict=True))
            sack_blocks = pairs[:MAX_SACK_BLOCKS]
        elif kind == 8 and length == 10:
            timestamps = struct.unpack("!II", value)
        elif kind in (2, 3, 4, 5, 8):
            raise MalformedPacket(f"TCP option {kind} has length {length}")
        i += length  # unknown kinds (TFO, MD5, ...) are skipped by their length
    return Options(mss, wscale, sack_permitted, sack_blocks, timestamps)


def _family(ip: str) -> int:
    return 6 if ":" in ip else 4


# A host talks to few addresses: parsing them is most of a packet's cost otherwise.
@functools.lru_cache(maxsize=1024)
def _packed(ip: str) -> bytes:
    return ipaddress.ip_address(ip).packed


@functools.lru_cache(maxsize=1024)
def _text(packed: bytes) -> str:
    return str(ipaddress.ip_address(packed))


def encode_packet(seg: Segment, src: Address, dst: Address, *, ident: int = 0) -> bytes:
    """One IPv4 (or IPv6, by the addresses) packet carrying ``seg`` from
    ``src`` to ``dst``; the TCP ports are the addresses' ports."""
    options = encode_options(seg.options)
    offset = (20 + len(options)) // 4
    header = _TCP.pack(
        src[1], dst[1], seg.seq, seg.ack, (offset << 12) | (seg.flags & 0x1FF), seg.window, 0, 0
    )
    tcp = header + options + seg.payload
    if _family(src[0]) == 6:
        sip, dip = _packed(src[0]), _packed(dst[0])
        pseudo = sip + dip + struct.pack("!II", len(tcp), PROTO_TCP)  # RFC 8200 8.1
        csum = checksum(pseudo + tcp)
        ip = _IP6.pack(6 << 28 | (seg.ecn & 3) << 20, len(tcp), PROTO_TCP, TTL, sip, dip)
    else:
        sip, dip = _packed(src[0]), _packed(dst[0])
        pseudo = sip + dip + struct.pack("!BBH", 0, PROTO_TCP, len(tcp))
        csum = checksum(pseudo + tcp)
        ip = _IP4.pack(  # the ECN field in the low bits of the TOS byte (RFC 3168 5)
            0x45, seg.ecn & 3, 20 + len(tcp), ident & 0xFFFF, _DF, TTL, PROTO_TCP, 0, sip, dip
        )
        ip = ip[:10] + struct.pack("!H", checksum(ip)) + ip[12:]
    return ip + tcp[:16] + struct.pack("!H", csum) + tcp[18:]


def decode_packet(packet: bytes | bytearray | memoryview) -> Packet:
    """Validate and parse one TCP/IP packet; ``MalformedPacket`` if anything is off."""
    data = bytes(packet)
    if not data:
        raise MalformedPacket("empty packet")
    version = data[0] >> 4
    if version == 4:
        if len(data) < 20:
            raise MalformedPacket("truncated IPv4 header")
        vihl, _, total, _, frag, _, proto, _, sip, dip = _IP4.unpack_from(data)
        ihl = (vihl & 0x0F) * 4
        if ihl < 20 or total < ihl or total > len(data):
            raise MalformedPacket("IPv4 lengths do not add up")
        if checksum(data[:ihl]) != 0:
            raise MalformedPacket("bad IPv4 header checksum")
        if frag & 0x3FFF:  # MF set or a nonzero offset: emutcp does not reassemble
            raise MalformedPacket("IPv4 fragment")
        tcp = data[ihl:total]
        src_ip, dst_ip = _text(sip), _text(dip)
        pseudo = sip + dip + struct.pack("!BBH", 0, PROTO_TCP, len(tcp))
    elif version == 6:
        if len(data) < 40:
            raise MalformedPacket("truncated IPv6 header")
        _, plen, proto, _, sip, dip = _IP6.unpack_from(data)
        if 40 + plen > len(data):
            raise MalformedPacket("IPv6 payload length exceeds the packet")
        tcp = data[40 : 40 + plen]
        src_ip, dst_ip = _text(sip), _text(dip)
        pseudo = sip + dip + struct.pack("!II", len(tcp), PROTO_TCP)
    else:
        raise MalformedPacket(f"IP version {version}")
    if proto != PROTO_TCP:
        raise MalformedPacket(f"IP protocol {proto} is not TCP")
    if len(tcp) < 20:
        raise MalformedPacket("truncated TCP header")
    sport, dport, seq, ack, off_flags, window, _, _ = _TCP.unpack_from(tcp)
    offset = (off_flags >> 12) * 4
    if offset < 20 or offset > len(tcp):
        raise MalformedPacket("bad TCP data offset")
    if checksum(pseudo + tcp) != 0:
        raise MalformedPacket("bad TCP checksum")
    options = decode_options(memoryview(tcp)[20:offset])
    seg = Segment(sport, dport, seq, ack, off_flags & 0xFF, window, options, tcp[offset:])
    return Packet((src_ip, sport), (dst_ip, dport), seg)
