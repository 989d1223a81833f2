"""The TCP segment and its wire format: one msgpack array per UDP datagram.

Layout (a msgpack fixarray of 10 elements, positional so it is small and fast)::

    [0] version      int, always 1 (FORMAT_VERSION)
    [1] src_port     int 0..65535
    [2] dst_port     int 0..65535
    [3] seq          int 0..2**32-1
    [4] ack          int 0..2**32-1
    [5] flags        int bit set, TCP's own bit positions: FIN=1 SYN=2 RST=4
                     PSH=8 ACK=16 URG=32 ECE=64 CWR=128; unknown bits rejected
    [6] window       int 0..65535, scaled by the peer's window-scale shift
    [7] options      nil, or [mss, wscale, sack_permitted, sack_blocks, timestamps]
                       mss            nil | int 1..65535
                       wscale         nil | int 0..14           (RFC 7323 2.3)
                       sack_permitted bool                      (RFC 2018 2)
                       sack_blocks    nil | [[left, right], ...] at most 4 (RFC 2018 3)
                       timestamps     nil | [tsval, tsecr]      (RFC 7323 3)
    [8] payload      bin, at most the receiver's MSS
    [9] crc32        int, zlib.crc32 of the encoded bytes of elements [0]..[8]

RFC 9293 3.1 makes the checksum mandatory; UDP's may be zero and emulated links
have none, so the CRC covers every field.  ``decode_segment`` validates strictly
and raises only ``MalformedSegment``: a datagram from the network is hostile
until proven otherwise (size first, then msgpack, whose limits ``unpackb``
sets to the size of the input, then exact types and ranges, then the CRC).
"""

from __future__ import annotations

import functools
import struct
from collections.abc import Callable
from enum import IntFlag
from typing import Any, Final

import msgpack

from .crc import crc32

FORMAT_VERSION: Final = 1
FIELD_COUNT: Final = 10
OPTION_COUNT: Final = 5
MAX_SACK_BLOCKS: Final = 4
# A segment's framing without payload never exceeds this many bytes.
MAX_HEADER_BYTES: Final = 160
# Largest payload any emutcp endpoint accepts (a 64 KiB datagram minus framing).
MAX_PAYLOAD: Final = 65_535 - 8 - 20 - MAX_HEADER_BYTES
_U32: Final = 0xFFFFFFFF


class Flags(IntFlag):
    FIN = 0x01
    SYN = 0x02
    RST = 0x04
    PSH = 0x08
    ACK = 0x10
    URG = 0x20
    ECE = 0x40
    CWR = 0x80


# The bits as plain ints, Final so that compiled code (mypyc) inlines them.
FIN: Final = 0x01
SYN: Final = 0x02
RST: Final = 0x04
PSH: Final = 0x08
ACK: Final = 0x10
URG: Final = 0x20
ECE: Final = 0x40
CWR: Final = 0x80
_TRACED_FLAGS: Final = (("SYN", SYN), ("FIN", FIN), ("RST", RST), ("PSH", PSH), ("ACK", ACK))
_KNOWN_FLAGS: Final = 0xFF


class MalformedSegment(ValueError):
    """A datagram that is not a valid emutcp segment (dropped and counted)."""


