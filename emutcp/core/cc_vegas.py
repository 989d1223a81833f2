"""TCP Vegas (Brakmo and Peterson 1995), with the constants of Linux's tcp_vegas.

Theory of operation
-------------------
Vegas keeps a small, fixed number of its own segments queued at the
bottleneck instead of filling the buffer until it overflows.  baseRTT is the
smallest RTT ever measured (the path without queue); once per round trip
(a round ends when the ACK passes what had been sent when it began) the
smallest RTT of that round, minRTT, gives

    diff = cwnd * (minRTT - baseRTT) / minRTT   segments

(Linux computes cwnd * (rtt - baseRTT) / baseRTT; the difference is tiny):
how many segments sit in queues.  In congestion avoidance Vegas adds a
segment per round when diff < alpha (2), removes one when diff > beta (4),
and holds between.  Slow start ends early, as soon as diff > gamma (1), with
cwnd cut to what the base RTT would carry.  A round with fewer than three RTT
samples (delayed ACKs, tiny windows) falls back to Reno's increase, and
losses are handled as Reno handles them (halve, RFC 5681).
"""

from __future__ import annotations

import math
from typing import ClassVar, Final

from .congestion import AckSample, NewReno, register

ALPHA: Final = 2  # segments queued: grow below this
BETA: Final = 4  # shrink above this
GAMMA: Final = 1  # leave slow start above this


class Vegas(NewReno):
    name: ClassVar[str] = "vegas"

    def __init__(self, *, mss: int, initial_window: int) -> None:
        super().__init__(mss=mss, initial_window=initial_window)
        self.base_rtt = math.inf
        self.min_rtt = math.inf  # this round's
        self.samples = 0  # RTT samples this round (Linux cntRTT)
        self.round_end: int | None = None  # Linux beg_snd_nxt, a stream offset
        self._acked = 0  # bytes acknowledged outside recovery, not yet acted upon

    def on_ack(self, acked: int, now: float, rtt: float | None) -> None:
        self._acked += acked  # acted upon once the ACK's RTT sample is in (below)

    def on_ack_sample(self, sample: AckSample) -> None:
        if sample.rtt is not None:
            self.base_rtt = min(self.base_rtt, sample.rtt)
            self.min_rtt = min(self.min_rtt, sample.rtt)
            self.samples += 1
        acked, self._acked = self._acked, 0
        if self.round_end is None:
            self.round_end = sample.high
        if not acked or sample.in_recovery:
            return
        if sample.una < self.round_end:
            if self.cwnd < self.ssthresh:
                super().on_ack(acked, sample.now, None)  # slow start between decisions
            return
        # A round trip is over: decide once per round (Linux tcp_vegas_cong_avoid).
        self.round_end = sample.high
        if self.samples <= 2:
            super().on_ack(acked, sample.now, None)  # too few samples: Reno
        else:
            self._adjust(acked, sample.now)
        self.samples = 0
        self.min_rtt = math.inf

    def _adjust(self, acked: int, now: float) -> None:
        mss = self.mss
        cwnd = self.cwnd / mss
        rtt = self.min_rtt
        diff = cwnd * (rtt - self.base_rtt) / rtt  # segments queued
        if self.cwnd < self.ssthresh:
            if diff > GAMMA:
                # Queue building in slow start: fall back to what baseRTT carries
                # and leave slow start.
                target = cwnd * self.base_rtt / rtt
                self.cwnd = min(self.cwnd, int(target + 1) * mss)
                self.ssthresh = min(self.ssthresh, max(self.cwnd - mss, 2 * mss))
            else:
                super().on_ack(acked, now, None)
        elif diff > BETA:
            self.cwnd -= mss
            self.ssthresh = min(self.ssthresh, max(self.cwnd - mss, 2 * mss))
        elif diff < ALPHA:
            self.cwnd += mss
        self.cwnd = max(self.cwnd, 2 * mss)


register(Vegas)
