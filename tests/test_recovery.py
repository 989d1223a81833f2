"""Loss detection and recovery: NewReno (RFC 5681 3.2, RFC 6582), SACK (RFC 6675),
limited transmit (RFC 3042) and what a retransmission timeout does to them.

Scripts in the packetdrill style (see tcptest.py): seq/ack relative to the ISNs,
explicit time, exact cwnd/ssthresh after every step.  MSS is 1000 bytes and the
initial window 10 segments, so cwnd starts at 10,000.
"""

from __future__ import annotations

from tcptest import ACK, FIN, LOCAL_ISS, MSS, PSH, SYN, State, TcpTest

from emutcp.core.congestion import NewReno
from emutcp.core.recovery import (
    FAST_RETRANSMIT,
    PARTIAL_ACK_RETRANSMIT,
    SACK_FAST_RETRANSMIT,
    LossRecovery,
    is_duplicate_ack,
)
from emutcp.core.segment import NO_OPTIONS, Options, Segment
from emutcp.core.seq import seq_add

WINDOW = 65_535  # what the peer advertises throughout (no window scaling)


def _established(*, sack: bool = False, **kw) -> TcpTest:
    """ESTABLISHED with a peer that offers SACK-permitted (or not)."""
    # These scripts pin the RFC 6675 path; RACK-TLP (the default) has test_rack.py.
    t = TcpTest.syn_sent(**{"send_buffer": 20 * MSS, "recovery": "rfc6675", **kw})
    t.inject(SYN | ACK, 0, 1, options=Options(mss=MSS, sack_permitted=sack))
    t.expect(ACK, seq=1, ack=1)
    assert t.state is State.ESTABLISHED
    assert t.conn.sack_ok is sack
    return t


def _flight_of_ten(t: TcpTest, segments: int = 10) -> None:
    """Queue ``segments`` MSS of data; the initial window sends (up to) ten."""
    assert t.conn.send(b"d" * segments * MSS, t.now) == segments * MSS
    sent = t.drain()
    assert [len(s.payload) for s in sent] == [MSS] * min(segments, 10)
    assert t.conn.cc.cwnd == 10 * MSS
    assert t.conn.flight_size == min(segments, 10) * MSS


def _sack(*blocks: tuple[int, int]) -> Options:
    """SACK blocks given as (start, end) offsets in our send stream."""
    return Options(sack_blocks=tuple((LOCAL_ISS + 1 + s, LOCAL_ISS + 1 + e) for s, e in blocks))


def _cc(t: TcpTest) -> tuple[int, int]:
    return t.conn.cc.cwnd, t.conn.cc.ssthresh


# ============================================================== NewReno


def test_three_duplicate_acks_one_fast_retransmit_and_inflated_window():
    t = _established(limited_transmit=False)
    _flight_of_ten(t)
    t.inject(ACK, 1, 1, window=WINDOW)
    t.inject(ACK, 1, 1, window=WINDOW)
    t.expect_nothing()  # two duplicate ACKs: not yet
    assert _cc(t) == (10 * MSS, 1 << 30)
    t.inject(ACK, 1, 1, window=WINDOW)
    t.expect(ACK, seq=1, length=MSS)  # RFC 5681 3.2 step 2: resend SND.UNA
    t.expect_nothing()
    # ssthresh = FlightSize / 2; cwnd = ssthresh + 3*SMSS (RFC 5681 3.2 step 3).
    assert _cc(t) == (5 * MSS + 3 * MSS, 5 * MSS)
    info = t.conn.info()
    assert (info.fast_retransmits, info.retransmits, info.rto_expirations) == (1, 1, 0)
    # A fourth duplicate ACK inflates cwnd by one SMSS and resends nothing.
    t.inject(ACK, 1, 1, window=WINDOW)
    t.expect_nothing()
    assert _cc(t) == (9 * MSS, 5 * MSS)
    assert t.conn.info().fast_retransmits == 1


