"""Sequence arithmetic modulo 2**32, across the wrap."""

from hypothesis import given
from hypothesis import strategies as st

from emutcp.core.seq import (
    seq_add,
    seq_diff,
    seq_ge,
    seq_gt,
    seq_in_window,
    seq_le,
    seq_lt,
    seq_max,
    seq_min,
)

TOP = 2**32 - 1


def test_wrap_examples():
    assert seq_add(TOP, 1) == 0
    assert seq_add(0, -1) == TOP
    assert seq_lt(TOP, 0)
    assert seq_gt(5, TOP - 5)
    assert seq_diff(3, TOP) == 4
    assert seq_diff(TOP, 3) == -4
    assert seq_in_window(2, TOP - 1, 10)
    assert not seq_in_window(TOP - 2, TOP - 1, 10)
    assert seq_max(TOP, 1) == 1
    assert seq_min(TOP, 1) == TOP


@given(st.integers(0, TOP), st.integers(-(2**31) + 1, 2**31 - 1))
def test_add_then_diff_round_trips(a, n):
    b = seq_add(a, n)
    assert seq_diff(b, a) == n
    assert seq_lt(a, b) == (n > 0)
    assert seq_le(a, b) == (n >= 0)
    assert seq_ge(b, a) == (n >= 0)


@given(st.integers(0, TOP), st.integers(0, 2**20), st.integers(0, 2**20))
def test_window_membership(left, size, k):
    assert seq_in_window(seq_add(left, k), left, size) == (k < size)
