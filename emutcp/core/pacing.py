"""Pacing: spacing a connection's segments at a rate instead of in bursts.

Theory of operation
-------------------
Without pacing a sender puts a whole window's worth of segments on the wire
as fast as ACKs release them; a shallow bottleneck buffer drops the tail of
each burst.  With pacing each segment of ``n`` bytes pushes the earliest time
of the next one ``n / rate`` later, the rate being the controller's
``pacing_rate(srtt)``: Linux's 2x cwnd/srtt in slow start and 1.2x after
(tcp_update_pacing_rate), BBR's pacing_gain x bottleneck bandwidth.  The
output path asks ``may_send(now)`` before each data segment and, when the
answer is no, arms the connection's PACING timer at ``next_send`` and stops;
the timer's expiry lets output run again.  A timer that fires late (a real
clock wakes in 1 ms steps) lets the sender catch up by at most 1 ms of data,
so the rate holds; a sender that was idle gets no more credit than that.

A connection without pacing has no ``Pacer`` at all (``Tcb.pacer`` is None),
so the default path costs one attribute test per segment.
"""

from __future__ import annotations

from typing import Final

from .congestion import CongestionController


def pacing_enabled(setting: bool | None, cc: CongestionController) -> bool:
    """``Config.pacing``: True/False, or None for the algorithm's default."""
    return cc.paced_by_default if setting is None else setting


# Linux sizes its bursts to 1 ms of data at the pacing rate (TSO autosizing);
# here 1 ms is how far behind schedule the sender may catch up in one go.
CATCH_UP: Final = 0.001


class Pacer:
    __slots__ = ("next_send",)

    def __init__(self) -> None:
        self.next_send = 0.0  # earliest time the next segment may leave

    def may_send(self, now: float) -> bool:
        return now >= self.next_send

    def sent(self, nbytes: int, now: float, rate: float | None) -> None:
        """``nbytes`` left at ``now``; ``rate`` bytes/s (None: no RTT yet, unpaced)."""
        if rate:
            # A timer that fired late (real clocks wake in 1 ms steps) may catch
            # up by at most CATCH_UP; an idle sender gets no more credit than that.
            self.next_send = max(self.next_send, now - CATCH_UP) + nbytes / rate