def test_duplicate_acks_must_repeat_the_window():
    t = _established(limited_transmit=False)
    _flight_of_ten(t, 8)
    for w in (WINDOW - 1, WINDOW - 2, WINDOW - 3):  # window updates, not duplicates
        t.inject(ACK, 1, 1, window=w)
    t.expect_nothing()
    assert t.conn.info().fast_retransmits == 0


def test_inflation_sends_new_data_partial_ack_resends_next_hole_full_ack_deflates():
    t = _established(limited_transmit=False)
    _flight_of_ten(t, 14)  # four segments wait behind the window
    for _ in range(3):
        t.inject(ACK, 1, 1, window=WINDOW)
    t.expect(ACK, seq=1, length=MSS)
    for _ in range(2):
        t.inject(ACK, 1, 1, window=WINDOW)
        t.expect_nothing()
    assert _cc(t) == (10 * MSS, 5 * MSS)
    t.inject(ACK, 1, 1, window=WINDOW)  # cwnd 11 MSS > 10 MSS in flight: one new segment
    t.expect(ACK, seq=1 + 10 * MSS, length=MSS)
    t.expect_nothing()
    assert _cc(t) == (11 * MSS, 5 * MSS)

    # Partial ACK (RFC 6582 3.2 step 4): segments 1-2 arrive, segment 3 was lost too.
    t.inject(ACK, 1, 1 + 2 * MSS, window=WINDOW)
    t.expect(ACK, seq=1 + 2 * MSS, length=MSS)  # the next hole, at once
    # cwnd deflated by the 2 MSS acknowledged, plus one SMSS: 11 - 2 + 1.
    assert _cc(t) == (10 * MSS, 5 * MSS)
    t.expect(ACK, seq=1 + 11 * MSS, length=MSS)  # 10 MSS cwnd, 9 in flight
    t.expect_nothing()
    info = t.conn.info()
    assert (info.fast_retransmits, info.retransmits) == (1, 2)

    # Full ACK: everything up to "recover" (the highest sent when recovery began).
    t.inject(ACK, 1, 1 + 11 * MSS, window=WINDOW)
    # RFC 6582 3.2 step 3: cwnd = min(ssthresh, FlightSize + SMSS) = 1 + 1 MSS.
    assert _cc(t) == (2 * MSS, 5 * MSS)
    t.expect(ACK, seq=1 + 12 * MSS, length=MSS)
    t.expect_nothing()
    # Out of recovery: the next new ACK grows cwnd by congestion avoidance rules.
    t.inject(ACK, 1, 1 + 13 * MSS, window=WINDOW)
    assert _cc(t) == (3 * MSS, 5 * MSS)  # slow start below ssthresh
    assert t.conn.info().fast_retransmits == 1


def test_limited_transmit_grows_the_window_by_at_most_two_segments():
    t = _established()
    _flight_of_ten(t, 14)
    t.inject(ACK, 1, 1, window=WINDOW)
    t.expect(ACK, seq=1 + 10 * MSS, length=MSS)  # RFC 3042
    t.inject(ACK, 1, 1, window=WINDOW)
    t.expect(ACK, seq=1 + 11 * MSS, length=MSS)
    t.expect_nothing()
    assert t.conn.cc.cwnd == 10 * MSS  # the extra room is not cwnd growth
    t.inject(ACK, 1, 1, window=WINDOW)
    t.expect(ACK, seq=1, length=MSS)  # third: fast retransmit
    # FlightSize was 12 MSS: ssthresh 6, cwnd 6 + 3.
    assert _cc(t) == (9 * MSS, 6 * MSS)


