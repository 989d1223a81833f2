"""Pacing: the controller's rate spaces the segments (virtual time, seeded)."""

from __future__ import annotations

import itertools

import pytest
from emunet import B

import emutcp
from emutcp.core.congestion import NewReno
from emutcp.core.pacing import Pacer, pacing_enabled
from emutcp.lab.flows import bottleneck, run_flows

MSS = 1400


def test_linux_pacing_rates():
    cc = NewReno(mss=MSS, initial_window=10)
    assert cc.pacing_rate(None) is None  # no RTT yet: unpaced
    assert cc.pacing_rate(0.1) == pytest.approx(2 * 10 * MSS / 0.1)  # slow start: 2x
    cc.ssthresh = 10 * MSS
    assert cc.pacing_rate(0.1) == pytest.approx(1.2 * 10 * MSS / 0.1)  # after: 1.2x


def test_pacer_spaces_by_size_over_rate_and_saves_no_credit():
    p = Pacer()
    assert p.may_send(0.0)
    p.sent(1000, 0.0, 100_000.0)
    assert not p.may_send(0.005) and p.may_send(0.010)
    p.sent(1000, 5.0, 100_000.0)  # idle for a while: at most 1 ms of credit
    assert p.next_send == pytest.approx(5.009)
    assert pacing_enabled(None, NewReno(mss=MSS, initial_window=1)) is False
    assert pacing_enabled(True, NewReno(mss=MSS, initial_window=1)) is True


async def _first_round(mock_clock, pacing: bool):
    sent: list[float] = []

    def trace(record, local, remote) -> None:
        if getattr(record, "direction", None) == "out" and record.length:
            sent.append(record.time)

    config = emutcp.Config(pacing=pacing)
    net, _, b = bottleneck(config=config, bdp_queues=0.1)
    a = net.add_host("10.0.0.3", config=config, trace=trace)
    net.add_link("10.0.0.3", B, delay=0.025, rate=10e6, queue=4)
    result = await run_flows(net, a, b, duration=0.12)
    drops = sum(net.link("10.0.0.3", B).stats.dropped.values())
    return sent, drops, result


async def test_paced_initial_window_fits_a_shallow_buffer(mock_clock):
    # 0.1 BDP (4 segments): the unpaced initial window of 10 arrives in one burst
    # and loses 6; paced at 2 cwnd/srtt (the handshake measured srtt) it loses none.
    sent, drops, _ = await _first_round(mock_clock, False)
    assert drops >= 5
    sent, drops, _ = await _first_round(mock_clock, True)
    assert drops == 0
    gaps = [b - a for a, b in itertools.pairwise(sent[:10])]  # the initial window
    # 2 x cwnd / srtt, srtt ~ 50 ms: one segment per 2.5 ms (the first gap may
    # be up to 1 ms shorter: the catch-up allowance).
    gap = MSS / (2 * 10 * MSS / 0.050)
    assert min(gaps) >= gap - 0.001 - 1e-6
    assert sum(gaps) / len(gaps) >= 0.9 * gap
