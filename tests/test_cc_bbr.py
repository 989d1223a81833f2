"""BBR v1 and the delivery-rate estimator it runs on (virtual time, seeded)."""

from __future__ import annotations

import pytest

from emutcp.core.cc_bbr import DRAIN, HIGH_GAIN, MIN_CWND, PROBE_BW, PROBE_RTT, STARTUP, Bbr
from emutcp.core.congestion import AckSample
from emutcp.core.rate import DeliveryRateEstimator, RateSample
from emutcp.lab.trial import run_trial

MSS = 1000


# ------------------------------------------------------- delivery rate


def test_rate_sample_spans_send_and_ack_of_the_newest_segment():
    est = DeliveryRateEstimator()
    # 10 segments sent 1 ms apart from an idle start; ACKed 1 ms apart 50 ms later.
    for i in range(10):
        est.on_send(i * MSS, (i + 1) * MSS, i * 0.001, in_flight=i * MSS)
    rs = None
    for i in range(10):
        rs = est.on_ack((i + 1) * MSS, [], 0.050 + i * 0.001)
    assert rs is not None
    # The last sample: segment 9 was sent when 0 had been delivered (at 0.0,
    # the idle start); delivered 10 segments over max(9 ms send, 59 ms ack).
    assert rs.delivered == 10 * MSS
    assert rs.interval == pytest.approx(0.059)
    assert rs.delivery_rate == pytest.approx(10 * MSS / 0.059)
    assert rs.rtt == pytest.approx(0.050)
    assert len(est) == 0


def test_sacked_segments_are_delivered_once_and_retransmissions_replace_records():
    est = DeliveryRateEstimator()
    for i in range(4):
        est.on_send(i * MSS, (i + 1) * MSS, 0.0, in_flight=i * MSS)
    rs = est.on_ack(0, [(2 * MSS, 4 * MSS)], 0.05)  # segments 2 and 3 SACKed
    assert rs is not None and rs.newly_delivered == 2 * MSS
    assert est.on_ack(0, [(2 * MSS, 4 * MSS)], 0.06) is None  # the same SACK again
    est.on_send(0, MSS, 0.06, in_flight=2 * MSS)  # segment 0 retransmitted
    rs = est.on_ack(2 * MSS, [(2 * MSS, 4 * MSS)], 0.11)
    assert rs is not None and rs.newly_delivered == 2 * MSS
    assert rs.total_delivered == 4 * MSS
    assert rs.rtt is None or rs.rtt == pytest.approx(0.11)  # never a retransmission's
    assert len(est) == 0


def test_app_limited_marks_samples_until_the_bubble_is_delivered():
    est = DeliveryRateEstimator()
    est.on_send(0, MSS, 0.0, in_flight=0)
    est.mark_app_limited(in_flight=MSS)  # nothing more to send
    est.on_send(MSS, 2 * MSS, 0.01, in_flight=MSS)
    assert est.on_ack(MSS, [], 0.05).is_app_limited is False  # sent before the mark
    assert est.on_ack(2 * MSS, [], 0.06).is_app_limited is True
    est.on_send(2 * MSS, 3 * MSS, 0.06, in_flight=0)
    assert est.on_ack(3 * MSS, [], 0.11).is_app_limited is False


# ------------------------------------------------------------------ BBR


class Feed:
    """Hand-made samples: each one a round trip of ``RTT`` delivering 10 segments."""

    def __init__(self, cc: Bbr) -> None:
        self.cc, self.t, self.delivered = cc, 0.0, 0

    def round(self, bw: float, *, rtt: float = 0.1, in_flight: int = 50 * MSS) -> None:
        prior = self.delivered
        self.delivered += 10 * MSS
        self.t += rtt
        rs = RateSample(
            delivery_rate=bw,
            interval=rtt,
            delivered=10 * MSS,
            prior_delivered=prior,
            rtt=rtt,
            newly_delivered=10 * MSS,
            total_delivered=self.delivered,
        )
        high = self.delivered + in_flight
        self.cc.on_ack_sample(
            AckSample(self.t, 10 * MSS, rtt, self.delivered, high, in_flight, False, rs)
        )


def test_startup_drain_probe_bw_and_the_model():
    cc = Bbr(mss=MSS, initial_window=10)
    feed = Feed(cc)
    assert cc.state == STARTUP and cc.pacing_gain == HIGH_GAIN
    for bw in (1e5, 2e5, 4e5, 8e5):  # still doubling
        feed.round(bw)
    assert cc.state == STARTUP and not cc.full_bw_reached
    feed.round(1e6, in_flight=200 * MSS)  # 1.25 x 8e5: still growth
    for _ in range(3):  # three rounds without 25 % growth: the pipe is full
        feed.round(1e6, in_flight=200 * MSS)
    assert cc.full_bw_reached and cc.state == DRAIN
    assert cc.pacing_rate(0.1) == pytest.approx(1e6 / HIGH_GAIN * 0.99)
    feed.round(1e6, in_flight=200 * MSS)  # the queue STARTUP built is still there
    assert cc.state == DRAIN
    feed.round(1e6, in_flight=90 * MSS)  # in flight <= BDP (1e6 B/s x 0.1 s = 100)
    assert cc.state == PROBE_BW
    assert cc.btlbw == 1e6 and cc.rtprop == pytest.approx(0.1)
    assert cc.bdp == pytest.approx(100 * MSS)
    for _ in range(40):
        feed.round(1e6)
    # 2 BDP, plus one ACK's worth of aggregation (10 segments), plus the
    # quantization budget (3 x 2 segments at this rate).
    assert cc.cwnd == cc.target_cwnd(2.0) == (200 + 10 + 6) * MSS
    gains = set()
    for _ in range(16):
        feed.round(1e6, in_flight=130 * MSS)
        gains.add(cc.pacing_gain)
    assert gains == {1.25, 0.75, 1}  # the PROBE_BW cycle


def test_bandwidth_filter_forgets_after_ten_rounds():
    cc = Bbr(mss=MSS, initial_window=10)
    feed = Feed(cc)
    feed.round(2e6)
    for _ in range(9):
        feed.round(1e6)
    assert cc.btlbw == 2e6
    feed.round(1e6)
    assert cc.btlbw == 1e6


def test_probe_rtt_after_ten_seconds_without_a_new_minimum():
    cc = Bbr(mss=MSS, initial_window=10)
    feed = Feed(cc)
    for _ in range(10):
        feed.round(1e6, rtt=0.1)
    for _ in range(100):  # 11 s of RTTs above the 100 ms minimum
        feed.round(1e6, rtt=0.11)
        if cc.state == PROBE_RTT:
            break
    assert cc.state == PROBE_RTT
    feed.round(1e6, rtt=0.1, in_flight=3 * MSS)
    assert cc.cwnd == MIN_CWND * MSS
    for _ in range(3):  # 200 ms and a round trip at 4 segments
        feed.round(1e6, rtt=0.1, in_flight=3 * MSS)
    assert cc.state == PROBE_BW
    assert cc.cwnd > MIN_CWND * MSS  # the window from before is restored


def test_bbr_keeps_the_link_busy_under_random_loss():
    # Issue 17: >= 80 % utilization at 1 % random loss (10 Mbit/s, 50 ms, 1 BDP);
    # loss-based controllers get ~30 % here (Mathis).
    r = run_trial({"congestion": "bbr", "loss": 0.01, "duration": 6.0}, 1)
    assert r["utilization"] >= 0.80, r
    assert r["rtt_mean_ms"] < 50 + 25, r  # and it does not fill the queue
