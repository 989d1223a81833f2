"""Every state of the RFC 9293 diagram, entered and left along each of its edges.

Scripts in the packetdrill style (see tcptest.py): seq/ack relative to the
ISNs, explicit time.  One banner per state.
"""

from __future__ import annotations

import pytest
from tcptest import ACK, FIN, LOCAL, MSS, PSH, REMOTE, RST, STATE_BUILDERS, SYN, State, TcpTest

from emutcp.core.mux import closed_port_answer
from emutcp.core.segment import NO_OPTIONS, Options, Segment, decode_segment, encode_segment

S = State


# ============================================================== CLOSED


def test_closed_connect_sends_syn_with_mss_and_enters_syn_sent():
    t = TcpTest()
    t.conn.open_active(0.0)
    syn = t.expect(SYN, seq=0)
    assert syn.options.mss == MSS
    assert t.state is S.SYN_SENT
    assert t.conn.transitions[0].cause == "connect: sent SYN"


def test_closed_send_is_an_error():
    t = TcpTest()
    with pytest.raises(OSError, match="does not exist"):
        t.conn.send(b"x", 0.0)


def test_closed_port_answers_per_rfc_9293_3_10_7_1():
    ack = Segment(REMOTE[1], LOCAL[1], 500, 777, ACK | PSH, 100, NO_OPTIONS, b"data")
    reply = decode_segment(closed_port_answer(encode_segment(ack), LOCAL[1]))
    assert (reply.flags, reply.seq, reply.src_port, reply.dst_port) == (RST, 777, 40000, 80)
    syn = Segment(REMOTE[1], LOCAL[1], 500, 0, SYN, 100)
    reply = decode_segment(closed_port_answer(encode_segment(syn), LOCAL[1]))
    assert (reply.flags, reply.seq, reply.ack) == (RST | ACK, 0, 501)  # SEG.SEQ + SEG.LEN
    assert closed_port_answer(encode_segment(Segment(80, 40000, 1, 0, RST, 0)), 40000) is None
    assert closed_port_answer(b"\x9a\x01 not a segment", 40000) is None


# ============================================================== LISTEN


def test_listen_syn_gives_syn_ack_and_syn_rcvd():
    t = TcpTest.syn_rcvd()
    assert t.path() == [S.LISTEN, S.SYN_RCVD]
    assert t.conn.transitions[0].cause == "recv SYN: sent SYN+ACK"


def test_listen_ignores_rst():
    t = TcpTest(passive=True)
    t.inject(RST, 0)
    t.expect_nothing()
    assert t.state is S.LISTEN


def test_listen_answers_ack_with_rst_at_seg_ack():
    t = TcpTest(passive=True)
    t.inject(ACK, 0, raw_ack=777)
    rst = t.expect(RST)
    assert rst.seq == 777
    assert t.state is S.LISTEN


def test_listen_close_goes_to_closed():
    t = TcpTest(passive=True)
    t.conn.shutdown_write(0.0)
    assert t.state is S.CLOSED


# ============================================================== SYN-SENT


def test_syn_sent_syn_ack_establishes():
    t = TcpTest.established()
    assert t.path() == [S.CLOSED, S.SYN_SENT, S.ESTABLISHED]
    assert t.conn.transitions[-1].cause == "recv SYN+ACK: sent ACK"
    assert t.conn.snd_mss == MSS


def test_syn_sent_rst_with_acceptable_ack_is_refused():
    t = TcpTest.syn_sent()
    t.inject(RST | ACK, 0, 1)
    assert t.state is S.CLOSED
    assert isinstance(t.conn.error, ConnectionRefusedError)
    t.expect_nothing()


def test_syn_sent_rst_without_ack_is_ignored():
    t = TcpTest.syn_sent()
    t.inject(RST, 0)
    assert t.state is S.SYN_SENT


