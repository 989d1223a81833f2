"""RACK-TLP (RFC 8985) with PRR (RFC 6937), D-SACK undo (RFC 3708), and the
scripted drops that the issue's checks use.

The scripted tests play the peer (tcptest.py, MSS 1000, IW 10); the checks
run bulk transfers in virtual time over the emulated network and assert the
issue's bounds.
"""

from __future__ import annotations

import dataclasses

import pytest
import trio
from tcptest import ACK, LOCAL_ISS, MSS, PSH, SYN, State, TcpTest

from emutcp.core.config import Config
from emutcp.core.events import MetricsSample, RecoveryEvent
from emutcp.core.frto import GO_BACK, NEW_DATA, SPURIOUS, Frto
from emutcp.core.prr import Prr
from emutcp.core.segment import Options
from emutcp.core.sentmap import SentMap
from emutcp.emulated import EmulatedNetwork
from emutcp.lab.sweep import coerce
from emutcp.testing import A, B, bulk_transfer, payload, run_virtual, two_hosts
from emutcp.transport.link import LinkProfile

WINDOW = 65_535


def _established(**kw) -> TcpTest:
    t = TcpTest.syn_sent(**{"send_buffer": 20 * MSS, **kw})
    t.at(0.1)  # an RTT of 100 ms: SRTT 0.1 s from the SYN
    t.inject(SYN | ACK, 0, 1, options=Options(mss=MSS, sack_permitted=True))
    t.expect(ACK, seq=1, ack=1)
    assert t.state is State.ESTABLISHED and t.conn.sack_ok
    return t


def _sack(*blocks: tuple[int, int]) -> Options:
    return Options(sack_blocks=tuple((LOCAL_ISS + 1 + s, LOCAL_ISS + 1 + e) for s, e in blocks))


def _cc(t: TcpTest) -> tuple[int, int]:
    return t.conn.cc.cwnd, t.conn.cc.ssthresh


def _reasons(t: TcpTest) -> list[str]:
    return [r.reason for r in t.records if getattr(r, "direction", "") == "out" and r.length]


# ============================================================ scripted


def test_rack_declares_the_hole_lost_and_prr_paces_the_reduction():
    t = _established()
    t.conn.send(b"d" * 14 * MSS, t.now)
    assert len(t.drain()) == 10
    t.at(0.2)
    # Three segments SACKed above the first: no reordering seen, so the reordering
    # window is zero and the first segment, sent before them, is lost (RFC 8985 6.2).
    t.inject(ACK, 1, 1, window=WINDOW, options=_sack((MSS, 4 * MSS)))
    t.expect(ACK, seq=1, length=MSS)
    t.expect_nothing()
    # PRR (RFC 6937): ssthresh 5 MSS; pipe 10 - 3 SACKed - 1 lost = 6 MSS; 3 MSS
    # delivered: sndcnt = ceil(3 * 5/10) MSS = 1.5 MSS; cwnd = pipe + sndcnt.
    assert _cc(t) == (7500, 5 * MSS)
    assert _reasons(t)[-1] == "RACK retransmission"
    # One more SACKed: prr_delivered 4 MSS, sndcnt = 2 - 1 (sent) = 1 MSS of new data.
    t.inject(ACK, 1, 1, window=WINDOW, options=_sack((MSS, 5 * MSS)))
    assert _cc(t) == (7 * MSS, 5 * MSS)
    t.expect(ACK, seq=1 + 10 * MSS, length=MSS)
    t.expect_nothing()
    # The cumulative ACK passes the recovery point: cwnd = ssthresh, no burst.
    t.inject(ACK, 1, 1 + 10 * MSS, window=WINDOW)
    assert _cc(t) == (5 * MSS, 5 * MSS)
    info = t.conn.info()
    assert (info.fast_retransmits, info.rack_retransmits, info.recovery) == (1, 1, "rack")


