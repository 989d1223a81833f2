"""DCTCP (RFC 8257) through the controller's ECN hooks; the end-to-end check
needs the network model's ECN marking, which this branch does not have."""

from __future__ import annotations

import pytest

from emutcp.core.cc_dctcp import Dctcp, G
from emutcp.core.congestion import AckSample

MSS = 1000


def window(cc: Dctcp, start: int, marked_fraction: float, *, segments: int = 20) -> int:
    """One observation window of ``segments`` ACKs, the first ``marked_fraction``
    of them with ECE; returns the stream offset reached."""
    una = start
    marked = round(segments * marked_fraction)
    for i in range(segments):
        una += MSS
        cc.on_ecn_ack(MSS, i < marked, 0.0)
        cc.on_ack_sample(AckSample(0.0, MSS, 0.05, una, start + 2 * segments * MSS, 0, False))
    return una


def test_alpha_follows_the_marked_fraction():
    cc = Dctcp(mss=MSS, initial_window=10)
    assert cc.handles_ece and cc.alpha == 1.0
    cc.on_ack_sample(AckSample(0.0, 0, None, 0, 20 * MSS, 0, False))  # first window
    off = 0
    for _ in range(200):  # no marks: alpha decays by (1 - g) per window
        off = window(cc, off, 0.0)
    assert cc.alpha < 0.01
    for _ in range(200):
        off = window(cc, off, 0.25)
    assert cc.alpha == pytest.approx(0.25, abs=0.02)


def test_ece_cuts_by_half_alpha_once_per_window():
    cc = Dctcp(mss=MSS, initial_window=10)
    cc.alpha = 0.2
    cc.cwnd = 100 * MSS
    cc.on_ack_sample(AckSample(0.0, 0, None, 0, 100 * MSS, 0, False))
    cc.on_ecn_ack(MSS, True, 0.0)
    assert cc.cwnd == 90 * MSS == cc.ssthresh  # 1 - 0.2 / 2
    cc.on_ecn_ack(MSS, True, 0.0)
    cc.on_ecn_ce(50 * MSS, 0.0)
    assert cc.cwnd == 90 * MSS  # once per window
    cc.on_ack_sample(AckSample(0.0, MSS, None, 100 * MSS, 200 * MSS, 0, False))  # window over
    assert cc.alpha == pytest.approx((1 - G) * 0.2 + G * 1.0)  # both ACKs were marked
    cc.on_ecn_ack(MSS, True, 0.0)
    assert cc.cwnd < 90 * MSS  # a new window: a new cut


def test_loss_is_still_reno():
    cc = Dctcp(mss=MSS, initial_window=10)
    cc.on_loss(40 * MSS, 0.0)
    assert cc.cwnd == cc.ssthresh == 20 * MSS


def test_dctcp_over_codel_with_ecn_fills_the_link_without_drops():
    """RFC 8257 end to end (issue 17's check): DCTCP through CoDel with ECN at
    10 Mbit/s, 50 ms base RTT, 8 BDP of buffer: no drops, >= 85 % utilization,
    mean RTT <= 80 ms.  Both ends run DCTCP, so the receiver echoes each
    segment's CE mark (RFC 8257 3.2) instead of holding ECE until CWR."""
    from emutcp.lab.trial import run_trial

    r = run_trial(
        {"congestion": "dctcp", "ecn": True, "qdisc": "codel", "queue_bdp": 8, "duration": 10.0},
        1,
    )
    assert r["link_drops"] == 0 and r["retransmits"] == 0
    assert r["ce_marks"] > 0
    assert r["utilization"] >= 0.85 and r["rtt_mean_ms"] <= 80