def test_syn_sent_bad_ack_gets_rst():
    t = TcpTest.syn_sent()
    t.inject(SYN | ACK, 0, 50)  # acknowledges data we never sent
    rst = t.expect(RST, seq=50)
    assert rst.ack == 0
    assert t.state is S.SYN_SENT


def test_syn_sent_close_deletes_tcb():
    t = TcpTest.syn_sent()
    t.conn.shutdown_write(0.0)
    assert t.state is S.CLOSED
    t.expect_nothing()


def test_simultaneous_open():
    t = TcpTest.syn_sent()
    t.inject(SYN, 0, options=Options(mss=MSS))  # the peer's SYN crosses ours
    t.expect(SYN | ACK, seq=0, ack=1)
    assert t.state is S.SYN_RCVD
    t.inject(SYN | ACK, 0, 1, options=Options(mss=MSS))  # the peer's SYN+ACK
    t.expect(ACK, seq=1, ack=1)
    assert t.path() == [S.CLOSED, S.SYN_SENT, S.SYN_RCVD, S.ESTABLISHED]


def test_syn_retransmissions_back_off_exactly_then_time_out():
    t = TcpTest.syn_sent(syn_retries=3)
    for at in (1.0, 3.0, 7.0):  # RTO 1 s, doubling (RFC 6298 5.5)
        t.at(at - 0.001)
        t.expect_nothing()
        t.at(at)
        t.expect(SYN, seq=0)
    t.at(15.0)
    assert t.state is S.CLOSED
    assert isinstance(t.conn.error, TimeoutError)
    t.expect_nothing()


# ============================================================== SYN-RECEIVED


def test_syn_rcvd_ack_establishes():
    t = TcpTest.syn_rcvd()
    t.inject(ACK, 1, 1)
    assert t.state is S.ESTABLISHED
    t.expect_nothing()


def test_syn_rcvd_data_on_the_handshake_ack_is_delivered():
    t = TcpTest.syn_rcvd()
    t.inject(ACK | PSH, 1, 1, b"early data")
    assert t.state is S.ESTABLISHED
    assert t.conn.receive(100, 0.0) == b"early data"


def test_syn_rcvd_fin_on_the_handshake_ack_goes_to_close_wait():
    t = TcpTest.syn_rcvd()
    t.inject(ACK | FIN, 1, 1)
    t.expect(ACK, seq=1, ack=2)
    assert t.path() == [S.LISTEN, S.SYN_RCVD, S.ESTABLISHED, S.CLOSE_WAIT]


def test_syn_rcvd_rst_returns_the_embryo_to_listen():
    t = TcpTest.syn_rcvd()
    t.inject(RST, 1)
    assert t.state is S.CLOSED  # the mux keeps listening; this TCB is gone
    assert t.conn.transitions[-1].cause == "recv RST: back to LISTEN"


def test_syn_rcvd_close_sends_fin_and_enters_fin_wait_1():
    t = TcpTest.syn_rcvd()
    t.conn.shutdown_write(0.0)
    assert t.state is S.FIN_WAIT_1
    t.inject(ACK, 1, 1)  # ACK of our SYN
    t.expect(FIN | ACK, seq=1, ack=1)
    t.inject(ACK, 1, 2)
    assert t.state is S.FIN_WAIT_2


def test_syn_rcvd_duplicate_syn_resends_syn_ack():
    t = TcpTest.syn_rcvd()
    t.inject(SYN, 0, options=Options(mss=MSS))
    t.expect(SYN | ACK, seq=0, ack=1)
    assert t.state is S.SYN_RCVD


def test_syn_rcvd_bad_ack_gets_rst():
    t = TcpTest.syn_rcvd()
    t.inject(ACK, 1, 99)
    t.expect(RST, seq=99)
    assert t.state is S.SYN_RCVD


def test_syn_rcvd_retransmits_syn_ack_on_timeout():
    t = TcpTest.syn_rcvd()
    t.at(1.0)
    t.expect(SYN | ACK, seq=0, ack=1)