def test_tail_loss_probe_resends_the_last_segment_and_rack_repairs_the_tail():
    t = _established()
    t.conn.send(b"d" * 10 * MSS, t.now)
    assert len(t.drain()) == 10
    t.at(0.2)
    t.inject(ACK, 1, 1 + 7 * MSS, window=WINDOW)  # the last three are lost
    assert t.conn.rtt.srtt == pytest.approx(0.1)
    # RFC 8985 7.2: PTO = 2 SRTT after the ACK, well before the RTO (1 s).
    assert t.conn.active_timer().value == "loss-probe"
    assert t.conn.get_timer() == pytest.approx(0.4)
    t.at(0.4)
    t.expect(ACK | PSH, seq=1 + 9 * MSS, length=MSS)  # RFC 8985 7.3: the last segment
    t.expect_nothing()
    assert _reasons(t)[-1] == "TLP probe"
    # Its SACK shows segments 8 and 9 were sent before a delivered one, long ago.
    t.at(0.51)  # (an RTT below min_RTT would credit the original, RFC 8985 6.2 step 2)
    t.inject(ACK, 1, 1 + 7 * MSS, window=WINDOW, options=_sack((9 * MSS, 10 * MSS)))
    t.expect(ACK, seq=1 + 7 * MSS, length=MSS)
    t.expect(ACK, seq=1 + 8 * MSS, length=MSS)
    t.expect_nothing()
    t.inject(ACK, 1, 1 + 10 * MSS, window=WINDOW)
    info = t.conn.info()
    assert (info.tlp_probes, info.rack_retransmits, info.rto_expirations) == (1, 2, 0)
    events = [r.what for r in t.records if isinstance(r, RecoveryEvent)]
    assert events == ["TLP probe (retransmission)"]


def test_dsack_of_every_retransmission_undoes_the_reduction():
    t = _established()
    t.conn.send(b"d" * 10 * MSS, t.now)
    t.drain()
    t.at(0.2)
    t.inject(ACK, 1, 1, window=WINDOW, options=_sack((MSS, 4 * MSS)))
    t.expect(ACK, seq=1, length=MSS)  # spurious: segment 1 was only late
    assert t.conn.cc.ssthresh == 5 * MSS
    t.inject(ACK, 1, 1 + 10 * MSS, window=WINDOW)  # the original arrived
    assert _cc(t) == (5 * MSS, 5 * MSS)
    # The retransmission arrives as a duplicate: D-SACK below the ACK (RFC 2883).
    t.inject(ACK, 1, 1 + 10 * MSS, window=WINDOW, options=_sack((0, MSS)))
    assert _cc(t) == (10 * MSS, 1 << 30)  # restored as before the episode
    info = t.conn.info()
    assert (info.undos, info.dsacks_received, info.spurious_retransmits) == (1, 1, 1)
    events = [r.what for r in t.records if isinstance(r, RecoveryEvent)]
    assert events == [f"undo (D-SACK): cwnd {10 * MSS}, ssthresh {1 << 30}"]


def test_a_dsack_of_data_never_retransmitted_undoes_nothing():
    t = _established()
    t.conn.send(b"d" * 10 * MSS, t.now)
    t.drain()
    t.at(0.2)
    t.inject(ACK, 1, 1, window=WINDOW, options=_sack((MSS, 4 * MSS)))
    t.expect(ACK, seq=1, length=MSS)
    # The network duplicated segment 3: a D-SACK inside the second block.
    t.inject(ACK, 1, 1, window=WINDOW, options=_sack((2 * MSS, 3 * MSS), (MSS, 4 * MSS)))
    info = t.conn.info()
    assert (info.undos, info.dsacks_received, info.spurious_retransmits) == (0, 1, 0)
    assert t.conn.cc.ssthresh == 5 * MSS


def test_rfc6675_path_stays_selectable():
    t = _established(recovery="rfc6675")
    assert not t.conn.recovery.racking
    assert t.conn.info().recovery == "rfc6675"
    with pytest.raises(ValueError, match="recovery"):
        Config(recovery="bogus")


# ============================================================ scripted drops


