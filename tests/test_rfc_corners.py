"""RFC corners: the rules a straightforward reading of RFC 9293 misses.

Scripts in the packetdrill style (see tcptest.py): seq/ack relative to the
ISNs, explicit time.  One banner per rule, each naming where it comes from.
"""

from __future__ import annotations

import random
import socket as stdsocket

import msgpack
import pytest
import trio
from hypothesis import given, settings
from hypothesis import strategies as st
from tcptest import ACK, FIN, LOCAL_ISS, MSS, PSH, REMOTE, SYN, State, TcpTest

import emutcp
from emutcp.core.config import Config
from emutcp.core.mux import Mux
from emutcp.core.segment import (
    NO_OPTIONS,
    Options,
    Segment,
    decode_segment,
    encode_segment,
    looks_like_segment,
    plausible_segment,
)
from emutcp.core.seq import seq_add, seq_diff

S = State


def _established_with_timestamps(tsval: int = 500) -> TcpTest:
    t = TcpTest.syn_sent()
    t.inject(SYN | ACK, 0, 1, options=Options(mss=MSS, timestamps=(tsval, 0)))
    t.expect(ACK, seq=1, ack=1)
    assert t.conn.ts_ok
    return t


# ============================================================== ICMP port unreachable
# RFC 1122 4.2.3.9: port unreachable is a hard error; only a run of them counts.


def test_three_icmp_port_unreachables_abort_an_established_connection():
    t = TcpTest.established()
    t.conn.send(b"x" * 100, 0.0)
    t.expect(ACK | PSH, seq=1, length=100)
    t.conn.receive_icmp_unreachable(0.1)
    t.conn.receive_icmp_unreachable(1.0)
    assert t.state is S.ESTABLISHED  # one or two may be forged or stale
    t.conn.receive_icmp_unreachable(3.0)
    assert t.state is S.CLOSED
    assert isinstance(t.conn.error, ConnectionResetError)
    assert "unreachable" in str(t.conn.error)
    t.expect_nothing()  # nobody is there to receive a RST


def test_an_acceptable_segment_resets_the_icmp_count():
    t = TcpTest.established()
    t.conn.receive_icmp_unreachable(0.1)
    t.conn.receive_icmp_unreachable(0.2)
    t.inject(ACK, 1, 1)  # the peer is alive after all
    t.conn.receive_icmp_unreachable(0.3)
    t.conn.receive_icmp_unreachable(0.4)
    assert t.state is S.ESTABLISHED
    t.inject(ACK, 1_000_000, 1)  # an unacceptable segment proves nothing
    t.drain()
    t.conn.receive_icmp_unreachable(0.5)
    assert t.state is S.CLOSED
    assert isinstance(t.conn.error, ConnectionResetError)


def test_data_received_before_the_icmp_reset_is_still_read():
    t = TcpTest.established()
    t.inject(ACK | PSH, 1, 1, b"last words")
    for now in (1.0, 2.0, 3.0):
        t.conn.receive_icmp_unreachable(now)
    assert t.state is S.CLOSED
    assert t.conn.receive(100, 3.0) == b"last words"  # unlike a RST, nothing is flushed


def test_icmp_port_unreachable_in_time_wait_is_ignored():
    t = TcpTest.time_wait()
    for now in (1.0, 2.0, 3.0, 4.0):
        t.conn.receive_icmp_unreachable(now)
    assert t.state is S.TIME_WAIT


# ============================================================== MSS floor
# A peer's MSS option below 48 bytes is raised to 48 (Linux tcp_min_snd_mss).


def test_a_syn_ack_announcing_mss_1_does_not_make_us_send_1_byte_segments():
    t = TcpTest.syn_sent()
    t.inject(SYN | ACK, 0, 1, options=Options(mss=1))
    t.expect(ACK, seq=1, ack=1)
    assert t.conn.snd_mss == 48
    t.conn.send(b"m" * 100, 0.0)
    t.expect(ACK, seq=1, length=48)
    t.expect(ACK, seq=49, length=48)