# ============================================================== ESTABLISHED


def test_established_delayed_ack_fires_after_40ms():
    t = TcpTest.established()
    t.inject(ACK | PSH, 1, 1, b"x" * 10)
    t.expect_nothing()
    assert t.conn.get_timer() == pytest.approx(0.04)
    t.at(0.04)
    t.expect(ACK, seq=1, ack=11)


def test_established_every_second_full_segment_is_acked_at_once():
    t = TcpTest.established()
    t.inject(ACK, 1, 1, b"a" * MSS)
    t.expect_nothing()
    t.inject(ACK, 1 + MSS, 1, b"b" * MSS)
    t.expect(ACK, ack=1 + 2 * MSS)


def test_established_out_of_order_is_acked_at_once_and_reassembled():
    t = TcpTest.established()
    t.inject(ACK, 1 + MSS, 1, b"b" * MSS)  # a hole at 1..MSS
    t.expect(ACK, ack=1)  # duplicate ACK
    t.inject(ACK, 1, 1, b"a" * MSS)  # fills the hole
    t.expect(ACK, ack=1 + 2 * MSS)
    assert t.conn.receive(10 * MSS, 0.0) == b"a" * MSS + b"b" * MSS


def test_established_fin_goes_to_close_wait():
    t = TcpTest.close_wait()
    assert t.conn.at_eof
    assert t.path() == [S.CLOSED, S.SYN_SENT, S.ESTABLISHED, S.CLOSE_WAIT]


def test_established_close_goes_to_fin_wait_1():
    t = TcpTest.fin_wait_1()
    assert t.conn.transitions[-1].cause == "shutdown: sent FIN"


def test_established_rst_at_rcv_nxt_resets():
    t = TcpTest.established()
    t.inject(RST, 1)
    assert t.state is S.CLOSED
    assert isinstance(t.conn.error, ConnectionResetError)
    t.expect_nothing()  # never answer a RST


def test_established_rst_in_window_not_exact_gets_challenge_ack():
    t = TcpTest.established()
    t.inject(RST, 100)
    t.expect(ACK, seq=1, ack=1)  # RFC 5961 3.2
    assert t.state is S.ESTABLISHED


def test_established_rst_out_of_window_is_dropped_silently():
    t = TcpTest.established()
    t.inject(RST, 1_000_000)
    t.expect_nothing()
    assert t.state is S.ESTABLISHED


def test_established_syn_gets_challenge_ack():
    t = TcpTest.established()
    t.inject(SYN, 1)
    t.expect(ACK, seq=1, ack=1)  # RFC 5961 4.2
    assert t.state is S.ESTABLISHED


def test_established_ack_of_unsent_data_is_acked_and_dropped():
    t = TcpTest.established()
    t.inject(ACK | PSH, 1, 500, b"data")
    t.expect(ACK, seq=1, ack=1)
    assert t.conn.receive(10, 0.0) == b""


def test_established_unacceptable_segment_is_acked():
    t = TcpTest.established()
    t.inject(ACK, 1_000_000, 1, b"zz")
    t.expect(ACK, seq=1, ack=1)


def test_established_sends_data_and_samples_rtt():
    t = TcpTest.established()
    assert t.conn.send(b"q" * 2500, 0.0) == 2500
    t.expect(ACK, seq=1, length=MSS)
    t.expect(ACK, seq=1 + MSS, length=MSS)
    t.expect_nothing()  # Nagle holds the 500-byte tail while data is unacknowledged
    t.at(0.1)
    t.inject(ACK, 1, 1 + 2 * MSS)
    # Samples: the SYN (0 s, instant handshake) then this one (RFC 6298 2.3).
    assert t.conn.rtt.samples == 2
    assert t.conn.rtt.srtt == pytest.approx(0.1 / 8)
    t.expect(ACK | PSH, seq=1 + 2 * MSS, length=500)
    t.inject(ACK, 1, 2501)
    assert t.conn.get_timer() is None  # RFC 6298 5.2