def test_drop_counts_data_packets_from_one_retransmissions_included():
    async def main():
        net, a, b = two_hosts(seed=1, rate=10e6, delay=0.01, drop=(5, 21))
        r = await bulk_transfer(a, b, payload(20 * 1400))
        assert r.intact
        stats = net.link(A, B).stats
        # 20 data packets, the 5th dropped; its retransmission is the 21st, dropped too.
        assert stats.dropped["scripted"] == 2
        assert stats.data_packets >= 22
        return r.client_info

    info = run_virtual(main, seed=1)
    assert info.retransmits >= 2


@pytest.mark.parametrize("bad", [(0,), (-1,), (1.5,), ("x",), (True,), "98", 7])
def test_drop_rejects_what_is_not_a_packet_number(bad):
    with pytest.raises(ValueError, match="drop"):
        LinkProfile(drop=bad)
    if isinstance(bad, tuple):
        with pytest.raises(ValueError, match="drop"):
            coerce("drop", list(bad))
    assert coerce("drop", [100, 98, 99]) == (98, 99, 100)


# ============================================================ the checks


def _transfer(nbytes: int, *, config: Config | None = None, seed: int = 1, **link):
    async def main():
        _net, a, b = two_hosts(seed=seed, config=config, **link)
        r = await bulk_transfer(a, b, payload(nbytes))
        assert r.intact
        return r

    return run_virtual(main, seed=seed)


def test_check_tail_loss_is_repaired_by_a_probe_not_an_rto():
    # 100 segments over 10 Mbit/s, 50 ms RTT, the last three data packets dropped.
    link = dict(rate=10e6, delay=0.025)
    clean = _transfer(140_000, **link)
    lossy = _transfer(140_000, drop=(98, 99, 100), **link)
    info = lossy.client_info
    assert (info.rto_expirations, info.tlp_probes) == (0, 1)
    assert lossy.seconds - clean.seconds <= 0.3, (clean.seconds, lossy.seconds)


def test_check_reordering_without_loss_leaves_no_congestion_response():
    # 2 % of the data packets are held back by five positions; nothing is lost.
    link = dict(rate=10e6, delay=0.025, reorder=0.02, reorder_gap=5)
    clean = _transfer(2_000_000, seed=2, rate=10e6, delay=0.025)
    reordered = _transfer(2_000_000, seed=2, **link)
    info = reordered.client_info
    assert info.rto_expirations == 0
    assert info.undos == info.fast_retransmits  # every response taken was undone
    assert info.ssthresh == 1 << 30  # ... so none survives
    assert reordered.goodput_bps >= 0.95 * clean.goodput_bps


def _delay_spike(config: Config):
    """1.6 MB over 10 Mbit/s, 50 ms RTT; data sent between 0.50 and 0.55 s takes 2 s
    longer (later datagrams queue behind it: a spike, not reordering, no loss)."""
    log: list = []

    def trace(rec, local, remote) -> None:
        if isinstance(rec, RecoveryEvent | MetricsSample):
            log.append(rec)

    async def main():
        net = EmulatedNetwork(seed=1)
        a = net.add_host(A, config=config, trace=trace)
        b = net.add_host(B, config=config)
        net.add_link(A, B, rate=10e6, delay=0.025)
        link = net.link(A, B)

        async def spike() -> None:
            await trio.sleep(0.5)
            base = link.profile
            link.profile = dataclasses.replace(base, delay=2.025)
            await trio.sleep(0.05)
            link.profile = base

        async with trio.open_nursery() as nursery:
            nursery.start_soon(spike)
            r = await bulk_transfer(a, b, payload(1_600_000))
        assert r.intact
        assert sum(net.link(A, B).stats.dropped.values()) == 0
        return r

    return run_virtual(main, seed=1), log