def test_a_syn_announcing_mss_1_is_clamped_too():
    t = TcpTest(passive=True)
    t.inject(SYN, 0, options=Options(mss=1))
    t.expect(SYN | ACK, seq=0, ack=1)
    assert t.conn.snd_mss == 48
    t.inject(ACK, 1, 1)
    t.conn.send(b"m" * 60, 0.0)
    t.expect(ACK, seq=1, length=48)


def test_a_larger_mss_option_is_taken_as_offered():
    t = TcpTest.syn_sent()
    t.inject(SYN | ACK, 0, 1, options=Options(mss=300))
    assert t.conn.snd_mss == 300


# ============================================================== plausible_segment
# The transport's junk filter checks the trailing CRC without decoding msgpack.

_u32 = st.integers(0, 0xFFFF_FFFF)
_segments = st.builds(
    Segment,
    st.integers(0, 65_535),
    st.integers(0, 65_535),
    _u32,
    _u32,
    st.integers(0, 0xFF).filter(lambda f: not (f & SYN and f & 0x05)),
    st.integers(0, 65_535),
    st.one_of(
        st.just(NO_OPTIONS),
        st.builds(
            Options,
            st.none() | st.integers(1, 65_535),
            st.none() | st.integers(0, 14),
            st.booleans(),
            st.lists(st.tuples(_u32, _u32), max_size=4).map(tuple),
            st.none() | st.tuples(_u32, _u32),
        ),
    ),
    st.binary(max_size=1400),
)


@settings(max_examples=500, deadline=None)
@given(_segments)
def test_every_encoded_segment_is_plausible(seg):
    data = encode_segment(seg)
    assert plausible_segment(data)
    assert plausible_segment(bytearray(data))
    assert plausible_segment(memoryview(data))
    assert decode_segment(data) == seg


def _crc_of(seg: Segment) -> int:
    return msgpack.unpackb(encode_segment(seg))[-1]


def _with_crc(seg: Segment, target: int) -> Segment:
    """``seg`` with 4 bytes appended to its payload so that its CRC is ``target``:
    CRC-32 is affine over GF(2), so 4 free bytes reach any value."""

    def tail(bits: int) -> Segment:
        return seg.replace(payload=seg.payload + bits.to_bytes(4, "little"))

    base = _crc_of(tail(0))
    basis: dict[int, tuple[int, int]] = {}  # top bit -> (effect on the CRC, tail bits)
    for i in range(32):
        v, c = _crc_of(tail(1 << i)) ^ base, 1 << i
        while v:
            top = v.bit_length() - 1
            if top not in basis:
                basis[top] = (v, c)
                break
            v, c = v ^ basis[top][0], c ^ basis[top][1]
    want, bits = target ^ base, 0
    while want:
        v, c = basis[want.bit_length() - 1]
        want, bits = want ^ v, bits ^ c
    forged = tail(bits)
    assert _crc_of(forged) == target
    return forged


@pytest.mark.parametrize(
    "crc", [0, 5, 0x7F, 0x80, 0xAB, 0xFF, 0x100, 0x1234, 0xFFFF, 0x10000, 0x9ACE_CDCC, 0xFFFF_FFFF]
)
def test_every_msgpack_size_of_the_crc_is_recognised(crc):
    # One segment in 65,536 has a CRC short enough for uint16 or smaller; build them.
    for payload in (b"", b"\xce\xcd\xcc", b"x" * 700):
        seg = _with_crc(Segment(80, 4000, 1, 2, ACK, 100, NO_OPTIONS, payload), crc)
        wire = encode_segment(seg)
        assert plausible_segment(wire)
        assert decode_segment(wire) == seg
        assert not plausible_segment(wire[:-1] + bytes([wire[-1] ^ 1]))