def test_rto_ends_recovery_and_blocks_a_false_fast_retransmit():
    t = _established(limited_transmit=False)
    _flight_of_ten(t)
    for _ in range(3):
        t.inject(ACK, 1, 1, window=WINDOW)
    t.expect(ACK, seq=1, length=MSS)
    assert t.conn.get_timer() == 1.0  # the fast retransmission restarted the timer
    t.at(1.0)
    # RFC 5681 3.1 eq. (4) from FlightSize 10 MSS; loss window of one segment.
    assert _cc(t) == (1 * MSS, 5 * MSS)
    t.expect(ACK, seq=1, length=MSS)  # go-back-N from SND.UNA
    t.expect_nothing()
    info = t.conn.info()
    assert (info.rto_expirations, info.rto_retransmits, info.retransmits) == (1, 1, 2)
    # RFC 6582 4: duplicate ACKs for data sent before the timeout start no new episode.
    for _ in range(4):
        t.inject(ACK, 1, 1, window=WINDOW)
    t.expect_nothing()
    assert _cc(t) == (1 * MSS, 5 * MSS)
    assert t.conn.info().fast_retransmits == 1
    # The retransmission is acknowledged: slow start, then go-back-N continues.
    t.inject(ACK, 1, 1 + MSS, window=WINDOW)
    assert _cc(t) == (2 * MSS, 5 * MSS)
    t.expect(ACK, seq=1 + MSS, length=MSS)
    t.expect(ACK, seq=1 + 2 * MSS, length=MSS)
    t.expect_nothing()


def test_duplicate_acks_without_data_outstanding_are_ignored():
    t = _established(limited_transmit=False)
    for _ in range(5):
        t.inject(ACK, 1, 1, window=WINDOW)
    t.expect_nothing()
    assert t.conn.info().fast_retransmits == 0
    assert _cc(t) == (10 * MSS, 1 << 30)


# ============================================================== SACK (RFC 6675)


def test_sack_blocks_alone_start_recovery_before_three_duplicates():
    t = _established(sack=True)
    _flight_of_ten(t)
    # One duplicate ACK SACKing 3 MSS > (DupThresh - 1) * SMSS above the hole: IsLost.
    t.inject(ACK, 1, 1, window=WINDOW, options=_sack((MSS, 4 * MSS)))
    t.expect(ACK, seq=1, length=MSS)
    t.expect_nothing()  # pipe 7 MSS > cwnd 5 MSS
    assert _cc(t) == (5 * MSS, 5 * MSS)  # RFC 6675 5 step 4.2: cwnd = ssthresh
    info = t.conn.info()
    assert (info.fast_retransmits, info.sack_retransmits, info.sacked_bytes) == (1, 0, 3 * MSS)


def test_acks_with_new_sack_blocks_are_duplicates_whatever_their_window():
    # RFC 6675 2: an ACK that SACKs new data counts as a duplicate ACK even if
    # it changes the advertised window (unlike RFC 5681's definition).  Linux's
    # receiver grows its window during loss (receive-buffer autotuning), so
    # requiring an unchanged window stalled recovery until the RTO against it
    # (tests/test_tun_interop.py, emutcp as sender over IPv6).
    t = _established(sack=True)
    _flight_of_ten(t)
    for i, w in enumerate((WINDOW - 100, WINDOW - 50, WINDOW), start=1):
        t.inject(ACK, 1, 1, window=w, options=_sack((MSS, (1 + i) * MSS)))
        if i < 3:
            t.expect_nothing()
    t.expect(ACK, seq=1, length=MSS)  # the fast retransmit of the hole
    info = t.conn.info()
    assert (info.fast_retransmits, info.rto_expirations) == (1, 0)


def test_sack_recovery_resends_each_lost_hole_as_pipe_allows():
    t = _established(sack=True)
    _flight_of_ten(t)
    # Segments 1 and 4 (offsets 0 and 3000) are lost.
    t.inject(ACK, 1, 1, window=WINDOW, options=_sack((MSS, 2 * MSS)))
    t.inject(ACK, 1, 1, window=WINDOW, options=_sack((MSS, 3 * MSS)))
    t.expect_nothing()  # 2 MSS SACKed is not more than DupThresh - 1 segments
    t.inject(ACK, 1, 1, window=WINDOW, options=_sack((4 * MSS, 5 * MSS), (MSS, 3 * MSS)))
    t.expect(ACK, seq=1, length=MSS)  # DupThresh duplicates: recovery, first hole
    t.expect_nothing()
    assert _cc(t) == (5 * MSS, 5 * MSS)
    # More SACKed above the second hole: pipe = 10 - 5 SACKed - 2 lost + 1 resent = 4 MSS.
    t.inject(ACK, 1, 1, window=WINDOW, options=_sack((4 * MSS, 7 * MSS)))
    rtx = t.expect(ACK, seq=1 + 3 * MSS, length=MSS)  # NextSeg: the second hole
    assert rtx.flags == ACK
    t.expect_nothing()
    info = t.conn.info()
    assert (info.fast_retransmits, info.sack_retransmits, info.retransmits) == (1, 1, 2)
    assert [r.reason for r in t.records if getattr(r, "direction", "") == "out"][-2:] == [
        "fast retransmit (SACK recovery)",
        "SACK recovery retransmission",
    ]
    # A cumulative ACK at or beyond the recovery point ends recovery (RFC 6675 5).
    t.inject(ACK, 1, 1 + 10 * MSS, window=WINDOW)
    assert _cc(t) == (5 * MSS, 5 * MSS)  # cwnd = max(ssthresh, 2 SMSS)
    assert t.conn.info().sacked_bytes == 0
    assert t.conn.flight_size == 0


