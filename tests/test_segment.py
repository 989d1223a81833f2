"""The wire format: round trips, and hostile bytes only ever raise MalformedSegment."""

from __future__ import annotations

import contextlib
import zlib

import msgpack
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from emutcp.core.segment import (
    ACK,
    FIN,
    MAX_PAYLOAD,
    RST,
    SYN,
    MalformedSegment,
    Options,
    Segment,
    _decode_usual,
    decode_segment,
    encode_head,
    encode_segment,
    looks_like_segment,
)

u32 = st.integers(0, 2**32 - 1)
u16 = st.integers(0, 65_535)
options = st.one_of(
    st.just(Options()),
    st.builds(
        Options,
        mss=st.none() | st.integers(1, 65_535),
        wscale=st.none() | st.integers(0, 14),
        sack_permitted=st.booleans(),
        sack_blocks=st.lists(st.tuples(u32, u32), max_size=4).map(tuple),
        timestamps=st.none() | st.tuples(u32, u32),
    ),
)
flags = st.sampled_from([ACK, SYN, SYN | ACK, FIN | ACK, RST, RST | ACK, ACK | 0x08, 0xC0 | ACK])
segments = st.builds(Segment, u16, u16, u32, u32, flags, u16, options, st.binary(max_size=1400))


@given(segments)
def test_round_trip(seg):
    assert decode_segment(encode_segment(seg)) == seg


def _width_edges(top: int) -> st.SearchStrategy[int]:
    """Ints at msgpack's width boundaries (fixint, uint 8/16/32) and between."""
    edges = [v for v in (0, 1, 127, 128, 255, 256, 65_535, 65_536, top) if v <= top]
    return st.sampled_from(edges) | st.integers(0, top)


# The usual segments (no options, timestamps alone) at every width, which the
# compiled build reads byte by byte, and everything else.
edge32, edge16 = _width_edges(2**32 - 1), _width_edges(65_535)
usual_options = st.one_of(
    st.just(Options()),
    st.builds(Options, timestamps=st.tuples(edge32, edge32)),
    st.builds(Options, timestamps=st.none() | st.tuples(edge32, edge32), mss=st.integers(1, 9000)),
)
edge_segments = st.builds(
    Segment,
    edge16,
    edge16,
    edge32,
    edge32,
    flags,
    edge16,
    usual_options,
    st.sampled_from([b"", b"x", bytes(255), bytes(256), bytes(1400), bytes(65_536)]),
)


def _fields(seg: Segment) -> list[object]:
    o = seg.options
    raw_options = (
        None
        if o == Options()
        else [
            o.mss,
            o.wscale,
            o.sack_permitted,
            [list(b) for b in o.sack_blocks] if o.sack_blocks else None,
            list(o.timestamps) if o.timestamps is not None else None,
        ]
    )
    return [1, seg.src_port, seg.dst_port, seg.seq, seg.ack, seg.flags, seg.window, raw_options]


@given(edge_segments | segments)
def test_the_encoding_is_exactly_what_msgpack_packs(seg):
    """Byte for byte as msgpack (use_bin_type) packs the module docstring's
    array: the same seed gives the same bytes on every build and version."""
    packed = msgpack.packb([*_fields(seg), seg.payload, 0], use_bin_type=True)
    between = packed[1:-1]  # without the array header and the CRC placeholder
    expected = b"\x9a" + between + msgpack.packb(zlib.crc32(between))
    assert encode_segment(seg) == expected
    assert encode_head(seg) == msgpack.packb(_fields(seg), use_bin_type=True)


@given(st.binary(max_size=2000))
def test_random_bytes_only_raise_malformed(data):
    with contextlib.suppress(MalformedSegment):
        decode_segment(data)


