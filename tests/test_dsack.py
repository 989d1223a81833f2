"""D-SACK (RFC 2883): the receiver's blocks follow the six examples of RFC 2883
section 4 exactly, one scripted core test per example.

The examples number bytes the RFC's way ("3000-3499" is 500 bytes; an ACK
names the next byte expected; a block is [left, right)).  ``Receiver`` maps
them onto a connection whose peer's first data byte is the example's first.
"""

from __future__ import annotations

from tcptest import ACK, MSS, REMOTE_ISS, SYN, TcpTest

from emutcp.core.segment import Options
from emutcp.core.seq import seq_diff


class Receiver:
    """A SACK receiver in ESTABLISHED whose stream starts at byte ``first``."""

    def __init__(self, first: int) -> None:
        t = TcpTest.syn_sent(recv_buffer=16 * MSS)
        t.inject(SYN | ACK, 0, 1, options=Options(mss=MSS, sack_permitted=True))
        t.expect(ACK, seq=1, ack=1)
        self.t, self.first = t, first

    def _rfc(self, seq: int) -> int:
        return seq_diff(seq, REMOTE_ISS) - 1 + self.first

    def arrives(self, lo: int, hi: int) -> tuple[int, list[tuple[int, int]]]:
        """Bytes lo..hi (inclusive) arrive; the ACK they trigger as (ack, blocks)."""
        t = self.t
        t.inject(ACK, lo - self.first + 1, 1, bytes(hi - lo + 1))
        out = t.drain()
        if not out:  # in-order data: the delayed ACK
            t.at(t.now + t.config.delayed_ack)
            out = t.drain()
        assert len(out) == 1, out
        seg = out[0]
        return self._rfc(seg.ack), [
            (self._rfc(a), self._rfc(b)) for a, b in seg.options.sack_blocks
        ]


def test_rfc2883_example1_duplicate_segment():
    # 4.1.1: both ACKs lost, the sender retransmits 3000-3499.
    r = Receiver(3000)
    assert r.arrives(3000, 3499) == (3500, [])
    assert r.arrives(3500, 3999) == (4000, [])
    assert r.arrives(3000, 3499) == (4000, [(3000, 3500)])


def test_rfc2883_example2_out_of_order_and_duplicate_segment():
    # 4.1.2: 4000-4499 lost; ACKs lost; 3000-3499 retransmitted.
    r = Receiver(3000)
    assert r.arrives(3000, 3499) == (3500, [])
    assert r.arrives(3500, 3999) == (4000, [])
    assert r.arrives(4500, 4999) == (4000, [(4500, 5000)])
    assert r.arrives(3000, 3499) == (4000, [(3000, 3500), (4500, 5000)])


def test_rfc2883_example3_duplicate_of_an_out_of_order_segment():
    # 4.1.3: the network duplicates 5000-5499, which lies beyond a hole.
    r = Receiver(3500)
    assert r.arrives(3500, 3999) == (4000, [])
    assert r.arrives(4500, 4999) == (4000, [(4500, 5000)])
    assert r.arrives(5000, 5499) == (4000, [(4500, 5500)])
    assert r.arrives(5000, 5499) == (4000, [(5000, 5500), (4500, 5500)])


def test_rfc2883_example4_single_duplicate_subsegment():
    # 4.2.1: 1000-1499 delayed, 1500-1999 lost; the sender resends 1000-1999 at once.
    r = Receiver(500)
    assert r.arrives(500, 999) == (1000, [])
    assert r.arrives(2000, 2499) == (1000, [(2000, 2500)])
    assert r.arrives(1000, 1499) == (1500, [(2000, 2500)])
    assert r.arrives(1000, 1999) == (2500, [(1000, 1500)])


def test_rfc2883_example5_two_duplicates_covered_by_the_cumulative_ack():
    # 4.2.2: only the first of two duplicate subsegments is reported.
    r = Receiver(500)
    assert r.arrives(500, 999) == (1000, [])
    assert r.arrives(3000, 3499) == (1000, [(3000, 3500)])
    assert r.arrives(1000, 1499) == (1500, [(3000, 3500)])
    assert r.arrives(2000, 2499) == (1500, [(2000, 2500), (3000, 3500)])
    assert r.arrives(1000, 2499) == (2500, [(1000, 1500), (3000, 3500)])


def test_rfc2883_example6_two_duplicates_above_the_cumulative_ack():
    # 4.2.3: the D-SACK, then the block that holds it, then the others.
    r = Receiver(500)
    assert r.arrives(500, 999) == (1000, [])
    assert r.arrives(3500, 3999) == (1000, [(3500, 4000)])
    assert r.arrives(1500, 1999) == (1000, [(1500, 2000), (3500, 4000)])
    assert r.arrives(2500, 2999) == (1000, [(2500, 3000), (1500, 2000), (3500, 4000)])
    assert r.arrives(1500, 2999) == (1000, [(1500, 2000), (1500, 3000), (3500, 4000)])


def test_dsack_is_reported_once_and_can_be_turned_off():
    r = Receiver(0)
    assert r.arrives(0, 999) == (1000, [])
    assert r.arrives(0, 999) == (1000, [(0, 1000)])
    r.t.conn.receive(10_000, r.t.now)
    r.t.inject(ACK, 1001, 1)  # a pure ACK: no duplicate, no D-SACK
    assert not r.t.drain()
    off = Receiver(0)
    off.t.conn.sack_reporter.enabled = False
    assert off.arrives(0, 999) == (1000, [])
    assert off.arrives(0, 999) == (1000, [])
