"""Initial sequence numbers (RFC 9293 3.4.1)."""

import itertools
import random

from emutcp.core.isn import IsnGenerator
from emutcp.core.seq import seq_diff, seq_gt

L, R = ("10.0.0.1", 80), ("10.0.0.2", 40000)


def test_isn_moves_forward_with_the_clock_for_one_4_tuple():
    gen = IsnGenerator(random.Random(1))
    isns = [gen.isn(L, R, t * 0.01) for t in range(10_000)]
    assert all(seq_gt(b, a) for a, b in itertools.pairwise(isns))
    assert seq_diff(isns[1], isns[0]) == 2500  # 4 us ticks: 10 ms = 2500


def test_isns_of_different_4_tuples_are_unrelated():
    gen = IsnGenerator(random.Random(2))
    isns = {gen.isn(L, ("10.0.0.2", port), 5.0) for port in range(10_000)}
    assert len(isns) > 9_990  # no structure a blind attacker could use
    other = IsnGenerator(random.Random(3))
    assert other.isn(L, R, 5.0) != gen.isn(L, R, 5.0)  # the per-host secret matters
