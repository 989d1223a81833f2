"""The payload's share of a segment's CRC32, without a pass over a repeated payload.

Theory of operation
-------------------
``sized_exactly`` (wire.py) needs the CRC32 of a segment's encoded fields,
payload last, for the CRC's packed width.  zlib's ``crc32(B, c)`` (the CRC of
``B`` continued from the running value ``c``) is affine in ``c``: for a
payload ``B`` of ``n`` bytes,

    crc32(B, c) == crc32(B, 0) ^ M_n(c)

where ``M_n`` is linear over GF(2) (the register shifted through ``n`` zero
bytes; the pre- and post-inversions cancel).  So ``M_n`` is four tables of
256 entries, one per byte of ``c``, built from its 32 basis images.

A bulk sender writes the same bytes over and over (the experiments send
zeros): for a payload equal to the last one seen of its length (a memcmp),
``crc32(B, 0)`` is remembered and the CRC continues from the header's in four
lookups instead of a pass over ``B``.  Any other payload costs one pass, as
before, and becomes the one remembered.  Only lengths of at least
``MIN_LENGTH`` bytes are worth it, and at most ``MAX_LENGTHS`` lengths are
kept (about 40 KB of tables each).  Each entry's (payload, CRC) pair is
replaced whole, so threads sharing the cache (Dask workers) never mix two.
"""

from __future__ import annotations

from typing import Final

from ..core.crc import crc32

MIN_LENGTH: Final = 256
MAX_LENGTHS: Final = 64


class _Shift:
    """``M_n`` for one length ``n``, and the last payload of that length with
    its ``crc32(B, 0)``."""

    __slots__ = ("last", "t0", "t1", "t2", "t3")

    def __init__(self, n: int) -> None:
        zeros = bytes(n)
        base = crc32(zeros, 0)
        basis = [crc32(zeros, 1 << i) ^ base for i in range(32)]
        tables: list[list[int]] = []
        for k in range(4):
            t = [0] * 256
            for b in range(1, 256):
                low = b & -b  # t[b] = t[b without its lowest bit] ^ that bit's image
                t[b] = t[b ^ low] ^ basis[8 * k + low.bit_length() - 1]
            tables.append(t)
        self.t0, self.t1, self.t2, self.t3 = tables
        self.last: tuple[bytes, int] = (b"", 0)


_SHIFTS: dict[int, _Shift] = {}


def payload_crc(payload: bytes, running: int) -> int:
    """``crc32(payload, running)``."""
    n = len(payload)
    s = _SHIFTS.get(n)
    if s is None:
        if n < MIN_LENGTH or len(_SHIFTS) >= MAX_LENGTHS:
            return crc32(payload, running)
        s = _SHIFTS[n] = _Shift(n)
    c = running
    shifted = s.t0[c & 0xFF] ^ s.t1[(c >> 8) & 0xFF] ^ s.t2[(c >> 16) & 0xFF] ^ s.t3[c >> 24]
    last = s.last
    if last[0] == payload:  # the same bytes again (identity, else a memcmp)
        return last[1] ^ shifted
    crc = crc32(payload, running)
    s.last = (payload, crc ^ shifted)  # crc32(payload, 0)
    return crc
