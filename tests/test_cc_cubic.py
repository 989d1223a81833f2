"""CUBIC against RFC 9438's formulas, HyStart++ (RFC 9406), and CUBIC against
NewReno on the issue's lossy bottleneck (virtual time, seeded)."""

from __future__ import annotations

import math
import statistics

import pytest

import emutcp
from emutcp.core.cc_cubic import ALPHA, BETA, C, Cubic
from emutcp.core.hystart import CSS, CSS_ROUNDS, DONE, SLOW_START, HyStartPlusPlus
from emutcp.lab.flows import bottleneck, run_flows
from emutcp.lab.trial import run_trial

MSS = 1400
RTT = 0.1


def rounds(cc: Cubic, start: float, until: float, rtt: float = RTT) -> dict[float, float]:
    """Acknowledge one cwnd of MSS-sized segments per RTT; cwnd (segments) per round."""
    seen, t = {}, start
    while t < until - 1e-9:
        t += rtt
        for _ in range(max(1, cc.cwnd // MSS)):
            cc.on_ack(MSS, t, rtt)
        seen[round(t - start, 6)] = cc.cwnd / MSS
    return seen


def loss_at(cwnd_segments: int, *, hystart: bool = False) -> Cubic:
    cc = Cubic(mss=MSS, initial_window=10, hystart=hystart)
    cc.cwnd = cwnd_segments * MSS
    cc.ssthresh = cwnd_segments * MSS // 2
    cc.on_loss(cwnd_segments * MSS, 0.0)
    return cc


def test_reduction_uses_flight_size_and_beta():
    cc = loss_at(100)
    assert cc.cwnd == cc.ssthresh == 70 * MSS  # RFC 9438 4.6: flight_size * 0.7
    assert cc.w_max == 100 and cc.cwnd_prior == 100
    # The flight, not cwnd, sets ssthresh (limited transmit can put more out).
    cc.on_loss(50 * MSS, 1.0)
    assert cc.ssthresh == 35 * MSS
    # Fast convergence (4.7): lost below W_max, so W_max = cwnd (1 + beta) / 2.
    assert cc.w_max == pytest.approx(70 * (1 + BETA) / 2)
    cc.on_loss(MSS, 2.0)
    assert cc.cwnd == cc.ssthresh == 2 * MSS  # never below 2 segments


def test_cwnd_follows_w_cubic_between_losses():
    # W_max 400 segments: K = cbrt(120 / 0.4) ~ 6.7 s; W_est (0.53 per RTT) stays
    # far below the curve, so cwnd must track W_cubic(t) of eq. 1 within 5 %.
    cc = loss_at(400)
    k = math.cbrt(400 * (1 - BETA) / C)
    seen = rounds(cc, 0.0, 2 * k)
    assert cc.k == pytest.approx(k)
    for t, w in seen.items():
        if t >= 2 * RTT:  # the epoch starts with the first ACK
            expected = C * (t - RTT - k) ** 3 + 400  # t counts from the first round's ACKs
            assert abs(w - expected) <= 0.05 * expected, (t, w, expected)
    assert list(seen.values())[-1] > 400 * 1.2  # convex region: probing past W_max


def test_reno_friendly_region_grows_alpha_then_one_per_rtt():
    # Small W_max: the curve is flat near K, so W_est (Reno) wins (RFC 9438 4.3).
    cc = loss_at(20)
    seen = rounds(cc, 0.0, 3.0)
    # 14 segments after the loss; alpha = 3 (1 - 0.7) / (1 + 0.7) per RTT until
    # W_est reaches cwnd_prior (20), then one segment per RTT.
    to_prior = (20 - 14) / ALPHA  # RTTs
    t1 = round(math.ceil(to_prior / 2) * RTT, 6)
    assert seen[t1] == pytest.approx(14 + ALPHA * t1 / RTT, abs=0.6)
    assert seen[3.0] - seen[2.0] == pytest.approx(10 * 1.0, abs=1.0)  # alpha 1 later
    assert all(w >= cc.C * (t - RTT - cc.k) ** 3 + 20 - 0.5 for t, w in seen.items())


def test_timeout_restarts_the_curve_at_k_zero():
    cc = loss_at(100)
    cc.on_rto(70 * MSS, 1.0)
    assert cc.cwnd == MSS and cc.ssthresh == 49 * MSS  # RFC 9438 4.8
    rounds(cc, 1.0, 1.0 + 8 * RTT)  # slow start up to ssthresh
    assert cc.cwnd >= cc.ssthresh
    cc.on_ack(MSS, 2.0, RTT)
    assert cc.k == 0 and cc.w_max == pytest.approx(cc.cwnd_epoch)  # 4.8


def test_hystart_moves_to_css_on_rtt_rise_and_to_ca_after_css_rounds():
    hs = HyStartPlusPlus()
    una, high = 0, 10
    for _ in range(8):  # round 1: RTT 50 ms
        hs.on_sample(0.050, una, high)
    una, high = 10, 30
    for _ in range(7):
        hs.on_sample(0.052, una, high)  # round 2: below the 6.25 ms threshold
    assert hs.state == SLOW_START
    una, high = 30, 70
    for i in range(8):
        hs.on_sample(0.062, una + (i > 0), high)  # round 3: +10 ms >= 52/8 ms
    assert hs.state == CSS
    assert hs.increase(MSS, MSS) == MSS // 4  # a quarter of slow start's growth
    done = False
    for _ in range(CSS_ROUNDS):
        una, high = high, high + 10
        done = hs.on_sample(0.062, una, high)
    assert done and hs.state == DONE


def test_hystart_resumes_slow_start_when_the_rtt_falls_back():
    hs = HyStartPlusPlus()
    for una, high, rtt in ((0, 10, 0.05), (10, 20, 0.06), (20, 30, 0.045)):
        for i in range(8):
            hs.on_sample(rtt, una + (i > 0), high)
        if rtt == 0.06:
            assert hs.state == CSS
    assert hs.state == SLOW_START


async def test_hystart_leaves_slow_start_before_the_big_overshoot(mock_clock):
    # 2-BDP FIFO: plain slow start (NewReno) overshoots by dozens of segments;
    # HyStart++ sees the round's minimum RTT rise, goes through CSS into
    # congestion avoidance with a handful of drops at most.
    drops = {}
    for algorithm in ("newreno", "cubic"):
        config = emutcp.Config(congestion=algorithm)
        net, a, b = bottleneck(config=config, bdp_queues=2.0)
        r = await run_flows(net, a, b, duration=3.0)
        drops[algorithm] = r["info"][0].retransmits
        assert r["goodput"][0] > 0.85 * 10e6
    assert drops["newreno"] > 30
    assert drops["cubic"] <= 10, drops


@pytest.mark.slow
@pytest.mark.parametrize("loss", [0.005, 0.01, 0.02])
def test_cubic_is_never_below_newreno_under_random_loss(loss):
    # Issue 17: 10 Mbit/s, 50 ms RTT, one-BDP FIFO, random loss; 3 seeds.
    def median(algorithm: str) -> float:
        params = {"loss": loss, "congestion": algorithm, "duration": 8.0}
        return statistics.median(run_trial(params, s)["goodput_Mbps"] for s in (1, 2, 3))

    reno, cubic = median("newreno"), median("cubic")
    assert cubic >= 0.95 * reno, (loss, cubic, reno)