def test_check_delay_spike_frto_finds_the_rto_spurious_and_restores_cwnd():
    r, log = _delay_spike(Config())
    info = r.client_info
    assert info.rto_expirations == 1
    assert info.retransmits <= 2  # the RTO's one segment (and a loss probe), no go-back-N
    (undo,) = [e for e in log if isinstance(e, RecoveryEvent) and e.what.startswith("undo")]
    assert undo.what.startswith("undo (F-RTO: spurious RTO)")
    samples = [s for s in log if isinstance(s, MetricsSample)]
    at_rto = next(s for s in samples if s.cwnd == info.mss)  # RFC 5681: one segment
    before = samples[samples.index(at_rto) - 1]
    after = next(s for s in samples if s.time >= undo.time)
    # RFC 4015 4: ssthresh back to pipe_prev, cwnd = FlightSize + min(ACKed, IW).
    assert after.ssthresh == max(before.ssthresh, at_rto.bytes_in_flight)
    assert after.cwnd >= 0.95 * at_rto.bytes_in_flight
    assert after.time - at_rto.time < 1.0


def test_delay_spike_without_frto_is_undone_by_dsack():
    r, _ = _delay_spike(Config(frto=False))
    info = r.client_info
    assert info.rto_expirations == 1
    assert info.retransmits > 100  # go-back-N resent the window ...
    assert info.spurious_retransmits >= info.retransmits - 2  # ... all of it reported twice
    assert info.undos == 1 and info.ssthresh == 1 << 30


def test_a_probe_that_repairs_a_lone_tail_loss_reduces_cwnd_once():
    # The last data packet is lost: the probe resends it and nothing else is
    # missing, so no RACK episode sees the loss; RFC 8985 7.4.2 reduces cwnd once.
    r = _transfer(140_000, rate=10e6, delay=0.025, drop=(100,))
    info = r.client_info
    assert (info.tlp_probes, info.rack_retransmits, info.rto_expirations) == (1, 0, 0)
    assert info.fast_retransmits == 0 and info.ssthresh < 1 << 30


@pytest.mark.parametrize("value", ["0", "x", "5,-1"])
def test_a_bad_drop_on_the_command_line_is_a_usage_error(value, capsys):
    from emutcp.tools.cli import main

    with pytest.raises(SystemExit) as exc:
        raise SystemExit(main(["experiment", "--set", f"drop={value}"]))
    err = capsys.readouterr().err
    assert exc.value.code == 2 and "Traceback" not in err
    assert "emutcp experiment: error: drop" in err  # argparse's usage line, then one error


def test_an_experiment_file_drops_the_packets_it_names(tmp_path):
    from emutcp.lab.sweep import load_experiment

    f = tmp_path / "tail.toml"
    f.write_text("[link]\ndrop = [98, 99, 100]\nrate = '10mbit'\n[run]\nbytes = 140000\n")
    exp = load_experiment(str(f))
    assert exp["base"]["drop"] == (98, 99, 100)
    assert coerce("drop", "98, 99,100") == (98, 99, 100)
    (f.parent / "bad.toml").write_text("[link]\ndrop = [0]\n")
    with pytest.raises(ValueError, match="count from 1"):
        load_experiment(str(f.parent / "bad.toml"))


# ============================================================ F-RTO, unit


def test_frto_verdicts_follow_rfc5682_steps():
    f = Frto()
    f.on_rto(first=True, snd_una=1000, snd_max=11_000, mss=1000, flight=10_000, ssthresh=5000)
    assert (f.step, f.pipe_prev) == (1, 10_000)
    assert f.on_ack(3000) == NEW_DATA  # step 2b: beyond the retransmission
    assert f.on_ack(4000) == SPURIOUS  # step 3b: data never retransmitted
    f.on_rto(first=True, snd_una=4000, snd_max=11_000, mss=1000, flight=7000, ssthresh=5000)
    assert f.on_ack(5000) == NEW_DATA
    assert f.on_duplicate_ack() == GO_BACK  # step 3a
    f.on_rto(first=True, snd_una=5000, snd_max=11_000, mss=1000, flight=6000, ssthresh=5000)
    assert f.on_ack(5500) is None and f.step == 0  # step 2a: not all retransmitted data
    f.on_rto(first=True, snd_una=5000, snd_max=11_000, mss=1000, flight=6000, ssthresh=5000)
    assert f.on_ack(11_000) is None  # step 2a: covers "recover": no verdict
    f.on_rto(first=False, snd_una=5000, snd_max=11_000, mss=1000, flight=6000, ssthresh=5000)
    assert f.step == 0  # a repeated timeout is not tested
    assert Frto(enabled=False).on_ack(1) is None