# Options and Segment are values: compared and hashed by their fields, never
# changed after construction (their attributes are Final, which mypy enforces;
# ``replace`` makes a changed copy).  They are plain classes, not dataclasses:
# a mypyc-compiled dataclass still runs the dataclasses module's Python
# __init__ (about 850 ns), a plain class's __init__ compiles (about 60 ns).
class Options:
    """TCP options carried by a segment (RFC 9293 3.2, RFC 7323, RFC 2018)."""

    __slots__ = ("mss", "sack_blocks", "sack_permitted", "timestamps", "wscale")
    # (two literals: mypy wants __match_args__ literal, and mypyc cannot read it back)
    __match_args__: Final = ("mss", "wscale", "sack_permitted", "sack_blocks", "timestamps")
    _FIELDS = ("mss", "wscale", "sack_permitted", "sack_blocks", "timestamps")

    def __init__(
        self,
        mss: int | None = None,
        wscale: int | None = None,
        sack_permitted: bool = False,
        sack_blocks: tuple[tuple[int, int], ...] = (),
        timestamps: tuple[int, int] | None = None,
    ) -> None:
        self.mss: Final = mss
        self.wscale: Final = wscale
        self.sack_permitted: Final = sack_permitted
        self.sack_blocks: Final = sack_blocks
        self.timestamps: Final = timestamps

    def _key(self) -> tuple[object, ...]:
        return (self.mss, self.wscale, self.sack_permitted, self.sack_blocks, self.timestamps)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Options):
            return NotImplemented
        return (
            self.timestamps == other.timestamps
            and self.sack_blocks == other.sack_blocks
            and self.mss == other.mss
            and self.wscale == other.wscale
            and self.sack_permitted == other.sack_permitted
        )

    def __hash__(self) -> int:
        return hash(self._key())

    def __repr__(self) -> str:
        fields = ", ".join(f"{n}={v!r}" for n, v in zip(self._FIELDS, self._key(), strict=True))
        return f"Options({fields})"

    def __reduce__(self) -> tuple[type[Options], tuple[object, ...]]:
        # pickle and copy rebuild through __init__ (a compiled class has no
        # writable __dict__ or slots for the default protocol to fill)
        return (Options, self._key())

    def replace(self, **changes: Any) -> Options:
        """A copy with ``changes`` (field=value) applied, as dataclasses.replace."""
        values: dict[str, Any] = dict(zip(self._FIELDS, self._key(), strict=True))
        values.update(changes)
        return Options(**values)


NO_OPTIONS: Final = Options()


class Segment:
    __slots__ = (
        "ack",
        "dst_port",
        "ecn",
        "flags",
        "options",
        "payload",
        "seq",
        "src_port",
        "window",
    )
    __match_args__: Final = (
        "src_port",
        "dst_port",
        "seq",
        "ack",
        "flags",
        "window",
        "options",
        "payload",
        "ecn",
    )
    _FIELDS = (
        "src_port",
        "dst_port",
        "seq",
        "ack",
        "flags",
        "window",
        "options",
        "payload",
        "ecn",
    )

    def __init__(
        self,
        src_port: int,
        dst_port: int,
        seq: int,
        ack: int,
        flags: int,
        window: int,
        options: Options = NO_OPTIONS,
        payload: bytes = b"",
        ecn: int = 0,
    ) -> None:
        self.src_port: Final = src_port
        self.dst_port: Final = dst_port
        self.seq: Final = seq
        self.ack: Final = ack
        self.flags: Final = flags
        self.window: Final = window
        self.options: Final = options
        self.payload: Final = payload
        # The ECN field of the datagram carrying it (RFC 3168 5): beside the
        # segment, not in its encoding (nor in ==); set by the sender for new data.
        self.ecn: Final = ecn

    def _key(self) -> tuple[object, ...]:
        """The fields that make two segments equal: all but ``ecn``."""
        return (
            self.src_port,
            self.dst_port,
            self.seq,
            self.ack,
            self.flags,
            self.window,
            self.options,
            self.payload,
        )

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Segment):
            return NotImplemented
        return (
            self.seq == other.seq
            and self.ack == other.ack
            and self.flags == other.flags
            and self.window == other.window
            and self.src_port == other.src_port
            and self.dst_port == other.dst_port
            and self.payload == other.payload
            and self.options == other.options
        )

    def __hash__(self) -> int:
        return hash(self._key())

    def __reduce__(self) -> tuple[type[Segment], tuple[object, ...]]:
        return (Segment, (*self._key(), self.ecn))  # as Options.__reduce__

    def replace(self, **changes: Any) -> Segment:
        """A copy with ``changes`` (field=value) applied, as dataclasses.replace."""
        values: dict[str, Any] = dict(zip(self._FIELDS, (*self._key(), self.ecn), strict=True))
        values.update(changes)
        return Segment(**values)

    @property
    def seg_len(self) -> int:
        """SEG.LEN: payload octets plus one for SYN and one for FIN (RFC 9293 3.3.1)."""
        return len(self.payload) + (self.flags & SYN and 1) + (self.flags & FIN and 1)

    def flag_names(self) -> str:
        """``SYN+ACK`` style name of the control bits, for traces."""
        return "+".join(name for name, bit in _TRACED_FLAGS if self.flags & bit) or "-"

    def __repr__(self) -> str:
        return (
            f"<Segment {self.src_port}->{self.dst_port} {self.flag_names()} seq={self.seq} "
            f"ack={self.ack} wnd={self.window} len={len(self.payload)}>"
        )