def test_established_rto_backoff_timestamps_are_exact_and_abort_after_max_retries():
    t = TcpTest.established(max_retries=4)
    t.conn.send(b"r" * 100, 0.0)
    t.expect(ACK | PSH, seq=1, length=100)
    for at in (1.0, 3.0, 7.0, 15.0):
        t.at(at - 0.001)
        t.expect_nothing()
        t.at(at)
        t.expect(ACK | PSH, seq=1, length=100)
    t.at(31.0)
    assert t.state is S.CLOSED
    assert isinstance(t.conn.error, TimeoutError)


def test_established_rto_is_capped_by_rto_max():
    t = TcpTest.established(rto_max=4.0, max_retries=10)
    t.conn.send(b"r", 0.0)
    t.drain()
    times = []
    now = 0.0
    for _ in range(5):
        now = t.conn.get_timer()
        times.append(now)
        t.at(now)
        t.drain()
    assert times == [1.0, 3.0, 7.0, 11.0, 15.0]


def test_established_three_duplicate_acks_trigger_fast_retransmit():
    t = TcpTest.established()
    t.conn.send(b"d" * 5 * MSS, 0.0)
    assert len(t.drain()) == 5
    for _ in range(3):
        t.inject(ACK, 1, 1)  # segment 1 was lost
    t.expect(ACK, seq=1, length=MSS)
    assert t.conn.stats.fast_retransmits == 1
    t.inject(ACK, 1, 1 + 5 * MSS)
    assert t.conn.flight_size == 0


def test_established_zero_window_persist_probes_back_off():
    t = TcpTest.established()
    t.inject(ACK, 1, 1, window=0)
    t.conn.send(b"p" * 10, 0.0)
    t.expect_nothing()
    assert t.conn.get_timer() == pytest.approx(1.0)
    t.at(1.0)
    probe = t.expect(ACK, seq=0, length=0)  # SND.UNA - 1: elicits an ACK
    assert probe.payload == b""
    assert t.conn.get_timer() == pytest.approx(3.0)  # backed off
    t.inject(ACK, 1, 1, window=1000)  # window reopens
    t.expect(ACK | PSH, seq=1, length=10)


def test_established_receive_window_closes_and_reopens():
    t = TcpTest.established()
    for i in range(8):
        t.inject(ACK, 1 + i * MSS, 1, b"w" * MSS)
    acks = t.drain()
    assert acks[-1].window == 0
    t.inject(ACK, 1 + 8 * MSS, 1, b"over")  # beyond a zero window: dropped, ACKed
    t.expect(ACK, ack=1 + 8 * MSS, window=0)
    t.conn.receive(8 * MSS, 0.0)
    update = t.expect(ACK, ack=1 + 8 * MSS)
    assert update.window == 8 * MSS


def test_established_nagle_holds_small_segments_until_ack():
    t = TcpTest.established()
    t.conn.send(b"a", 0.0)
    t.expect(ACK | PSH, seq=1, length=1)
    t.conn.send(b"b", 0.0)
    t.expect_nothing()  # Nagle: one small segment in flight at a time
    t.inject(ACK, 1, 2)
    t.expect(ACK | PSH, seq=2, length=1)


def test_established_nodelay_sends_small_segments_at_once():
    t = TcpTest.established(nodelay=True)
    t.conn.send(b"a", 0.0)
    t.expect(ACK | PSH, seq=1, length=1)
    t.conn.send(b"b", 0.0)
    t.expect(ACK | PSH, seq=2, length=1)


def test_established_send_buffer_is_bounded():
    t = TcpTest.established()
    assert t.conn.send(b"z" * 100 * MSS, 0.0) == 8 * MSS


# ============================================================== FIN-WAIT-1