def test_frto_conventional_after_a_duplicate_ack_goes_back():
    t = _established()
    t.conn.send(b"d" * 14 * MSS, t.now)
    assert len(t.drain()) == 10
    t.at(0.31)  # the loss probe (RFC 8985 7.3) sends one new segment
    t.expect(ACK, seq=1 + 10 * MSS, length=MSS)
    t.at(1.32)  # the RTO, restarted by the probe
    t.expect(ACK, seq=1, length=MSS)
    t.expect_nothing()
    t.inject(ACK, 1, 1 + 2 * MSS, window=WINDOW)  # first ACK: advances beyond it
    t.expect(ACK, seq=1 + 11 * MSS, length=MSS)  # step 2b: two new segments
    t.expect(ACK, seq=1 + 12 * MSS, length=MSS)
    t.expect_nothing()
    t.inject(ACK, 1, 1 + 2 * MSS, window=WINDOW)  # second: a duplicate
    # Step 3a: conventional recovery, cwnd at most three segments, go back.
    assert t.conn.cc.cwnd <= 3 * MSS
    t.expect(ACK, seq=1 + 2 * MSS, length=MSS)
    assert t.conn.info().undos == 0


# ============================================================ PRR and the sent map, unit


def test_prr_proportional_then_slow_start_reduction_bound():
    prr = Prr(1000)
    prr.begin(ssthresh=5000, flight=10_000)  # RecoverFS 10 MSS
    # pipe above ssthresh: sndcnt = ceil(delivered * ssthresh / RecoverFS) - out.
    assert prr.on_ack(1000, pipe=8000) == 500
    prr.sent(1000)
    assert prr.on_ack(1000, pipe=7000) == 0  # ceil(2000 / 2) - 1000
    assert prr.on_ack(2000, pipe=6000) == 1000  # ceil(4000 / 2) - 1000
    prr.sent(1000)
    # pipe below ssthresh (more was lost): PRR-SSRB, at most one MSS beyond delivery.
    assert prr.on_ack(500, pipe=2000) == min(5000 - 2000, max(4500 - 2000, 500) + 1000)
    assert prr.on_ack(0, pipe=4900) == 100  # never beyond ssthresh


def test_sent_map_splits_sacks_acks_and_counts():
    m = SentMap()
    for i in range(5):
        m.record(i * 1000, (i + 1) * 1000, 0.0, False)
    assert [s.sacked for s in m.sack(1500, 3000)] == [True, True]  # split at 1500
    assert [(s.start, s.end) for s in m.segs[:4]] == [
        (0, 1000),
        (1000, 1500),
        (1500, 2000),
        (2000, 3000),
    ]
    assert m.sacked_bytes == 1500
    m.mark_lost(m.segs[0])
    assert m.lost_bytes == 1000 and [s.start for s in m.lost_ranges()] == [0]
    m.record(0, 1000, 0.5, True)  # the retransmission clears "lost"
    assert m.lost_bytes == 0 and m.segs[0].retrans and m.segs[0].time == 0.5
    assert m.is_retransmitted(0, 500) and not m.is_retransmitted(3000, 4000)
    delivered = m.ack(2500)  # newly delivered: the unSACKed ranges and a cut one
    assert [(s.start, s.end) for s in delivered] == [(0, 1000), (1000, 1500)]
    assert m.sacked_bytes == 500 and m.segs[0].start == 2500
    m.record(4000, 6000, 1.0, True)  # part resent, part new
    assert m.end == 6000 and m.segs[-1].start == 5000