def test_sack_recovery_full_ack_with_data_still_outstanding():
    t = _established(sack=True)
    _flight_of_ten(t, 12)
    t.inject(ACK, 1, 1, window=WINDOW, options=_sack((MSS, 4 * MSS)))
    # RFC 3042 sends nothing in SACK recovery; the fast retransmission only.
    t.expect(ACK, seq=1, length=MSS)
    t.expect_nothing()
    t.inject(ACK, 1, 1, window=WINDOW, options=_sack((MSS, 10 * MSS)))
    # pipe = 10 - 9 SACKed - 1 lost + 1 resent = 1 MSS: 4 MSS of room for new data.
    t.expect(ACK, seq=1 + 10 * MSS, length=MSS)
    t.expect(ACK | PSH, seq=1 + 11 * MSS, length=MSS)
    t.expect_nothing()
    t.inject(ACK, 1, 1 + 10 * MSS, window=WINDOW)  # the recovery point
    assert _cc(t) == (5 * MSS, 5 * MSS)
    t.inject(ACK, 1, 1 + 12 * MSS, window=WINDOW)
    assert _cc(t) == (5 * MSS, 5 * MSS)  # congestion avoidance: +1 MSS per cwnd ACKed


def test_rto_in_sack_recovery_goes_back_n_around_sacked_blocks():
    t = _established(sack=True)
    _flight_of_ten(t)
    t.inject(ACK, 1, 1, window=WINDOW, options=_sack((MSS, 3 * MSS)))
    t.inject(ACK, 1, 1, window=WINDOW, options=_sack((4 * MSS, 7 * MSS), (MSS, 3 * MSS)))
    t.expect(ACK, seq=1, length=MSS)
    t.expect(ACK, seq=1 + 3 * MSS, length=MSS)
    t.expect_nothing()
    t.at(1.0)  # both retransmissions lost as well
    assert _cc(t) == (1 * MSS, 5 * MSS)
    t.expect(ACK, seq=1, length=MSS)
    t.expect_nothing()
    t.inject(ACK, 1, 1 + MSS, window=WINDOW)
    assert _cc(t) == (2 * MSS, 5 * MSS)
    # RFC 6675 5.1: go-back-N skips what the peer SACKed (1000-3000, 4000-7000).
    t.expect(ACK, seq=1 + 3 * MSS, length=MSS)
    t.expect(ACK, seq=1 + 7 * MSS, length=MSS)
    t.expect_nothing()
    info = t.conn.info()
    assert (info.rto_expirations, info.fast_retransmits, info.sack_retransmits) == (1, 1, 1)


# ============================================================== the LossRecovery object

ISS = 0xFFFF_F000  # sequence numbers wrap during these flights
UNA = seq_add(ISS, 1)  # SND.UNA of a flight starting at stream offset 0


def _seq(offset: int) -> int:
    return seq_add(UNA, offset)


def _recovery(*, sack: bool = False, limited_transmit: bool = True) -> LossRecovery:
    r = LossRecovery(
        NewReno(mss=MSS, initial_window=10),
        iss=ISS,
        limited_transmit=limited_transmit,
        mode="rfc6675",
    )
    r.sack = sack
    return r


