"""DCTCP (RFC 8257): react to the *extent* of ECN marking, not its presence.

Theory of operation
-------------------
A DCTCP sender estimates alpha, the fraction of its bytes that met a marking
queue, once per observation window of about one RTT (RFC 8257 3.3): it
counts the bytes acknowledged and those acknowledged with ECE, and when
SND.UNA passes the window's end folds M = marked / acked into
alpha = (1 - g) alpha + g M, g = 1/16.  On ECE, at most once per window,
cwnd shrinks by alpha / 2 (3.3): a queue just above the marking threshold
costs a few percent of the window, a persistent one halves it as Reno does.
Growth and loss are Reno's (RFC 5681), the NewReno class's.

The ECN plumbing (negotiation, the receiver's ECE echo, AQM marking) is the
network model's; this controller sees it through two hooks of the interface:
``on_ecn_ack(acked, ece, now)`` for every ACK of new data, and
``on_ack_sample`` for the window boundaries (SND.UNA and SND.MAX).  Setting
``handles_ece`` tells the core not to apply its own once-per-window halving.
"""

from __future__ import annotations

from typing import ClassVar, Final

from .congestion import AckSample, NewReno, register

G: Final = 1 / 16  # RFC 8257 4.2: the estimation gain


class Dctcp(NewReno):
    name: ClassVar[str] = "dctcp"
    handles_ece = True

    def __init__(self, *, mss: int, initial_window: int) -> None:
        super().__init__(mss=mss, initial_window=initial_window)
        self.alpha = 1.0  # RFC 8257 4.2: start at 1 (the conservative end)
        self.bytes_acked = 0
        self.bytes_marked = 0
        self.window_end: int | None = None  # stream offset ending this window
        self._reduced = False  # cwnd already cut for ECE in this window

    def on_ecn_ack(self, acked: int, ece: bool, now: float) -> None:
        self.bytes_acked += acked  # RFC 8257 3.3 step 1
        if ece:
            self.bytes_marked += acked  # step 2
            if not self._reduced:
                self._reduce()

    def on_ecn_ce(self, flight: int, now: float) -> None:
        if not self._reduced:
            self._reduce()

    def _reduce(self) -> None:
        # RFC 8257 3.3 step 8: cwnd = cwnd * (1 - alpha / 2), once per window.
        self.cwnd = max(int(self.cwnd * (1 - self.alpha / 2)), 2 * self.mss)
        self.ssthresh = self.cwnd
        self._ca_acked = 0
        self._reduced = True

    def on_ack_sample(self, sample: AckSample) -> None:
        if self.window_end is None:
            self.window_end = sample.high
            return
        if sample.una < self.window_end:
            return
        # The observation window is over (RFC 8257 3.3 steps 3-7).
        if self.bytes_acked:
            marked = self.bytes_marked / self.bytes_acked
            self.alpha = (1 - G) * self.alpha + G * marked
        self.bytes_acked = self.bytes_marked = 0
        self.window_end = sample.high
        self._reduced = False


register(Dctcp)