@settings(max_examples=500, deadline=None)
@given(_segments, st.data())
def test_a_mutated_segment_is_not_plausible(seg, data):
    wire = bytearray(encode_segment(seg))
    how = data.draw(st.sampled_from(["flip", "truncate", "append"]))
    if how == "flip":
        i = data.draw(st.integers(0, len(wire) - 1))
        wire[i] ^= 1 << data.draw(st.integers(0, 7))
    elif how == "truncate":
        del wire[data.draw(st.integers(1, len(wire) - 1)) :]
    else:
        wire += data.draw(st.binary(min_size=1, max_size=8))
    assert not plausible_segment(bytes(wire))


def test_random_and_mimic_junk_is_not_plausible():
    rng = random.Random(9)
    for i in range(20_000):
        junk = rng.randbytes(13 + i % 1200)
        mimic = b"\x9a\x01" + junk
        assert looks_like_segment(mimic)  # the old filter let all of these through
        assert not plausible_segment(junk)
        assert not plausible_segment(mimic)
    assert not plausible_segment(b"")
    assert not plausible_segment(b"\x9a\x01")


async def test_the_real_udp_host_drops_mimic_junk_before_the_core():
    host = emutcp.UdpHost()
    transport = host.make_transport(("127.0.0.1", 0))
    real = encode_segment(Segment(1, 2, 3, 4, ACK, 5, NO_OPTIONS, b"payload"))
    with stdsocket.socket(stdsocket.AF_INET, stdsocket.SOCK_DGRAM) as sender:
        sender.sendto(b"\x9a\x01" + bytes(range(40)), transport.local)
        sender.sendto(real, transport.local)
    got: list = []
    with trio.fail_after(5):
        while not got:
            await transport.wait_readable()
            got += transport.recv_batch(16)
    transport.close()
    assert [data for data, _addr in got] == [real]
    assert transport.junk == 1


# ============================================================== LISTEN: other text or control
# RFC 9293 3.10.7.2: a segment with none of SYN, ACK, RST is dropped in LISTEN.


@pytest.mark.parametrize("payload", [b"", b"data"])
def test_listen_drops_a_segment_without_syn_ack_or_rst(payload):
    mux = Mux(local=("10.0.0.1", 80), config=Config(), rng=random.Random(1))
    mux.listen(8, 0.0)
    fin = Segment(REMOTE[1], 80, 12345, 0, FIN | PSH, 1000, NO_OPTIONS, payload)
    mux.receive_datagram(encode_segment(fin), REMOTE, 0.0)
    assert mux.datagrams_to_send(0.0) == []
    assert mux.stats["dropped_in_listen"] == 1
    assert mux.stats["rst_sent"] == 0
    assert not mux.connections


def test_listen_still_answers_an_ack_with_rst():
    mux = Mux(local=("10.0.0.1", 80), config=Config(), rng=random.Random(1))
    mux.listen(8, 0.0)
    ack = Segment(REMOTE[1], 80, 12345, 777, ACK | FIN, 1000)
    mux.receive_datagram(encode_segment(ack), REMOTE, 0.0)
    [(reply, _addr)] = mux.datagrams_to_send(0.0)
    assert decode_segment(reply).seq == 777


def test_no_listener_still_answers_a_bare_fin_with_rst():
    mux = Mux(local=("10.0.0.1", 80), config=Config(), rng=random.Random(1))
    fin = Segment(REMOTE[1], 80, 12345, 0, FIN, 1000)
    mux.receive_datagram(encode_segment(fin), REMOTE, 0.0)
    [(reply, _addr)] = mux.datagrams_to_send(0.0)
    assert decode_segment(reply).ack == 12346  # RFC 9293 3.10.7.1


# ============================================================== one duplicate ACK per segment
# RFC 5681 4.2: one immediate ACK per out-of-order segment, even with a FIN queued.