def _dup(r: LossRecovery, *, una: int = 0, snd_max: int = 10 * MSS) -> str | None:
    return r.on_duplicate_ack(
        snd_una=_seq(una), snd_max=_seq(snd_max), flight=snd_max - una, una=una, now=0.0
    )


def test_unit_newreno_episode_exact_values():
    r = _recovery()
    assert (r.cc.cwnd, r.cc.ssthresh, r.recover) == (10 * MSS, 1 << 30, ISS)
    assert _dup(r) is None
    assert r.send_room(10 * MSS, 0, 10 * MSS) == 1 * MSS  # RFC 3042: one segment
    assert _dup(r) is None
    assert r.send_room(10 * MSS, 0, 10 * MSS) == 2 * MSS  # ... and a second
    assert _dup(r) == FAST_RETRANSMIT
    assert r.in_recovery and not r.sack_recovery
    assert r.recover == _seq(10 * MSS)
    assert (r.cc.cwnd, r.cc.ssthresh) == (8 * MSS, 5 * MSS)
    assert r.send_room(10 * MSS, 0, 10 * MSS) == -2 * MSS  # no limited transmit now
    assert _dup(r) is None
    assert r.cc.cwnd == 9 * MSS  # inflated
    assert r.dupacks == 4
    # Partial ACK of two segments: retransmit, deflate by 2 MSS, add one back.
    rtx = r.on_ack(
        ack=_seq(2 * MSS), acked=2 * MSS, flight=8 * MSS, una=2 * MSS, now=0.0, srtt=None
    )
    assert rtx == PARTIAL_ACK_RETRANSMIT
    assert (r.in_recovery, r.dupacks, r.cc.cwnd) == (True, 0, 8 * MSS)
    # Full ACK with one segment still in flight: min(ssthresh, FlightSize + SMSS).
    rtx = r.on_ack(ack=_seq(10 * MSS), acked=8 * MSS, flight=MSS, una=10 * MSS, now=0.0, srtt=None)
    assert rtx is None
    assert (r.in_recovery, r.cc.cwnd, r.cc.ssthresh) == (False, 2 * MSS, 5 * MSS)
    # Outside recovery the controller grows cwnd (slow start below ssthresh).
    assert (
        r.on_ack(ack=_seq(11 * MSS), acked=MSS, flight=0, una=11 * MSS, now=0.0, srtt=0.1) is None
    )
    assert r.cc.cwnd == 3 * MSS


def test_unit_full_ack_never_deflates_below_one_segment():
    r = _recovery()
    for _ in range(3):
        _dup(r)
    r.on_ack(ack=_seq(10 * MSS), acked=10 * MSS, flight=0, una=10 * MSS, now=0.0, srtt=None)
    assert r.cc.cwnd == MSS


def test_unit_rto_ends_recovery_and_moves_recover():
    r = _recovery()
    for _ in range(3):
        _dup(r)
    r.high_rxt = 5 * MSS
    r.on_rto(snd_max=_seq(10 * MSS), flight=10 * MSS, una=0, now=1.0)
    assert (r.in_recovery, r.dupacks, r.high_rxt) == (False, 0, 0)
    assert r.recover == _seq(10 * MSS)
    assert (r.cc.cwnd, r.cc.ssthresh) == (MSS, 5 * MSS)  # RFC 5681 eq. (4)
    # RFC 6582 4: duplicates below "recover" start no new episode ...
    assert [_dup(r) for _ in range(5)] == [None] * 5
    assert not r.in_recovery and r.cc.cwnd == MSS
    # ... duplicates once "recover" is acknowledged do.
    r.on_ack(ack=_seq(10 * MSS), acked=10 * MSS, flight=4 * MSS, una=10 * MSS, now=1.0, srtt=None)
    assert r.cc.cwnd == 2 * MSS
    outcome = [_dup(r, una=10 * MSS, snd_max=14 * MSS) for _ in range(3)]
    assert outcome == [None, None, FAST_RETRANSMIT]
    assert (r.cc.cwnd, r.cc.ssthresh) == (2 * MSS + 3 * MSS, 2 * MSS)


