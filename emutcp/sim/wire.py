"""Segments on simulated links without msgpack: ``WireSegment`` and ``wire_size``.

On a simulated link nothing reads the bytes of a segment unless a capture, a
corruption or truncation impairment needs them; the link model needs only the
datagram's size (serialization delay, queue bytes, MTU).  ``WireSegment``
carries the ``Segment`` object itself and answers ``len()`` with the size
``encode_segment`` would produce, computed from msgpack's sizing rules.

The one field whose width depends on the bytes is the trailing CRC32: packed
in msgpack's shortest form it takes 5 bytes when the CRC is above 0xFFFF,
which is all but 1 in 65,536 segments; ``wire_size`` assumes 5.  So a
simulated size is exact, or up to 4 bytes too large for 1 segment in 65,536
(at 10 Mbit/s that segment leaves the queue up to 3.2 us later).
``sized_exactly`` is exact: it packs only the fields before the payload (a
few dozen bytes), takes the CRC over those, the payload's bin header and the
payload in place (``zlib.crc32``'s running form: the payload is neither
packed nor copied; a payload repeated from the last one of its length costs
no pass at all, ``payload_crc.py``), and adds up the sizes; the CRC's own width then follows
from its value.  The CRC is the one part that needs the bytes: its width
depends on them.  ``SimNetwork(exact_sizes=False)`` uses ``wire_size`` and
never touches msgpack or zlib.
"""

from __future__ import annotations

from typing import Any, Final

from ..core.crc import crc32
from ..core.segment import NO_OPTIONS, Options, Segment, encode_head
from ..core.segment import bin_header as _wide_bin_header
from ..core.segment import carries_data as _bytes_carry_data
from .payload_crc import MIN_LENGTH, payload_crc

CRC_BYTES: Final = 5  # 0xce + 4 bytes: every CRC above 0xFFFF


def _uint(v: int) -> int:
    """Bytes msgpack packs a non-negative int into."""
    if v < 0x80:
        return 1
    if v < 0x100:
        return 2
    if v < 0x10000:
        return 3
    if v < 0x1_0000_0000:
        return 5
    return 9


def _options_size(o: Options) -> int:
    if o is NO_OPTIONS or o == NO_OPTIONS:
        return 1  # nil
    size = 1 + 1  # fixarray of 5, sack_permitted (a bool)
    size += 1 if o.mss is None else _uint(o.mss)
    size += 1 if o.wscale is None else _uint(o.wscale)
    if o.sack_blocks:
        size += 1 + sum(1 + _uint(a) + _uint(b) for a, b in o.sack_blocks)
    else:
        size += 1
    ts = o.timestamps
    size += 1 if ts is None else 1 + _uint(ts[0]) + _uint(ts[1])
    return size


def wire_size(seg: Segment) -> int:
    """``len(encode_segment(seg))``, assuming a 5-byte CRC (see the module docstring)."""
    n = len(seg.payload)
    bin_header = 2 if n < 0x100 else 3 if n < 0x10000 else 5
    return (
        1  # fixarray of 10
        + 1  # format version
        + _uint(seg.src_port)
        + _uint(seg.dst_port)
        + _uint(seg.seq)
        + _uint(seg.ack)
        + _uint(seg.flags)
        + _uint(seg.window)
        + _options_size(seg.options)
        + bin_header
        + n
        + CRC_BYTES
    )


_crc32: Final = crc32
# msgpack's bin 8 header (0xc4, length) for every payload shorter than 256 bytes.
_BIN8: tuple[bytes, ...] = tuple(bytes((0xC4, n)) for n in range(0x100))


def sized_exactly(seg: Segment) -> WireSegment:
    """A WireSegment whose size is ``len(encode_segment(seg))``, without
    encoding the segment (see the module docstring)."""
    payload = seg.payload
    n = len(payload)
    # Elements [0]..[7] as encode_segment packs them, behind a fixarray header
    # of one byte (8 elements here, 10 there: one byte either way).
    head = encode_head(seg)
    bin_header = _BIN8[n] if n < 0x100 else _wide_bin_header(n)
    # The CRC covers the encoded elements [0]..[8], header byte excluded.
    crc = _crc32(bin_header, _crc32(head[1:]))
    crc = _crc32(payload, crc) if n < MIN_LENGTH else payload_crc(payload, crc)
    return WireSegment(seg, len(head) + len(bin_header) + n + _uint(crc))


class WireSegment:
    """A segment in flight on a simulated link: the object, and its wire size
    (computed by ``wire_size`` unless given)."""

    __slots__ = ("seg", "size")

    def __init__(self, seg: Segment, size: int | None = None) -> None:
        self.seg = seg
        self.size = wire_size(seg) if size is None else size

    def __len__(self) -> int:
        return self.size

    def __repr__(self) -> str:
        return f"<WireSegment {self.size} B {self.seg!r}>"


def carries_data(data: Any) -> bool:
    """Whether a datagram, a WireSegment or bytes, is a segment with payload (what
    a link's scripted ``drop`` list counts: ``core.segment.carries_data``)."""
    if type(data) is WireSegment:
        return bool(data.seg.payload)
    return _bytes_carry_data(data)