# The send path's constructors, kept as names.  Compiled code calls the classes
# themselves: a call through this alias is a generic call of the type object
# (mypyc sees a variable), several times the cost of a native constructor call.
make_segment: Final = Segment


def make_options(
    sack_blocks: tuple[tuple[int, int], ...], timestamps: tuple[int, int] | None
) -> Options:
    """``Options(sack_blocks=..., timestamps=...)``: no SYN options."""
    return Options(None, None, False, sack_blocks, timestamps)


# True when this module runs mypyc-compiled (docs/compiled.md).
COMPILED: Final = not __file__.endswith(".py")


_RawOptions = tuple[int | None, int | None, bool, list[list[int]] | None, list[int] | None]


def _encode_options(o: Options) -> _RawOptions | None:
    if o is NO_OPTIONS or (
        # o == NO_OPTIONS, field by field (a dataclass == builds two tuples)
        o.timestamps is None
        and not o.sack_blocks
        and o.mss is None
        and o.wscale is None
        and not o.sack_permitted
    ):
        return None
    return (
        o.mss,
        o.wscale,
        o.sack_permitted,
        [list(b) for b in o.sack_blocks] if o.sack_blocks else None,
        list(o.timestamps) if o.timestamps is not None else None,
    )


_packb: Final[Callable[[object], bytes]] = msgpack.Packer(use_bin_type=True, autoreset=True).pack
# Bound once: compiled code then loads a static instead of a module attribute per call.
_crc32: Final[Callable[..., int]] = crc32
_NIL: Final = 0xC0  # msgpack's nil
_unpackb: Final[Callable[..., Any]] = msgpack.unpackb
# msgpack's bin 8 headers, by length (use_bin_type=True packs bytes as bin).
_BIN8: Final = tuple(bytes((0xC4, n)) for n in range(256))
# A uint 32 (0xce): the CRC's form unless it is below 0x10000.
_pack_crc32: Final[Callable[[int, int], bytes]] = struct.Struct(">BI").pack


def encode_head(seg: Segment) -> bytes:
    """Elements [0]..[7] of ``seg``'s datagram, packed as a msgpack array of 8:
    the datagram's bytes after its one-byte header, up to the payload's bin
    header (an array of 8 and one of 10 both have a one-byte header).  Shared
    with the simulator, which sizes segments without encoding them."""
    return _packb(
        (
            FORMAT_VERSION,
            seg.src_port,
            seg.dst_port,
            seg.seq,
            seg.ack,
            seg.flags,
            seg.window,
            _encode_options(seg.options),
        )
    )


def bin_header(n: int) -> bytes:
    """msgpack's header of a bin of ``n`` bytes (bin 8, 16 or 32)."""
    if n < 0x100:
        return _BIN8[n]
    if n < 0x10000:
        return b"\xc5" + n.to_bytes(2, "big")
    return b"\xc6" + n.to_bytes(4, "big")