def test_unit_sack_episode_exact_values():
    r = _recovery(sack=True)
    # Blocks outside the outstanding data, or empty, are ignored.
    r.on_sack_blocks(
        [(1 * MSS, 3 * MSS), (4 * MSS, 7 * MSS), (12 * MSS, 13 * MSS), (5, 5)], 0, 10 * MSS
    )
    assert r.scoreboard.ranges == [(1 * MSS, 3 * MSS), (4 * MSS, 7 * MSS)]
    # 3 MSS SACKed above offset 4000 > (DupThresh - 1) * SMSS: the first duplicate
    # ACK is enough (RFC 6675 IsLost).
    assert _dup(r) == SACK_FAST_RETRANSMIT
    assert r.sack_recovery
    assert (r.cc.cwnd, r.cc.ssthresh, r.high_rxt) == (5 * MSS, 5 * MSS, 1 * MSS)
    resent: list[tuple[int, int]] = []
    room = r.retransmit_holes(0, 10 * MSS, lambda off, n: resent.append((off, n)))
    # pipe = 10 - 5 SACKed - 2 lost + 1 resent = 4 MSS: room for one hole, then none.
    assert resent == [(3 * MSS, MSS)]
    assert (room, r.high_rxt) == (0, 4 * MSS)
    assert r.retransmit_holes(0, 10 * MSS, lambda off, n: resent.append((off, n))) == 0
    assert len(resent) == 1
    # More duplicates: no inflation in SACK recovery, no second episode.
    assert [_dup(r) for _ in range(3)] == [None] * 3
    assert r.cc.cwnd == 5 * MSS
    # A cumulative ACK below the recovery point keeps recovery going.
    assert r.on_ack(ack=_seq(MSS), acked=MSS, flight=9 * MSS, una=MSS, now=0.0, srtt=None) is None
    assert r.sack_recovery and r.cc.cwnd == 5 * MSS
    # At the recovery point it ends: cwnd = max(ssthresh, 2 SMSS).
    r.on_ack(ack=_seq(10 * MSS), acked=9 * MSS, flight=0, una=10 * MSS, now=0.0, srtt=None)
    assert not r.in_recovery
    assert r.cc.cwnd == 5 * MSS
    assert not r.scoreboard  # everything below SND.UNA is forgotten


def test_unit_sack_needs_dupthresh_duplicates_without_a_loss_signal():
    r = _recovery(sack=True)
    r.on_sack_blocks([(1 * MSS, 2 * MSS)], 0, 10 * MSS)
    assert [_dup(r) for _ in range(3)] == [None, None, SACK_FAST_RETRANSMIT]


def test_unit_send_room_does_not_count_sacked_bytes():
    r = _recovery(limited_transmit=False)
    r.on_sack_blocks([(2 * MSS, 4 * MSS)], 0, 10 * MSS)
    assert r.send_room(10 * MSS, 0, 10 * MSS) == 10 * MSS - 8 * MSS
    _dup(r)
    assert r.send_room(10 * MSS, 0, 10 * MSS) == 2 * MSS  # limited transmit is off


def test_unit_duplicate_ack_definition():
    def seg(flags: int = ACK, payload: bytes = b"") -> Segment:
        return Segment(80, 40000, 1, 1, flags, 100, NO_OPTIONS, payload)

    assert is_duplicate_ack(seg(), window=100, snd_wnd=100, outstanding=True)
    assert not is_duplicate_ack(seg(), window=100, snd_wnd=100, outstanding=False)
    assert not is_duplicate_ack(seg(), window=200, snd_wnd=100, outstanding=True)
    assert not is_duplicate_ack(seg(payload=b"x"), window=100, snd_wnd=100, outstanding=True)
    assert not is_duplicate_ack(seg(ACK | FIN), window=100, snd_wnd=100, outstanding=True)
    assert not is_duplicate_ack(seg(ACK | SYN), window=100, snd_wnd=100, outstanding=True)
