"""Vegas: decisions once per round from the queueing delay it measures, and
the issue's check through a deep FIFO (virtual time, seeded)."""

from __future__ import annotations

from emutcp.core.cc_vegas import Vegas
from emutcp.core.congestion import AckSample
from emutcp.lab.trial import run_trial

MSS = 1000


def feed(cc: Vegas, rtt: float, rounds: int, *, start: int = 0) -> int:
    """``rounds`` round trips of one cwnd of MSS-sized segments each, ACKed one
    by one with RTT ``rtt``; returns the stream offset reached."""
    una = start
    t = 0.0
    for _ in range(rounds):
        end = una + cc.cwnd
        while una < end:
            una += MSS
            t += rtt / (cc.cwnd // MSS)
            cc.on_ack(MSS, t, rtt)
            high = una + cc.cwnd  # the sender refills the window as ACKs come
            cc.on_ack_sample(AckSample(t, MSS, rtt, una, high, high - una, False))
    return una


def test_slow_start_ends_when_a_queue_appears():
    cc = Vegas(mss=MSS, initial_window=10)
    off = feed(cc, 0.100, 3)
    assert cc.cwnd > 20 * MSS and cc.ssthresh == 1 << 30  # no queue: slow start
    feed(cc, 0.120, 2, start=off)  # 20 % more delay: diff = cwnd/6 > gamma
    assert cc.ssthresh < 1 << 30  # slow start is over ...
    assert cc.cwnd <= cc.ssthresh + MSS  # ... with cwnd cut to what baseRTT carries
    left = cc.cwnd
    feed(cc, 0.120, 2, start=off + 10**6)
    assert cc.cwnd < left  # still too much queued: one segment less per round


def test_congestion_avoidance_holds_between_alpha_and_beta():
    cc = Vegas(mss=MSS, initial_window=10)
    cc.ssthresh = 5 * MSS  # congestion avoidance from the start
    cc.cwnd = 30 * MSS
    off = feed(cc, 0.100, 2)  # base RTT 100 ms, no queue: +1 per round
    assert cc.cwnd == 31 * MSS
    # 3 segments queued: 31 * (rtt - 0.1) / rtt = 3 -> rtt ~ 110.7 ms: hold.
    off = feed(cc, 0.1107, 3, start=off)
    held = cc.cwnd
    assert 31 * MSS <= held <= 32 * MSS  # (the first mixed round may still add one)
    off = feed(cc, 0.1107, 3, start=off)
    assert cc.cwnd == held
    feed(cc, 0.130, 3, start=off)  # ~7 queued: one segment less per round
    assert cc.cwnd < held


def test_vegas_keeps_the_deep_buffer_empty_and_the_link_busy():
    # Issue 17: through an 8-BDP FIFO, mean RTT within 20 ms of the base RTT at
    # >= 85 % utilization (NewReno fills the buffer: ~380 ms).
    r = run_trial({"congestion": "vegas", "queue_bdp": 8, "duration": 6.0}, 1)
    assert r["utilization"] >= 0.85, r
    assert r["rtt_mean_ms"] <= 50 + 20, r
    assert r["link_drops"] == 0