def test_out_of_order_data_after_an_out_of_order_fin_gets_one_duplicate_ack():
    t = TcpTest.established()
    t.inject(ACK | FIN, 1 + 2 * MSS, 1)  # the FIN, ahead of a hole
    t.expect(ACK, ack=1)
    t.expect_nothing()
    t.inject(ACK, 1 + MSS, 1, b"b" * MSS)  # still out of order
    t.expect(ACK, ack=1)
    t.expect_nothing()  # exactly one
    t.inject(ACK, 1, 1, b"a" * MSS)  # fills the hole: data and FIN in order
    t.expect(ACK, ack=2 + 2 * MSS)
    assert t.state is S.CLOSE_WAIT


def test_out_of_order_data_carrying_the_fin_gets_one_duplicate_ack():
    t = TcpTest.established()
    t.inject(ACK | FIN, 1 + MSS, 1, b"b" * MSS)
    t.expect(ACK, ack=1)
    t.expect_nothing()


# ============================================================== TS.Recent and the ACK check
# RFC 5961 5.2 (as Linux): an ACK of unsent data is dropped with an ACK before
# TS.Recent is updated, so it cannot wedge the connection by PAWS.


def test_an_ack_of_unsent_data_does_not_update_ts_recent():
    t = _established_with_timestamps(500)
    far = 500 + 0x4000_0000  # a TSval far ahead of the peer's clock
    t.inject(ACK, 1, 5000, options=Options(timestamps=(far, 0)))
    ack = t.expect(ACK, seq=1, ack=1)
    assert ack.options.timestamps[1] == 500  # TS.Recent unchanged
    t.inject(ACK | PSH, 1, 1, b"genuine", options=Options(timestamps=(600, 0)))
    assert t.conn.receive(100, 0.0) == b"genuine"
    assert t.conn.stats.paws_rejected == 0
    t.inject(ACK | PSH, 8, 1, b"more", options=Options(timestamps=(601, 0)))
    assert t.conn.receive(100, 0.0) == b"more"
    t.at(0.04)  # the delayed ACK; TS.Recent is from the segment at Last.ACK.sent
    assert t.expect(ACK, ack=12).options.timestamps[1] == 600


def test_ts_recent_still_follows_acceptable_segments():
    t = _established_with_timestamps(500)
    t.inject(ACK | PSH, 1, 1, b"x" * MSS, options=Options(timestamps=(700, 0)))
    t.inject(ACK | PSH, 1 + MSS, 1, b"y" * MSS, options=Options(timestamps=(701, 0)))
    assert t.expect(ACK, ack=1 + 2 * MSS).options.timestamps[1] == 700  # RFC 7323 4.3


# ============================================================== RTO after a retransmitted SYN
# RFC 6298 5.7: the RTO is re-initialized to 3 s when data transmission begins.


def test_after_a_retransmitted_syn_the_first_data_rto_is_3_s():
    t = TcpTest.syn_sent()
    t.at(1.0)
    t.expect(SYN, seq=0)  # the first SYN was lost
    t.at(1.2)
    t.inject(SYN | ACK, 0, 1, options=Options(mss=MSS))
    t.expect(ACK, seq=1, ack=1)
    assert t.conn.rtt.rto == 3.0
    t.conn.send(b"d" * 100, t.now)
    t.expect(ACK | PSH, seq=1, length=100)
    assert t.conn.get_timer() == pytest.approx(1.2 + 3.0)
    t.at(4.199)
    t.expect_nothing()
    t.at(4.2)
    t.expect(ACK | PSH, seq=1, length=100)


def test_after_a_retransmitted_syn_ack_the_first_data_rto_is_3_s():
    t = TcpTest.syn_rcvd()
    t.at(1.0)
    t.expect(SYN | ACK, seq=0, ack=1)
    t.at(1.5)
    t.inject(ACK, 1, 1)
    assert t.state is S.ESTABLISHED
    assert t.conn.rtt.rto == 3.0


