"""CUBIC (RFC 9438) with HyStart++ (RFC 9406) slow start, as Linux runs it.

Theory of operation
-------------------
In congestion avoidance cwnd follows W_cubic(t) = C (t - K)^3 + W_max
(RFC 9438 4.2): t is the time since the current congestion-avoidance stage
began (the first ACK after recovery), W_max the window before the last
reduction and K the time the curve takes to climb back to it from
cwnd_epoch.  Each ACK moves cwnd a share of the way to target =
W_cubic(t + RTT), bounded to [cwnd, 1.5 cwnd] (4.4, 4.5).  Alongside, W_est
tracks what Reno would have (4.3): it grows alpha_cubic = 3(1-beta)/(1+beta)
segments per RTT, and 1 segment once it passes cwnd_prior; whenever W_cubic(t)
is below W_est the window is W_est, so CUBIC never does worse than Reno.

A loss sets ssthresh = cwnd = FlightSize * beta_cubic (0.7, 4.6), remembers
cwnd_prior, and W_max (further lowered by fast convergence when the flow is
losing ground, 4.7).  After a timeout, or after HyStart++ leaves slow start
without a loss, the next stage starts with K = 0 and W_max = cwnd_epoch
(4.8, 4.10).  Windows are computed in segments (floats) and kept in bytes.
"""

from __future__ import annotations

from typing import ClassVar, Final

from .congestion import AckSample, CongestionController, register
from .hystart import HyStartPlusPlus

C: Final = 0.4  # RFC 9438 4.1, segments / s^3
BETA: Final = 0.7  # RFC 9438 4.6
ALPHA: Final = 3 * (1 - BETA) / (1 + BETA)  # RFC 9438 4.3


class Cubic(CongestionController):
    name: ClassVar[str] = "cubic"
    C = C
    BETA = BETA

    def __init__(
        self,
        *,
        mss: int,
        initial_window: int,
        hystart: bool = True,
        fast_convergence: bool = True,
    ) -> None:
        super().__init__(mss=mss, initial_window=initial_window)
        self.fast_convergence = fast_convergence  # RFC 9438 4.7 (on, as in Linux)
        self.hystart: HyStartPlusPlus | None = HyStartPlusPlus() if hystart else None
        self.w_max = 0.0  # segments
        self.cwnd_prior = 0.0  # segments
        self.k = 0.0
        self.epoch: float | None = None  # t_epoch
        self.cwnd_epoch = 0.0
        self.w_est = 0.0
        self._reset_curve = False  # after a timeout / HyStart++ exit: K = 0 (4.8, 4.10)
        self._exact = float(self.cwnd)  # cwnd in bytes with its fraction

    def w_cubic(self, t: float) -> float:
        """RFC 9438 eq. 1, in segments."""
        return self.C * (t - self.k) ** 3 + self.w_max

    def _start_epoch(self, now: float) -> float:
        cwnd = self.cwnd / self.mss
        self.epoch = now
        self.cwnd_epoch = cwnd
        self.w_est = cwnd  # RFC 9438 4.3: W_est starts at cwnd_epoch
        if self._reset_curve or self.w_max <= cwnd:
            self.k = 0.0
            self.w_max = cwnd
        else:
            self.k = ((self.w_max - cwnd) / self.C) ** (1 / 3)  # RFC 9438 eq. 2
        self._reset_curve = False
        return now

    def _set_cwnd(self, segments: float) -> None:
        if int(self._exact) != self.cwnd:
            self._exact = float(self.cwnd)  # recovery (or the TCB) set cwnd itself
        self._exact = max(segments * self.mss, float(self.cwnd))
        self.cwnd = int(self._exact)

    def on_ack(self, acked: int, now: float, rtt: float | None) -> None:
        if self.cwnd < self.ssthresh:
            hs = self.hystart
            if hs is not None and hs.active:
                self.cwnd += hs.increase(acked, self.mss)  # RFC 9406 4.2
            else:
                self.cwnd += min(acked, self.mss)  # RFC 5681 slow start (RFC 9438 4.10)
            self._exact = float(self.cwnd)
            return
        epoch = self._start_epoch(now) if self.epoch is None else self.epoch
        t = now - epoch
        cwnd = self.cwnd / self.mss
        segments = acked / self.mss
        # RFC 9438 4.3: W_est grows alpha_cubic per RTT, then 1 once past cwnd_prior.
        alpha = 1.0 if self.w_est >= self.cwnd_prior else ALPHA
        self.w_est += alpha * segments / cwnd
        if self.w_cubic(t) < self.w_est:
            self._set_cwnd(self.w_est)  # Reno-friendly region (4.3)
            return
        # Concave and convex regions (4.4, 4.5): (target - cwnd) / cwnd per segment
        # ACKed, target = W_cubic(t + RTT) within [cwnd, 1.5 cwnd] (4.2).
        target = min(max(self.w_cubic(t + (rtt or 0.0)), cwnd), 1.5 * cwnd)
        self._set_cwnd(cwnd + (target - cwnd) / cwnd * segments)

    def on_ack_sample(self, sample: AckSample) -> None:
        hs = self.hystart
        if hs is None or not hs.active or self.cwnd >= self.ssthresh:
            return
        if hs.on_sample(sample.rtt, sample.una, sample.high):
            # RFC 9406 4.2: CSS is over: congestion avoidance from here; RFC 9438
            # 4.10: cwnd_prior = cwnd, and the first curve has K = 0.
            self.ssthresh = self.cwnd
            self.cwnd_prior = self.cwnd / self.mss
            self._reset_curve = True
            self.epoch = None

    def on_loss(self, flight: int, now: float) -> None:
        cwnd = self.cwnd / self.mss
        self.cwnd_prior = cwnd  # RFC 9438 4.6: save cwnd
        if self.fast_convergence and cwnd < self.w_max:
            self.w_max = cwnd * (1 + self.BETA) / 2  # RFC 9438 4.7
        else:
            self.w_max = cwnd
        # RFC 9438 4.6: ssthresh = flight_size * beta_cubic, cwnd = max(ssthresh, 2).
        self.ssthresh = max(int(flight * self.BETA), 2 * self.mss)
        self.cwnd = self.ssthresh
        self._exact = float(self.cwnd)
        self.epoch = None
        self._reset_curve = False
        if self.hystart is not None:
            self.hystart.stop()

    def on_rto(self, flight: int, now: float) -> None:
        # RFC 9438 4.8: cwnd as Reno (one segment), ssthresh with beta_cubic; the
        # next stage starts with K = 0 and W_max = cwnd_epoch.
        self.cwnd_prior = self.cwnd / self.mss
        self.ssthresh = max(int(flight * self.BETA), 2 * self.mss)
        self.cwnd = self.mss
        self._exact = float(self.cwnd)
        self.epoch = None
        self._reset_curve = True
        if self.hystart is not None:
            self.hystart.stop()


register(Cubic)