def encode_segment(seg: Segment) -> bytes:
    """Serialize ``seg`` into one datagram (see the module docstring).

    Elements [0]..[7] are packed as an array of 8 (its one-byte header swapped
    for the fixarray-of-10 one); the payload's bin header is written here as
    msgpack writes it, so the payload is copied once (into the datagram), and
    the CRC runs over the header bytes and then the payload."""
    payload = seg.payload
    n = len(payload)
    fields = encode_head(seg)[1:] + (_BIN8[n] if n < 0x100 else bin_header(n))
    crc = _crc32(payload, _crc32(fields)) if n else _crc32(fields)
    tail = _pack_crc32(0xCE, crc) if crc > 0xFFFF else _packb(crc)
    return b"".join((b"\x9a", fields, payload, tail))


def _int(v: object, lo: int, hi: int, what: str) -> int:
    # type() is deliberate: a bool is an int subclass and must not pass as one.
    if type(v) is not int or not lo <= v <= hi:
        raise MalformedSegment(f"{what} must be an int in [{lo}, {hi}], got {v!r:.40}")
    return v


def _decode_options(raw: object) -> Options:
    if raw is None:
        return NO_OPTIONS
    if type(raw) is not tuple or len(raw) != OPTION_COUNT:
        raise MalformedSegment("options must be nil or an array of 5")
    mss, wscale, sack_ok, blocks, ts = raw
    if mss is not None:
        _int(mss, 1, 65_535, "MSS option")
    if wscale is not None:
        _int(wscale, 0, 14, "window scale option")
    if type(sack_ok) is not bool:
        raise MalformedSegment("sack_permitted must be a bool")
    sack_blocks: tuple[tuple[int, int], ...] = ()
    if blocks is not None:
        if type(blocks) is not tuple or not 1 <= len(blocks) <= MAX_SACK_BLOCKS:
            raise MalformedSegment("sack_blocks must be an array of 1..4 blocks")
        for b in blocks:
            if type(b) is not tuple or len(b) != 2:
                raise MalformedSegment("a SACK block must be [left, right]")
            _int(b[0], 0, _U32, "SACK left edge")
            _int(b[1], 0, _U32, "SACK right edge")
        sack_blocks = blocks
    timestamps = None
    if ts is not None:
        if type(ts) is not tuple or len(ts) != 2:
            raise MalformedSegment("timestamps must be [tsval, tsecr]")
        timestamps = (_int(ts[0], 0, _U32, "TSval"), _int(ts[1], 0, _U32, "TSecr"))
    return Options(mss, wscale, sack_ok, sack_blocks, timestamps)


# The smallest encoding: fixarray header, 9 one-byte fields, nil options, empty
# bin (2 bytes) and a one-byte CRC.
MIN_DATAGRAM: Final = 13


def looks_like_segment(data: bytes | bytearray | memoryview) -> bool:
    """A cheap first filter for floods of junk: the fixarray-of-10 header byte and
    format version 1 must lead every segment, and the size must be plausible."""
    return len(data) >= MIN_DATAGRAM and data[0] == 0x9A and data[1] == FORMAT_VERSION


def plausible_segment(data: bytes | bytearray | memoryview) -> bool:
    """The junk filter for a transport: ``looks_like_segment`` and a trailing CRC
    (element [9]) that matches, checked without decoding msgpack.

    The CRC is the last element, packed in msgpack's shortest form: 0xce and 4
    big-endian bytes (all but 1 in 65,536 segments), or 0xcd/0xcc and 2/1
    bytes, or a positive fixint.  Each ending that could be one (at most three
    at once) is tried against zlib.crc32 of the bytes between the header byte
    and it.  Every encoded segment passes; junk, even junk that copies a
    segment's first bytes, passes with a probability of about 2**-32 per try."""
    n = len(data)
    if n < MIN_DATAGRAM or data[0] != 0x9A or data[1] != FORMAT_VERSION:
        return False
    last = data[n - 1]
    u32, u16 = data[n - 5] == 0xCE, data[n - 3] == 0xCD
    u8 = data[n - 2] == 0xCC and last >= 0x80
    if not (u32 or u16 or u8 or last < 0x80):
        return False  # no ending can be a CRC: no need to hash anything
    view = data if type(data) is memoryview else memoryview(data)  # (a transport's is one)
    # The bytes [1, n-5) are covered whatever the CRC's size: hash them once.
    prefix = _crc32(view[1 : n - 5])
    # (The CRC's bytes read one by one: compiled, cheaper than a slice and
    # a call of int.from_bytes.)
    if u32:  # the common case
        crc = (data[n - 4] << 24) | (data[n - 3] << 16) | (data[n - 2] << 8) | last
        if crc > 0xFFFF and prefix == crc:
            return True
    if u16:
        crc = (data[n - 2] << 8) | last
        if crc > 0xFF and _crc32(view[n - 5 : n - 3], prefix) == crc:
            return True
    if u8 and _crc32(view[n - 5 : n - 2], prefix) == last:
        return True
    return last < 0x80 and _crc32(view[n - 5 : n - 1], prefix) == last  # fixint


