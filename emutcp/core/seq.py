"""Sequence-number arithmetic modulo 2**32 (RFC 9293 section 3.4).

TCP sequence numbers live on a circle of 2**32 points.  ``a < b`` means "b is
less than 2**31 ahead of a", so comparisons stay correct across the wrap from
0xFFFFFFFF to 0.  Every comparison of sequence or acknowledgment numbers in
emutcp goes through these helpers; never compare raw ints.
"""

from __future__ import annotations

from typing import Final

SEQ_MOD: Final = 1 << 32
SEQ_MASK: Final = SEQ_MOD - 1
SEQ_HALF: Final = 1 << 31
_HALF: Final = SEQ_HALF


def seq_add(a: int, n: int) -> int:
    """``a + n`` on the sequence circle (``n`` may be negative)."""
    return (a + n) & SEQ_MASK


def seq_diff(a: int, b: int) -> int:
    """Signed distance ``a - b``, in ``[-2**31, 2**31)``."""
    d = (a - b) & SEQ_MASK
    return d - SEQ_MOD if d >= _HALF else d


def seq_lt(a: int, b: int) -> bool:
    return seq_diff(a, b) < 0


def seq_le(a: int, b: int) -> bool:
    return seq_diff(a, b) <= 0


def seq_gt(a: int, b: int) -> bool:
    return seq_diff(a, b) > 0


def seq_ge(a: int, b: int) -> bool:
    return seq_diff(a, b) >= 0


def seq_in_window(x: int, left: int, size: int) -> bool:
    """``left <= x < left + size`` on the circle (RFC 9293 3.4, acceptability)."""
    return 0 <= ((x - left) & SEQ_MASK) < size


def seq_max(a: int, b: int) -> int:
    return b if seq_lt(a, b) else a


def seq_min(a: int, b: int) -> int:
    return a if seq_lt(a, b) else b
