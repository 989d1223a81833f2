"""HyStart++ (RFC 9406): leave slow start on a rising RTT, before the loss.

Theory of operation
-------------------
Slow start doubles cwnd every round trip until a loss stops it, by which
time up to a whole window has been dropped.  HyStart++ watches the minimum
RTT of each round (a round ends when the ACK passes what had been sent when
it began, "windowEnd"): once a round's minimum exceeds the previous round's
by a threshold (4-16 ms, an eighth of the RTT) the queue is building, and the
sender enters Conservative Slow Start (CSS), growing a quarter as fast.  If
the RTT falls back below the baseline that CSS began with, the increase was
spurious and slow start resumes; after CSS_ROUNDS rounds in CSS the sender
moves to congestion avoidance (ssthresh = cwnd).  A loss at any time ends it
(the controller's own loss response applies).

The object is fed plain numbers (RTT samples, stream offsets of SND.UNA and
SND.MAX) and answers how much slow start may grow cwnd for an ACK.
"""

from __future__ import annotations

import math
from typing import Final

# RFC 9406 4.3 constants.
MIN_RTT_THRESH: Final = 0.004
MAX_RTT_THRESH: Final = 0.016
MIN_RTT_DIVISOR: Final = 8
N_RTT_SAMPLE: Final = 8
CSS_GROWTH_DIVISOR: Final = 4
CSS_ROUNDS: Final = 5

SLOW_START, CSS, DONE = "slow start", "conservative slow start", "done"


class HyStartPlusPlus:
    __slots__ = (
        "css_baseline",
        "css_rounds",
        "current_min",
        "last_min",
        "limit",
        "samples",
        "state",
        "window_end",
    )

    def __init__(self, *, paced: bool = False) -> None:
        # RFC 9406 4.2: L, the cap on growth per ACK in segments.  Infinite when
        # paced; unpaced, the RFC recommends 8, but with delayed ACKs that doubles
        # cwnd per round, and the overshoot into a 1-BDP buffer cost 5 RTOs in
        # 10 s (no RACK here to find lost retransmissions).  1 is RFC 5681's own
        # slow start, the one NewReno runs.
        self.limit = math.inf if paced else 1
        self.state = SLOW_START
        self.window_end: int | None = None
        self.last_min = math.inf  # lastRoundMinRTT
        self.current_min = math.inf  # currentRoundMinRTT
        self.samples = 0  # rttSampleCount
        self.css_baseline = math.inf  # cssBaselineMinRtt
        self.css_rounds = 0

    @property
    def active(self) -> bool:
        return self.state != DONE

    def increase(self, acked: int, mss: int) -> int:
        """Bytes slow start adds for ``acked`` bytes (RFC 9406 4.2 / 4.3)."""
        n = int(min(acked, self.limit * mss))
        return n // CSS_GROWTH_DIVISOR if self.state == CSS else n

    def on_sample(self, rtt: float | None, una: int, high: int) -> bool:
        """One ACK in slow start; ``una``/``high``: SND.UNA and SND.MAX as stream
        offsets.  Returns True when the sender should enter congestion avoidance
        now (CSS has run CSS_ROUNDS rounds)."""
        if self.state == DONE:
            return False
        if self.window_end is None or una >= self.window_end:
            # A round ended (RFC 9406 4.2: the ACK passed windowEnd): start the next.
            self.last_min, self.current_min, self.samples = self.current_min, math.inf, 0
            self.window_end = high
            if self.state == CSS:
                self.css_rounds += 1
                if self.css_rounds >= CSS_ROUNDS:
                    self.state = DONE  # 4.2: enter congestion avoidance
                    return True
        if rtt is None:
            return False
        self.current_min = min(self.current_min, rtt)
        self.samples += 1
        if self.samples < N_RTT_SAMPLE or math.isinf(self.current_min):
            return False
        if self.state == SLOW_START and not math.isinf(self.last_min):
            thresh = max(MIN_RTT_THRESH, min(self.last_min / MIN_RTT_DIVISOR, MAX_RTT_THRESH))
            if self.current_min >= self.last_min + thresh:
                self.css_baseline = self.current_min  # 4.2: enter CSS
                self.state = CSS
                self.css_rounds = 0
        elif self.state == CSS and self.current_min < self.css_baseline:
            self.css_baseline = math.inf  # 4.2: the RTT rise was spurious: resume
            self.state = SLOW_START
        return False

    def stop(self) -> None:
        """A loss (or ECE) ended slow start: HyStart++ is done (RFC 9406 4.2)."""
        self.state = DONE