def test_the_3_s_rto_after_a_syn_timeout_falls_with_the_first_rtt_sample():
    t = TcpTest.syn_sent()
    t.at(1.0)
    t.expect(SYN, seq=0)
    t.inject(SYN | ACK, 0, 1, options=Options(mss=MSS))
    t.expect(ACK, seq=1, ack=1)
    t.conn.send(b"d" * 100, t.now)
    t.expect(ACK | PSH, seq=1, length=100)
    t.at(1.1)
    t.inject(ACK, 1, 101)  # RTT 0.1 s: RTO = max(rto_min, 0.1 + 4 * 0.05)
    assert t.conn.rtt.rto == pytest.approx(1.0)


def test_an_initial_rto_of_3_s_or_more_is_not_lowered_after_a_syn_timeout():
    t = TcpTest.syn_sent(initial_rto=4.0)
    t.at(4.0)
    t.expect(SYN, seq=0)
    t.inject(SYN | ACK, 0, 1, options=Options(mss=MSS))
    assert t.conn.rtt.rto == 8.0  # backed off; 5.7 applies only to an RTO below 3 s


def test_a_handshake_without_retransmission_keeps_the_1_s_rto():
    t = TcpTest.established()
    assert t.conn.rtt.rto == 1.0


# ============================================================== SYN retries for 3 minutes
# RFC 1122 4.2.3.5: R2 for a SYN is at least 3 minutes.


def test_syn_retransmission_goes_on_for_at_least_3_minutes():
    t = TcpTest.syn_sent()
    sent = [0.0]
    while t.state is S.SYN_SENT:
        t.at(t.conn.get_timer())
        if t.drain():
            sent.append(t.now)
    assert sent == [0.0, 1.0, 3.0, 7.0, 15.0, 31.0, 63.0, 123.0]  # rto_max 60 s
    assert t.now == 183.0 >= 180.0
    assert isinstance(t.conn.error, TimeoutError)


def test_syn_retries_remain_configurable():
    t = TcpTest.syn_sent(syn_retries=2)
    for at in (1.0, 3.0):
        t.at(at)
        t.expect(SYN, seq=0)
    t.at(7.0)
    assert t.state is S.CLOSED


# ============================================================== user timeout on a zero window
# RFC 5482 / RFC 9293 3.8.3 (as Linux): answered zero-window probes are no
# progress; TCP_USER_TIMEOUT still ends a sender the peer never lets send.


def _answer_probes_until_closed(t: TcpTest, until: float) -> int:
    probes = 0
    while t.state is not S.CLOSED and t.now < until:
        t.at(t.conn.get_timer())
        for seg in t.drain():
            if not seg.payload and seg.seq == seq_add(t.conn.snd_una, -1):
                probes += 1
                t.inject(ACK, 1, seq_diff(t.conn.snd_una, LOCAL_ISS), window=0)
    return probes


def test_user_timeout_ends_a_sender_whose_answered_probes_never_open_the_window():
    t = TcpTest.established(user_timeout=30.0)
    t.conn.send(b"a" * 1000, 0.0)
    t.expect(ACK | PSH, seq=1, length=1000)
    t.at(0.5)
    t.inject(ACK, 1, 1001, window=0)  # everything acked, and the window shuts
    t.conn.send(b"b" * 10, t.now)
    t.expect_nothing()
    probes = _answer_probes_until_closed(t, 1000.0)
    assert probes >= 3
    assert t.state is S.CLOSED
    assert isinstance(t.conn.error, TimeoutError)
    assert t.now == pytest.approx(30.5)


def test_a_zero_window_with_data_beyond_it_is_probed_after_the_rto():
    # The window shuts while data is in flight beyond it.  The RTO finds nothing
    # it may send; the sender must still probe (RFC 9293 3.8.6.1) rather than
    # sit with no timer at all, never noticing a dead peer.
    t = TcpTest.established()
    t.conn.send(b"p" * 8 * MSS, 0.0)
    assert len(t.drain()) == 8
    t.at(0.1)
    t.inject(ACK, 1, 1 + 6 * MSS, window=0)
    t.expect_nothing()
    t.at(t.conn.get_timer())  # the RTO: nothing fits in the window
    t.expect_nothing()
    assert t.conn.get_timer() is not None
    t.at(t.conn.get_timer())
    t.expect(ACK, seq=6 * MSS, length=0)  # a probe at SND.UNA - 1
    t.inject(ACK, 1, 1 + 6 * MSS, window=4 * MSS)  # the window opens
    t.expect(ACK, seq=1 + 6 * MSS, length=MSS)  # go-back-N, cwnd one segment


