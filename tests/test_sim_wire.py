"""``sim.wire.sized_exactly`` is ``len(encode_segment(seg))``, for any segment.

The simulator sizes segments without encoding them; these properties pin its
arithmetic to the encoder over random segments with msgpack's edge values
(each int width's boundaries, every bin header, nil and empty options, SACK
blocks, timestamps, SYN options), and over segments whose CRC packs narrower
than 5 bytes (found by search, as 1 in 65,536 segments has one).
"""

from __future__ import annotations

import zlib

from hypothesis import given, settings
from hypothesis import strategies as st

from emutcp.core.segment import NO_OPTIONS, Options, Segment, encode_segment
from emutcp.sim.payload_crc import _SHIFTS, MAX_LENGTHS, MIN_LENGTH, payload_crc
from emutcp.sim.wire import sized_exactly, wire_size

EDGES = [0, 1, 127, 128, 255, 256, 65535, 65536, 2**32 - 1]
u16 = st.sampled_from([v for v in EDGES if v < 65536]) | st.integers(0, 65535)
u32 = st.sampled_from(EDGES) | st.integers(0, 2**32 - 1)
payload_sizes = st.sampled_from([0, 1, 127, 128, 255, 256, 1400, 65535, 65536]) | st.integers(
    0, 3000
)

options = st.one_of(
    st.just(NO_OPTIONS),
    st.just(Options()),  # equal to NO_OPTIONS, not the same object: packs as nil
    st.builds(
        Options,
        mss=st.none() | st.sampled_from([1, 127, 128, 255, 256, 536, 1400, 65535]),
        wscale=st.none() | st.integers(0, 14),
        sack_permitted=st.booleans(),
        sack_blocks=st.lists(st.tuples(u32, u32), max_size=4).map(tuple),
        timestamps=st.none() | st.tuples(u32, u32),
    ),
)


@st.composite
def segments(draw: st.DrawFn) -> Segment:
    n = draw(payload_sizes)
    fill = draw(st.sampled_from([b"\0", b"\xff", b"x"]))
    return Segment(
        draw(u16),
        draw(u16),
        draw(u32),
        draw(u32),
        draw(st.sampled_from([0x02, 0x12, 0x10, 0x11, 0x18, 0x04, 0x14, 0xD2])),
        draw(u16),
        draw(options),
        fill * n,
    )


@settings(max_examples=400, deadline=None)
@given(segments())
def test_sized_exactly_is_the_encoded_size(seg: Segment) -> None:
    data = encode_segment(seg)
    assert sized_exactly(seg).size == len(data)
    assert 0 <= wire_size(seg) - len(data) <= 4  # the 5-byte-CRC estimate


def test_sized_exactly_follows_a_crc_packed_narrower_than_five_bytes() -> None:
    """A CRC below 0x10000 packs in 3 bytes or fewer (1 segment in 65,536):
    search sequence numbers for one and check the size follows the CRC."""
    opts = Options(timestamps=(7, 9))
    for seq in range(1_000_000):
        seg = Segment(40000, 80, seq, 1, 0x10, 4000, opts, bytes(1400))
        data = encode_segment(seg)
        if data[-5] != 0xCE:  # not a uint32: the CRC packed narrower
            break
    else:  # pragma: no cover
        raise AssertionError("no narrow CRC in a million segments")
    assert sized_exactly(seg).size == len(data)
    assert wire_size(seg) - len(data) in (2, 3, 4)


@settings(max_examples=300, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.sampled_from([0, 1, 255, 256, 257, 1400, 1448, 9000]),
            st.sampled_from([b"\0", b"\xff", b"ab"]),
            u32,
        ),
        min_size=1,
        max_size=12,
    )
)
def test_payload_crc_is_zlib_crc32(calls: list[tuple[int, bytes, int]]) -> None:
    """Repeated, alternating and new payloads of each length, from any running CRC."""
    for n, fill, running in calls:
        payload = (fill * n)[:n]
        assert payload_crc(payload, running) == zlib.crc32(payload, running)
        assert payload_crc(bytes(payload), running) == zlib.crc32(payload, running)  # a copy


def test_payload_crc_keeps_a_bounded_number_of_lengths() -> None:
    saved = dict(_SHIFTS)
    try:
        for n in range(MIN_LENGTH, MIN_LENGTH + MAX_LENGTHS + 10):
            payload = bytes(n)
            assert payload_crc(payload, n) == zlib.crc32(payload, n)
            assert payload_crc(payload, n + 1) == zlib.crc32(payload, n + 1)
        assert len(_SHIFTS) == MAX_LENGTHS
    finally:
        _SHIFTS.clear()
        _SHIFTS.update(saved)
