"""The TCP/IP codec (emutcp/wire/tcpip.py): round trips, checksums, options as
Linux writes them, hostile packets, and tshark's reading of what it writes."""

from __future__ import annotations

import shutil
import struct
import subprocess

import pytest
from hypothesis import given
from hypothesis import strategies as st
from test_pcap import needs_tshark

from emutcp.core.segment import ACK, PSH, SYN, Options, Segment
from emutcp.wire.tcpip import (
    MalformedPacket,
    checksum,
    decode_options,
    decode_packet,
    encode_packet,
)

U32 = st.integers(0, 2**32 - 1)
V4 = st.tuples(st.integers(1, 223), st.integers(0, 255), st.integers(0, 255), st.integers(1, 254))
ADDR4 = V4.map(lambda t: ".".join(map(str, t)))
ADDR6 = st.integers(1, 2**128 - 1).map(lambda n: __import__("ipaddress").IPv6Address(n).compressed)
PORT = st.integers(1, 65_535)


@st.composite
def options(draw):
    ts = draw(st.none() | st.tuples(U32, U32))
    room = 40 - (12 if ts else 0) - 4
    blocks = draw(st.lists(st.tuples(U32, U32), max_size=min(4, room // 8)))
    return Options(
        mss=draw(st.none() | st.integers(1, 65_535)),
        wscale=draw(st.none() | st.integers(0, 14)),
        sack_permitted=draw(st.booleans()),
        sack_blocks=tuple(blocks),
        timestamps=ts,
    )


@st.composite
def segments(draw):
    o = draw(options())
    # The encoder keeps the SACK blocks that fit in 40 option bytes (RFC 2018 3).
    used = 4 * (o.mss is not None) + 4 * o.sack_permitted + 4 * (o.wscale is not None)
    used += 12 * (o.timestamps is not None)
    o = o.replace(sack_blocks=o.sack_blocks[: (40 - used - 4) // 8])
    return Segment(
        draw(PORT),
        draw(PORT),
        draw(U32),
        draw(U32),
        draw(st.integers(0, 0xFF)),
        draw(st.integers(0, 65_535)),
        o,
        draw(st.binary(max_size=300)),
    )


def reference_checksum(data: bytes) -> int:
    if len(data) % 2:
        data += b"\0"
    total = sum(struct.unpack(f"!{len(data) // 2}H", data))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF


@given(st.binary(max_size=3000))
def test_fast_checksum_equals_rfc1071_loop(data):
    assert checksum(data) == reference_checksum(data)


@given(segments(), st.sampled_from([ADDR4, ADDR6]).flatmap(lambda a: st.tuples(a, a)))
def test_round_trip_ipv4_and_ipv6(seg, addrs):
    src, dst = (addrs[0], seg.src_port), (addrs[1], seg.dst_port)
    pkt = encode_packet(seg, src, dst, ident=7)
    got = decode_packet(pkt)
    assert got.segment == seg
    assert got.src[1] == src[1] and got.dst[1] == dst[1]
    assert __import__("ipaddress").ip_address(got.src[0]) == __import__("ipaddress").ip_address(
        src[0]
    )


@given(segments(), st.data())
def test_any_single_bit_flip_is_refused_or_harmless(seg, data):
    pkt = bytearray(encode_packet(seg, ("10.77.0.1", seg.src_port), ("10.77.0.2", seg.dst_port)))
    bit = data.draw(st.integers(0, len(pkt) * 8 - 1))
    pkt[bit // 8] ^= 1 << (bit % 8)
    # Every bit is covered by a checksum (IPv4 header, TCP pseudo-header and
    # segment) except the IPv4 ident/TOS/TTL, which carry nothing emutcp uses.
    try:
        got = decode_packet(bytes(pkt))
    except MalformedPacket:
        return
    assert got.segment == seg
    assert bit // 8 in (1, 4, 5, 8)  # TOS, ident, TTL (header checksum: offset 10-11 fails)


def test_linux_syn_options_parse():
    # A Linux SYN's options: MSS 1460, SACK-permitted, timestamps, NOP, wscale 7.
    raw = bytes.fromhex("020405b40402080a0012d687000000000103030a")
    o = decode_options(raw)
    assert o == Options(mss=1460, wscale=10, sack_permitted=True, timestamps=(0x12D687, 0))
    # Unknown kinds (TFO cookie request, kind 34) are skipped by their length.
    assert decode_options(b"\x22\x02" + raw).mss == 1460
    # A window-scale shift above 14 is used as 14 (RFC 7323 2.3).
    assert decode_options(b"\x03\x03\x0f\x00").wscale == 14


@pytest.mark.parametrize(
    "raw",
    [b"\x02\x04\x05", b"\x02\x00", b"\x03\x04\x00\x00", b"\x05\x03\x00", b"\x08\x02"],
)
def test_bad_option_lengths_are_malformed(raw):
    with pytest.raises(MalformedPacket):
        decode_options(raw)


def test_hostile_packets_raise_only_malformed():
    good = encode_packet(Segment(1, 2, 3, 4, ACK, 5), ("10.0.0.1", 1), ("10.0.0.2", 2))
    cases = [
        b"",
        b"\x45",
        b"\x75" + good[1:],  # IP version 7
        good[:9] + b"\x11" + good[10:],  # UDP (the header checksum fails first, either way)
        good[:6] + b"\x20\x00" + good[8:],  # "more fragments"
        good[:30],  # truncated
        good[:32] + b"\x10" + good[33:],  # data offset 4 words (< 5)
    ]
    for pkt in cases:
        with pytest.raises(MalformedPacket):
            decode_packet(pkt)


@needs_tshark
def test_tshark_reads_ipv4_and_ipv6_segments_as_we_wrote_them(tmp_path):
    seg = Segment(
        40_000,
        8080,
        1000,
        2000,
        SYN | ACK,
        65_535,
        Options(mss=1460, wscale=7, sack_permitted=True, timestamps=(11, 22)),
    )
    data = Segment(40_000, 8080, 1001, 2001, ACK | PSH, 512, Options(sack_blocks=((5, 9),)), b"hi")
    packets = [
        encode_packet(seg, ("10.77.0.2", 40_000), ("10.77.0.1", 8080)),
        encode_packet(data, ("fd00::2", 40_000), ("fd00::1", 8080)),
    ]
    path = tmp_path / "raw.pcap"
    with open(path, "wb") as f:  # classic pcap, LINKTYPE_RAW (101): v4 and v6 packets
        f.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65_535, 101))
        for i, p in enumerate(packets):
            f.write(struct.pack("<IIII", i, 0, len(p), len(p)) + p)
    tshark = shutil.which("tshark")
    fields = [
        "ip.version",
        "ipv6.version",
        "tcp.checksum.status",
        "tcp.flags.str",
        "tcp.options.mss_val",
        "tcp.options.wscale.shift",
        "tcp.options.sack_perm",
        "tcp.options.timestamp.tsval",
        "tcp.options.sack_le",
        "tcp.len",
    ]
    cmd = [tshark, "-r", str(path), "-o", "tcp.check_checksum:TRUE"]
    cmd += ["-o", "tcp.relative_sequence_numbers:FALSE", "-T", "fields"]
    for name in fields:
        cmd += ["-e", name]
    out = subprocess.run(cmd, capture_output=True, text=True, check=True, timeout=60).stdout
    rows = [line.split("\t") for line in out.splitlines()]
    assert len(rows) == 2
    v4, v6 = (dict(zip(fields, row, strict=True)) for row in rows)
    assert v4["ip.version"] == "4" and v6["ipv6.version"] == "6"
    assert (
        v4["tcp.checksum.status"] == v6["tcp.checksum.status"] == "1"
    )  # 1: good (0 bad, 2 unverified)
    assert "S" in v4["tcp.flags.str"] and "A" in v4["tcp.flags.str"]
    assert v4["tcp.options.mss_val"] == "1460" and v4["tcp.options.wscale.shift"] == "7"
    assert v4["tcp.options.sack_perm"] and v4["tcp.options.timestamp.tsval"] == "11"
    assert v6["tcp.options.sack_le"] == "5" and v6["tcp.len"] == "2"