def _uint_at(data: bytes, i: int) -> tuple[int, int]:
    """The msgpack uint at ``data[i]`` in one of the forms the encoder writes
    (fixint, uint 8/16/32) and the index after it; (-1, i) for anything else."""
    n = len(data)
    if i >= n:
        return -1, i
    b = data[i]
    if b < 0x80:
        return b, i + 1
    if b == 0xCE:
        if i + 5 > n:
            return -1, i
        return (data[i + 1] << 24) | (data[i + 2] << 16) | (data[i + 3] << 8) | data[i + 4], i + 5
    if b == 0xCD:
        if i + 3 > n:
            return -1, i
        return (data[i + 1] << 8) | data[i + 2], i + 3
    if b == 0xCC:
        if i + 2 > n:
            return -1, i
        return data[i + 1], i + 2
    return -1, i


def _decode_usual(data: bytes, max_payload: int, check_crc: bool) -> Segment | None:
    """``decode_segment`` for the segments emutcp sends once a connection is
    up (no options, or timestamps alone; msgpack's shortest uint forms), read
    byte by byte: the same Segment ``unpackb`` and the checks would give.
    Compiled only (interpreted, msgpack's C unpacker is faster).  None for
    anything else, valid or not (a header ``looks_like_segment`` has passed):
    the general path then decides, and raises with its reason."""
    sport, i = _uint_at(data, 2)
    dport, i = _uint_at(data, i)
    seq, i = _uint_at(data, i)
    ack, i = _uint_at(data, i)
    flags, i = _uint_at(data, i)
    window, i = _uint_at(data, i)
    if (
        sport < 0
        or dport < 0
        or seq < 0
        or ack < 0
        or flags < 0
        or window < 0
        or sport > 65_535
        or dport > 65_535
        or flags > _KNOWN_FLAGS
        or window > 65_535
        or (flags & SYN and flags & (FIN | RST))
    ):
        return None
    n = len(data)
    if i + 8 > n:
        return None
    options = NO_OPTIONS
    b = data[i]
    if b == _NIL:
        i += 1
    elif (
        b == 0x95  # [nil, nil, false, nil, [tsval, tsecr]]
        and data[i + 1] == _NIL
        and data[i + 2] == _NIL
        and data[i + 3] == 0xC2
        and data[i + 4] == _NIL
        and data[i + 5] == 0x92
    ):
        tsval, i = _uint_at(data, i + 6)
        tsecr, i = _uint_at(data, i)
        if tsval < 0 or tsecr < 0:
            return None
        options = Options(None, None, False, (), (tsval, tsecr))
    else:
        return None
    if i + 2 > n:
        return None
    b = data[i]
    if b == 0xC4:
        length = data[i + 1]
        i += 2
    elif b == 0xC5 and i + 3 <= n:
        length = (data[i + 1] << 8) | data[i + 2]
        i += 3
    else:
        return None  # (bin 32: larger than any datagram)
    end = i + length
    if length > max_payload or end > n:
        return None
    crc, after = _uint_at(data, end)
    # The CRC must end the datagram, in its shortest form: the one whose
    # length the general path assumes when it hashes (a longer one fails there).
    if (
        crc < 0
        or after != n
        or n - end != (5 if crc > 0xFFFF else 3 if crc > 0xFF else 2 if crc > 0x7F else 1)
    ):
        return None
    if check_crc and _crc32(memoryview(data)[1:end]) != crc:
        return None
    return Segment(sport, dport, seq, ack, flags, window, options, data[i:end])