def test_fin_wait_1_ack_of_fin_goes_to_fin_wait_2():
    t = TcpTest.fin_wait_2()
    assert t.conn.transitions[-1].cause == "recv ACK of FIN"


def test_fin_wait_1_fin_goes_to_closing():
    t = TcpTest.closing()
    assert t.path()[-2:] == [S.FIN_WAIT_1, S.CLOSING]


def test_fin_wait_1_fin_ack_goes_straight_to_time_wait():
    t = TcpTest.fin_wait_1()
    t.inject(FIN | ACK, 1, 2)
    t.expect(ACK, seq=2, ack=2)
    assert t.path()[-2:] == [S.FIN_WAIT_1, S.TIME_WAIT]


def test_fin_wait_1_retransmits_fin():
    t = TcpTest.fin_wait_1()
    t.at(1.0)
    t.expect(FIN | ACK, seq=1, ack=1)


def test_fin_wait_1_still_receives_data():
    t = TcpTest.fin_wait_1()
    t.inject(ACK | PSH, 1, 1, b"more")
    assert t.conn.receive(10, 0.0) == b"more"


def test_fin_wait_1_rst_resets():
    t = TcpTest.fin_wait_1()
    t.inject(RST, 1)
    assert t.state is S.CLOSED


def test_fin_wait_1_send_is_refused():
    t = TcpTest.fin_wait_1()
    with pytest.raises(BrokenPipeError):
        t.conn.send(b"late", 0.0)


# ============================================================== FIN-WAIT-2


def test_fin_wait_2_fin_goes_to_time_wait():
    t = TcpTest.time_wait()
    assert t.path() == [
        S.CLOSED,
        S.SYN_SENT,
        S.ESTABLISHED,
        S.FIN_WAIT_1,
        S.FIN_WAIT_2,
        S.TIME_WAIT,
    ]


def test_fin_wait_2_half_close_keeps_receiving():
    t = TcpTest.fin_wait_2()
    t.inject(ACK, 1, 2, b"x" * MSS)
    t.inject(ACK, 1 + MSS, 2, b"y" * MSS)
    t.expect(ACK, seq=2, ack=1 + 2 * MSS)
    assert t.conn.receive(4 * MSS, 0.0) == b"x" * MSS + b"y" * MSS


def test_fin_wait_2_rst_resets():
    t = TcpTest.fin_wait_2()
    t.inject(RST, 1)
    assert t.state is S.CLOSED


# ============================================================== CLOSE-WAIT


def test_close_wait_can_still_send():
    t = TcpTest.close_wait()
    t.conn.send(b"reply", 0.0)
    t.expect(ACK | PSH, seq=1, ack=2, length=5)


def test_close_wait_close_goes_to_last_ack():
    t = TcpTest.last_ack()
    assert t.conn.transitions[-1].cause == "shutdown: sent FIN"


def test_close_wait_rst_resets():
    t = TcpTest.close_wait()
    t.inject(RST, 2)
    assert t.state is S.CLOSED


def test_close_wait_reads_remaining_data_then_eof():
    t = TcpTest.established()
    t.inject(ACK | PSH | FIN, 1, 1, b"tail")
    assert t.state is S.CLOSE_WAIT
    assert not t.conn.at_eof
    assert t.conn.receive(10, 0.0) == b"tail"
    assert t.conn.at_eof


# ============================================================== CLOSING


def test_closing_ack_of_fin_goes_to_time_wait():
    t = TcpTest.closing()
    t.inject(ACK, 2, 2)
    assert t.state is S.TIME_WAIT
    assert t.conn.transitions[-1].cause == "recv ACK of FIN"


def test_closing_rst_closes():
    t = TcpTest.closing()
    t.inject(RST, 2)
    assert t.state is S.CLOSED


# ============================================================== LAST-ACK


def test_last_ack_ack_of_fin_closes():
    t = TcpTest.last_ack()
    t.inject(ACK, 2, 2)
    assert t.state is S.CLOSED
    assert t.conn.transitions[-1].cause == "recv ACK of FIN"