def test_user_timeout_ends_a_zero_window_stall_with_data_beyond_the_window():
    t = TcpTest.established(user_timeout=30.0)
    t.conn.send(b"p" * 8 * MSS, 0.0)
    t.drain()
    t.at(0.1)
    t.inject(ACK, 1, 1 + 6 * MSS, window=0)
    probes = _answer_probes_until_closed(t, 1000.0)
    assert probes >= 2
    assert isinstance(t.conn.error, TimeoutError)
    assert t.now == pytest.approx(30.1)


def test_user_timeout_covers_a_fin_stuck_behind_a_zero_window():
    t = TcpTest.established(user_timeout=30.0)
    t.conn.send(b"a" * 100, 0.0)
    t.expect(ACK | PSH, seq=1, length=100)
    t.inject(ACK, 1, 101, window=0)  # all acked: nothing left to time out
    assert t.conn.get_timer() is None
    t.at(5.0)
    t.conn.shutdown_write(t.now)
    t.expect(FIN | ACK, seq=101)
    for _ in range(100):
        if t.state is S.CLOSED:
            break
        t.at(t.conn.get_timer())
        t.drain()
        t.inject(ACK, 1, 101, window=0)  # the peer answers, never taking the FIN
    assert isinstance(t.conn.error, TimeoutError)
    assert "user timeout" in str(t.conn.error)
    assert t.now == pytest.approx(35.0)


# --- RFC 8201 / RFC 1191: the path MTU fell (the shell saw EMSGSIZE) ----------


def test_a_lowered_path_mss_resends_what_was_dropped_in_smaller_segments():
    t = TcpTest.established()
    t.conn.send(b"j" * 1000, 0.0)
    t.expect(ACK | PSH, seq=1, length=1000)  # refused by the path: never arrived
    t.conn.path_mss_lowered(400, 0.001)
    assert t.conn.snd_mss == 400
    t.expect(ACK, seq=1, length=400)  # resent at once, not after an RTO
    t.expect(ACK, seq=401, length=400)
    t.expect(ACK | PSH, seq=801, length=200)
    t.conn.path_mss_lowered(900, 0.002)  # a larger limit never raises the MSS here
    assert t.conn.snd_mss == 400


# --- accept() after a reset: the handshake completed, so the connection exists -


def test_a_connection_reset_right_after_its_handshake_is_still_accepted():
    """The client's ACK (with data) and its RST arrive in one receive batch.
    The handshake completed before the RST, so, as on Linux, accept() returns
    the connection and the application learns of the reset from it, rather
    than waiting forever for a connection the peer believes exists."""
    a = Mux(local=("10.0.0.1", 5000), config=Config(), rng=random.Random(1))
    b = Mux(local=("10.0.0.2", 80), config=Config(), rng=random.Random(2))
    b.listen(4, 0.0)
    client = a.connect(b.local, 0.0)
    for data, _ in a.datagrams_to_send(0.0):  # SYN
        b.receive_datagram(data, a.local, 0.0)
    for data, _ in b.datagrams_to_send(0.0):  # SYN+ACK
        a.receive_datagram(data, b.local, 0.01)
    assert client.state is S.ESTABLISHED
    client.send(b"hello", 0.01)
    a.touch(client)
    batch = a.datagrams_to_send(0.01)  # the handshake's ACK, and the data
    client.abort(0.02)
    a.touch(client)
    batch += a.datagrams_to_send(0.02)  # then the RST
    for data, _ in batch:  # one batch: no output from b in between
        b.receive_datagram(data, a.local, 0.03)
    conn = b.accept()
    assert conn is not None
    assert isinstance(conn.error, ConnectionResetError)
