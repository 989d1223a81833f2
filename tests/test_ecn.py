"""ECN end to end (RFC 3168 6.1) over the emulated network, in virtual time."""

from __future__ import annotations

import trio

import emutcp
from emutcp.core.segment import CWR, ECE, SYN, decode_segment
from emutcp.testing import connection_of, payload

A, B = "10.0.0.1", "10.0.0.2"
ON = emutcp.Config(ecn=True)


def _network(config_a, config_b, *, mark=()):
    """Two hosts; every datagram is recorded as (src host, segment, ecn); the
    data datagrams from A numbered in ``mark`` arrive CE-marked."""
    net = emutcp.EmulatedNetwork(seed=1)
    a = net.add_host(A, config=config_a)
    b = net.add_host(B, config=config_b)
    net.add_link(A, B, delay=0.01, rate=20e6, queue=1000)
    log: list[tuple[str, object, int, float]] = []
    transmit = net.transmit
    count = [0]

    def recording(src, dst, data, ecn=0):
        seg = decode_segment(data)
        if src[0] == A and seg.payload:
            count[0] += 1
            if count[0] in mark:
                ecn = 3  # as a marking router on the way would (CE)
        log.append((src[0], seg, ecn, trio.current_time()))
        transmit(src, dst, data, ecn)

    net.transmit = recording  # transports made from now on send through it
    return net, a, b, log


async def _transfer(net, a, b, n=300_000):
    lst = await b.open_listeners(80)
    out = await a.open_stream(B, 80)
    inn = await lst[0].accept()
    data = payload(n)
    async with trio.open_nursery() as nursery:
        nursery.start_soon(out.send_all, data)
        got = b""
        while len(got) < n:
            got += await inn.receive_some(1 << 20)
    assert got == data
    return connection_of(out.socket), connection_of(inn.socket)


async def test_negotiation_needs_both_sides(mock_clock):
    for ca, cb, ok in ((ON, ON, True), (ON, None, False), (None, ON, False)):
        net, a, b, log = _network(ca, cb)
        snd, rcv = await _transfer(net, a, b, 10_000)
        assert snd.ecn.ok is ok and rcv.ecn.ok is ok
        syn = next(seg for h, seg, *_ in log if h == A)
        syn_ack = next(seg for h, seg, *_ in log if h == B)
        assert bool(syn.flags & ECE and syn.flags & CWR) is (ca is ON)
        assert syn_ack.flags & (ECE | CWR) == (ECE if ok else 0)  # RFC 3168 6.1.1
        data_ecn = {e for h, seg, e, _ in log if h == A and seg.payload}
        assert data_ecn == ({2} if ok else {0})  # ECT(0) only once negotiated


async def test_ce_is_echoed_until_cwr_and_the_sender_reduces_once(mock_clock):
    net, a, b, log = _network(ON, ON, mark=(40, 41, 42))
    snd, rcv = await _transfer(net, a, b)
    assert rcv.ecn.ce_received == 3
    assert snd.ecn.reductions == 1  # three marks in one window: one response
    assert snd.stats.retransmits == 0
    # Pure ACKs and SYNs are never ECT (RFC 3168 6.1.4).
    assert all(e == 0 for h, seg, e, _ in log if not seg.payload)
    cwr = [t for h, seg, _, t in log if h == A and seg.flags & CWR and seg.payload]
    assert len(cwr) == 1  # one CWR, on new data
    ece = [t for h, seg, _, t in log if h == B and seg.flags & ECE and not seg.flags & SYN]
    assert ece and min(ece) < cwr[0]  # ECE went out before the sender's CWR
    # Once the CWR segment has arrived (10 ms one way, plus queueing), no more ECE.
    assert max(ece) < cwr[0] + 0.05
    later = [seg for h, seg, _, t in log if h == B and t > cwr[0] + 0.05]
    assert len(later) > 50 and not any(seg.flags & ECE for seg in later)


async def test_retransmissions_are_not_ect(mock_clock):
    net, a, b, log = _network(ON, ON)
    net.link(A, B).profile = emutcp.LinkProfile(
        delay=0.01, rate=20e6, queue=1000, drop_nth=frozenset({30})
    )
    snd, _ = await _transfer(net, a, b)
    assert snd.stats.retransmits >= 1
    seen: dict[int, int] = {}
    retrans_ecn = []
    for h, seg, e, _ in log:
        if h == A and seg.payload:
            if seg.seq in seen:
                retrans_ecn.append(e)
            seen[seg.seq] = e
    assert retrans_ecn and set(retrans_ecn) == {0}  # RFC 3168 6.1.5


def test_pcap_shows_the_ecn_field_and_flags():
    from emutcp.core.segment import ACK, Segment
    from emutcp.pcap import tcp_ip_packet

    seg = Segment(1, 2, 100, 200, ACK | ECE | CWR, 1000, payload=b"x", ecn=3)
    pkt = tcp_ip_packet(seg, (A, 1), (B, 2), 7)
    assert pkt[1] & 3 == 3  # IPv4 TOS: the ECN field, CE
    assert pkt[20 + 13] & 0xC0 == 0xC0  # TCP header: CWR and ECE
    plain = tcp_ip_packet(Segment(1, 2, 100, 200, ACK, 1000), (A, 1), (B, 2), 7)
    assert plain[1] == 0