def decode_segment(
    data: bytes, *, max_payload: int = MAX_PAYLOAD, check_crc: bool = True
) -> Segment:
    """Parse and validate one datagram; raise ``MalformedSegment`` on anything wrong.

    ``check_crc=False`` is for a datagram whose CRC ``plausible_segment``
    has checked already (a transport's accept filter): everything else is
    still validated."""
    if not looks_like_segment(data):
        raise MalformedSegment("not an emutcp segment (bad header byte or too short)")
    if len(data) > max_payload + MAX_HEADER_BYTES:
        raise MalformedSegment(f"datagram of {len(data)} bytes exceeds the size limit")
    if COMPILED and type(data) is bytes:
        seg = _decode_usual(data, max_payload, check_crc)
        if seg is not None:
            return seg
    try:
        # unpackb's limits default to len(data), bounded just above; tighter
        # ones (maps, strings, bins...) cost more to pass (keyword parsing is a
        # third of the call) than they save: the checks below reject any
        # value of a wrong type or size.  (raw=False, strict_map_key=True are
        # the defaults.)
        fields = _unpackb(data, use_list=False)
    except Exception as exc:  # msgpack raises many types; all mean "not a segment"
        raise MalformedSegment(f"not a msgpack segment: {type(exc).__name__}") from None
    if type(fields) is not tuple or len(fields) != FIELD_COUNT:
        raise MalformedSegment("a segment is a msgpack array of 10 fields")
    version, sport, dport, seq, ack, flags, window, raw_opts, payload, crc = fields
    if type(version) is not int or version != FORMAT_VERSION:
        raise MalformedSegment(f"unknown format version {version!r:.20}")
    _int(crc, 0, _U32, "crc32")
    if check_crc:
        crc_len = 5 if crc > 0xFFFF else len(_packb(crc))
        if _crc32(memoryview(data)[1 : len(data) - crc_len]) != crc:
            raise MalformedSegment("CRC mismatch")
    _int(sport, 0, 65_535, "source port")
    _int(dport, 0, 65_535, "destination port")
    _int(seq, 0, _U32, "seq")
    _int(ack, 0, _U32, "ack")
    _int(flags, 0, _KNOWN_FLAGS, "flags")
    _int(window, 0, 65_535, "window")
    if type(payload) is not bytes:
        raise MalformedSegment("payload must be bin")
    if len(payload) > max_payload:
        raise MalformedSegment(f"payload of {len(payload)} bytes exceeds MSS {max_payload}")
    if flags & SYN and flags & (FIN | RST):
        raise MalformedSegment("SYN combined with FIN or RST")
    return Segment(sport, dport, seq, ack, flags, window, _decode_options(raw_opts), payload)


@functools.cache
def segment_overhead() -> int:
    """The most bytes emutcp's framing adds to a data segment's payload: all
    fields at their widest, timestamps with three SACK blocks or four blocks
    alone (what fits in TCP's 40 option bytes), measured with the encoder."""
    top = 0xFFFF_FFFF
    blocks = tuple((top - 16 * i - 8, top - 16 * i) for i in range(4))
    worst = 0
    for options in (
        Options(sack_blocks=blocks[:3], timestamps=(top, top)),
        Options(sack_blocks=blocks),
    ):
        payload = bytes(1000)
        seg = Segment(65_535, 65_535, top, top, ACK | PSH | FIN, 65_535, options, payload)
        worst = max(worst, len(encode_segment(seg)) - len(payload))
    return worst + 4  # a CRC value may encode up to 4 bytes wider than this one's


def carries_data(data: bytes) -> bool:
    """Whether a datagram is a well-formed segment with payload (the "data
    packets" a link's scripted ``drop`` list counts)."""
    try:
        return bool(decode_segment(data).payload)
    except MalformedSegment:
        return False