def test_last_ack_retransmits_fin():
    t = TcpTest.last_ack()
    t.at(1.0)
    t.expect(FIN | ACK, seq=1, ack=2)


def test_last_ack_rst_closes():
    t = TcpTest.last_ack()
    t.inject(RST, 2)
    assert t.state is S.CLOSED


# ============================================================== TIME-WAIT


def test_time_wait_lasts_exactly_2msl():
    t = TcpTest.time_wait()
    assert t.conn.get_timer() == pytest.approx(60.0)
    t.at(59.999)
    assert t.state is S.TIME_WAIT
    t.at(60.0)
    assert t.state is S.CLOSED
    assert t.conn.transitions[-1].cause == "2MSL timer expired"


def test_time_wait_retransmitted_fin_is_acked_and_restarts_timer():
    t = TcpTest.time_wait()
    t.at(30.0)
    t.inject(FIN | ACK, 1, 2)
    t.expect(ACK, seq=2, ack=2)
    assert t.conn.get_timer() == pytest.approx(90.0)


def test_time_wait_ignores_rst_rfc1337():
    t = TcpTest.time_wait()
    t.inject(RST, 2)
    assert t.state is S.TIME_WAIT


# ============================================================== abort / close


def test_abort_sends_rst_from_established():
    t = TcpTest.established()
    t.conn.abort(0.0)
    t.expect(RST, seq=1)
    assert t.state is S.CLOSED


def test_close_with_unread_data_sends_rst():
    t = TcpTest.established()
    t.inject(ACK | PSH, 1, 1, b"unread")
    t.drain()
    t.conn.close(0.0)
    t.expect(RST, seq=1)
    assert t.state is S.CLOSED


def test_data_after_close_gets_rst():
    t = TcpTest.established()
    t.conn.close(0.0)
    t.expect(FIN | ACK, seq=1)
    t.inject(ACK | PSH, 1, 2, b"late")
    t.expect(RST, seq=2)
    assert t.state is S.CLOSED


def test_every_state_is_reached_by_the_builders():
    reached = {S.CLOSED, S.LISTEN}
    for build in STATE_BUILDERS:
        reached.add(build().state)
    assert reached == set(State)


# ============================================================== options: SACK, timestamps


def test_limited_transmit_sends_new_data_on_the_first_two_duplicate_acks():
    t = TcpTest.established(send_buffer=20 * MSS)
    t.conn.send(b"L" * 14 * MSS, 0.0)
    assert len(t.drain()) == 10  # the initial window
    t.inject(ACK, 1, 1)  # first duplicate ACK
    t.expect(ACK, seq=1 + 10 * MSS, length=MSS)  # RFC 3042: one new segment
    t.inject(ACK, 1, 1)
    t.expect(ACK, seq=1 + 11 * MSS, length=MSS)
    t.inject(ACK, 1, 1)  # third: fast retransmit
    t.expect(ACK, seq=1, length=MSS)


def _established_with_timestamps() -> TcpTest:
    t = TcpTest.syn_sent()
    t.inject(SYN | ACK, 0, 1, options=Options(mss=MSS, timestamps=(500, 0), sack_permitted=True))
    ack = t.expect(ACK, seq=1, ack=1)
    assert ack.options.timestamps[1] == 500  # TSecr echoes the peer's TSval
    assert t.conn.ts_ok and t.conn.sack_ok
    return t


def test_paws_drops_a_segment_with_an_old_timestamp():
    t = _established_with_timestamps()
    t.inject(ACK | PSH, 1, 1, b"new", options=Options(timestamps=(600, 0)))
    assert t.conn.receive(10, 0.0) == b"new"
    t.drain()
    t.inject(ACK | PSH, 4, 1, b"old", options=Options(timestamps=(550, 0)))  # older TSval
    t.expect(ACK, ack=4)
    assert t.conn.receive(10, 0.0) == b""
    assert t.conn.stats.paws_rejected == 1