@given(segments, st.data())
def test_truncation_and_bit_flips_are_rejected(seg, data):
    wire = bytearray(encode_segment(seg))
    cut = data.draw(st.integers(0, len(wire) - 1))
    with pytest.raises(MalformedSegment):
        decode_segment(bytes(wire[:cut]))
    bit = data.draw(st.integers(0, len(wire) * 8 - 1))
    wire[bit // 8] ^= 1 << (bit % 8)
    try:
        got = decode_segment(bytes(wire))
    except MalformedSegment:
        return
    # CRC32 catches every single-bit error; a flip that still decodes must be a no-op.
    assert got == seg  # pragma: no cover


@settings(max_examples=50)
@given(st.integers(1, 100_000))
def test_deeply_nested_arrays_are_rejected(depth):
    data = b"\x91" * depth + b"\x00"
    with pytest.raises(MalformedSegment):
        decode_segment(data)


def _frame(fields) -> bytes:
    """Encode arbitrary fields with a correct CRC, to test the type checks."""
    import zlib

    body = msgpack.packb(list(fields), use_bin_type=True)[1:]
    head = bytes([0x90 + len(fields) + 1])
    return head + body + msgpack.packb(zlib.crc32(body))


GOOD = [1, 1000, 80, 5, 6, ACK, 1024, None, b"abc"]


def test_good_frame_decodes():
    assert decode_segment(_frame(GOOD)).payload == b"abc"


@pytest.mark.parametrize(
    "index, value, why",
    [
        (0, 2, "version"),
        (1, True, "bool for int"),
        (1, 70_000, "port range"),
        (3, -1, "seq range"),
        (4, 2**32, "ack range"),
        (5, 0x100, "unknown flag bit"),
        (5, SYN | FIN, "SYN+FIN"),
        (5, SYN | RST, "SYN+RST"),
        (6, 70_000, "window range"),
        (6, 1.5, "float"),
        (7, [1, 2], "options shape"),
        (7, [1400, 15, False, None, None], "wscale range"),
        (7, [None, None, 1, None, None], "sack_permitted type"),
        (7, [None, None, False, [[1, 2]] * 5, None], "too many SACK blocks"),
        (8, "text", "str payload"),
        (8, [1], "array payload"),
    ],
)
def test_wrong_types_and_ranges_are_rejected(index, value, why):
    fields = list(GOOD)
    fields[index] = value
    with pytest.raises(MalformedSegment):
        decode_segment(_frame(fields))


def test_maps_and_ext_types_are_rejected():
    with pytest.raises(MalformedSegment):
        decode_segment(msgpack.packb({"a": 1}))
    with pytest.raises(MalformedSegment):
        decode_segment(msgpack.packb(msgpack.ExtType(1, b"x" * 10)))
    fields = list(GOOD)
    fields[8] = msgpack.ExtType(5, b"abc")
    with pytest.raises(MalformedSegment):
        decode_segment(_frame(fields))


def test_crc_mismatch_is_rejected():
    wire = bytearray(_frame(GOOD))
    wire[-1] ^= 0x01
    with pytest.raises(MalformedSegment, match="CRC"):
        decode_segment(bytes(wire))


def test_payload_over_mss_and_huge_datagrams_are_rejected():
    seg = Segment(1, 2, 3, 4, ACK, 5, payload=b"x" * 1500)
    with pytest.raises(MalformedSegment):
        decode_segment(encode_segment(seg), max_payload=1400)
    with pytest.raises(MalformedSegment, match="size limit"):
        decode_segment(b"\x9a\x01" + b"\x00" * 100_000)
    # A header that declares a huge bin length without the bytes behind it.
    with pytest.raises(MalformedSegment):
        decode_segment(b"\x9a\x01\xcd\x03\xe8\x50\x05\x06\x10\xcd\x04\x00\xc0\xc6\xff\xff\xff\xff")


def test_segments_pickle_copy_and_match_like_the_dataclasses_they_were():
    """Values survive pickle and copy (traces sent to other processes), in the
    pure and the compiled build, and match statements take them positionally."""
    import copy
    import pickle

    from emutcp.core.congestion import AckSample

    opts = Options(mss=1400, wscale=7, sack_permitted=True, timestamps=(1, 2))
    seg = Segment(1, 2, 3, 4, 0x10, 5, opts, b"data", ecn=3)
    for clone in (pickle.loads(pickle.dumps(seg)), copy.deepcopy(seg), copy.copy(seg)):
        assert clone == seg and clone.ecn == 3 and clone.options == opts
    sample = pickle.loads(pickle.dumps(AckSample(1.0, 1400, 0.05, 10, 20, 10, False)))
    assert (sample.acked, sample.rtt, sample.in_flight) == (1400, 0.05, 10)
    assert "acked=1400" in repr(sample)
    match seg:
        case Segment(1, 2, seq, ack, options=Options(mss=mss)):
            assert (seq, ack, mss) == (3, 4, 1400)
        case _:
            raise AssertionError("no match")


class _OtherBytes(bytes):
    """Bytes that are not of type bytes: decode_segment's general path."""


def _outcome(data: bytes) -> object:
    try:
        return decode_segment(data)
    except MalformedSegment as exc:
        return str(exc)


@given(edge_segments | segments, st.data())
def test_the_byte_reader_decides_as_msgpack_does(seg, data):
    """decode_segment reads the usual segments byte by byte (compiled); a
    bytes subclass takes the general path (msgpack and the checks).  Both decide alike on every
    segment and on damaged ones: the same Segment or the same reason."""
    wire = encode_segment(seg)
    cut = data.draw(st.integers(13, len(wire)))
    bit = data.draw(st.integers(0, len(wire) * 8 - 1))
    flipped = bytearray(wire)
    flipped[bit // 8] ^= 1 << (bit % 8)
    for variant in (wire, wire[:cut], bytes(flipped)):
        general = _outcome(_OtherBytes(variant))
        assert _outcome(variant) == general
        # The compiled build's byte reader (used only there), called directly:
        # a Segment only where the general path gives the same one.
        for check_crc in (True, False):
            if not looks_like_segment(variant):
                continue  # (its caller's precondition)
            usual = _decode_usual(variant, MAX_PAYLOAD, check_crc)
            if check_crc:
                assert usual is None or usual == general
            elif usual is not None and isinstance(general, Segment):
                assert usual == general
    if len(seg.payload) <= 1400:  # (the 64 KiB edge is beyond any datagram)
        assert _outcome(wire) == seg