def test_receiver_reports_sack_blocks_newest_first():
    t = _established_with_timestamps()
    t.inject(ACK, 1 + 2 * MSS, 1, b"c" * MSS, options=Options(timestamps=(600, 0)))
    first = t.expect(ACK, ack=1)
    assert len(first.options.sack_blocks) == 1
    t.inject(ACK, 1 + 4 * MSS, 1, b"e" * MSS, options=Options(timestamps=(601, 0)))
    second = t.expect(ACK, ack=1)
    newest, older = second.options.sack_blocks
    assert newest[0] - older[0] == 2 * MSS  # RFC 2018 4: the latest block first


# ============================================================== RST in each synchronized state

SYNCHRONIZED_BUILDERS = {
    # state: (builder, RCV.NXT relative to the peer's ISN)
    "ESTABLISHED": (TcpTest.established, 1),
    "FIN-WAIT-1": (TcpTest.fin_wait_1, 1),
    "FIN-WAIT-2": (TcpTest.fin_wait_2, 1),
    "CLOSE-WAIT": (TcpTest.close_wait, 2),
    "CLOSING": (TcpTest.closing, 2),
    "LAST-ACK": (TcpTest.last_ack, 2),
}


@pytest.mark.parametrize("state", SYNCHRONIZED_BUILDERS)
def test_rst_out_of_window_is_silently_dropped(state):
    build, rcv_nxt = SYNCHRONIZED_BUILDERS[state]
    t = build()
    t.inject(RST, rcv_nxt + 100_000)
    t.expect_nothing()
    assert str(t.state) == state


@pytest.mark.parametrize("state", SYNCHRONIZED_BUILDERS)
def test_rst_in_window_not_exact_is_challenged_and_survived(state):
    build, rcv_nxt = SYNCHRONIZED_BUILDERS[state]
    t = build()
    t.inject(RST, rcv_nxt + 10)
    t.expect(ACK, ack=rcv_nxt)  # RFC 5961 3.2 challenge ACK
    assert str(t.state) == state


@pytest.mark.parametrize("state", SYNCHRONIZED_BUILDERS)
def test_rst_exactly_at_rcv_nxt_resets(state):
    build, rcv_nxt = SYNCHRONIZED_BUILDERS[state]
    t = build()
    t.inject(RST, rcv_nxt)
    assert t.state is S.CLOSED
    assert isinstance(t.conn.error, ConnectionResetError)
    t.expect_nothing()


def test_out_of_window_pure_acks_are_answered_at_most_twice_a_second():
    t = TcpTest.established()
    for i in range(100):  # a desynchronized peer's ACKs, all below RCV.NXT
        t.inject(ACK, -5000 - i, 1)
    assert len(t.drain()) == 1
    t.at(0.5)
    t.inject(ACK, -6000, 1)
    assert len(t.drain()) == 1
    t.inject(ACK | PSH, -7000, 1, b"old data")  # data is always answered
    assert len(t.drain()) == 1


def test_forged_zero_window_from_the_future_cannot_freeze_the_sender():
    # Found by the Hypothesis attacker: an in-window ACK with a zero window and a
    # SEQ ahead of RCV.NXT moves SND.WL1 forward, so by the RFC's WL1 rule no
    # genuine answer could ever reopen the window.  A closed window now reopens
    # on any acceptable segment that offers one.
    t = TcpTest.established()
    t.inject(ACK, 1 + 500, 1, window=0)  # the forgery: SEQ from the future
    t.conn.send(b"stuck?", 0.0)
    t.expect_nothing()
    t.at(1.0)
    t.expect(ACK, seq=0, length=0)  # zero-window probe
    t.inject(ACK, 1, 1, window=8000)  # the genuine peer's answer
    t.expect(ACK | PSH, seq=1, length=6)
