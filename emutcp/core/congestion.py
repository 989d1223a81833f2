"""Congestion controllers behind one small interface, picked by name.

Loss detection and recovery bookkeeping (duplicate ACKs, SACK, the RTO's
effect) live in recovery.py; a controller only answers "how big is cwnd now?":

* ``on_ack(acked, now, rtt)``: new data acknowledged outside recovery
  (slow start below ssthresh, congestion avoidance above, RFC 5681 3.1);
  ``rtt`` is the smoothed RTT (or None before the first sample).
* ``on_loss(flight, now)``: a fast-retransmit loss episode begins
  (RFC 5681 3.2 step 2 / RFC 6582); sets ssthresh and cwnd.
* ``on_rto(flight, now)``: the retransmission timer expired (RFC 5681 3.1, eq. 4).

Adding an algorithm is one subclass registered in ``CONTROLLERS``.
"""

from __future__ import annotations


class CongestionController:
    name = "base"

    def __init__(self, *, mss: int, initial_window: int) -> None:
        self.mss = mss
        self.cwnd = initial_window * mss  # RFC 6928 / RFC 5681 3.1
        self.ssthresh = 1 << 30  # "arbitrarily high" (RFC 5681 3.1)

    def on_ack(self, acked: int, now: float, rtt: float | None) -> None:
        raise NotImplementedError

    def on_loss(self, flight: int, now: float) -> None:
        raise NotImplementedError

    def on_rto(self, flight: int, now: float) -> None:
        self.ssthresh = max(flight // 2, 2 * self.mss)  # RFC 5681 eq. (4)
        self.cwnd = self.mss  # RFC 5681 3.1: loss window of one segment

    # ECN (RFC 3168 6.1.2): a controller that handles ECE itself (DCTCP, RFC 8257)
    # sets this, and the core then skips the once-per-window halving.
    handles_ece = False

    def on_ecn_ack(self, acked: int, ece: bool, now: float) -> None:
        """Every ACK of new data on an ECN connection (DCTCP counts ECE bytes)."""

    def on_ecn_ce(self, flight: int, now: float) -> None:
        """RFC 3168 6.1.2: ECE seen, at most once per window: respond as to a loss."""
        self.on_loss(flight, now)


class NewReno(CongestionController):
    name = "newreno"

    def __init__(self, *, mss: int, initial_window: int) -> None:
        super().__init__(mss=mss, initial_window=initial_window)
        self._ca_acked = 0

    def on_ack(self, acked: int, now: float, rtt: float | None) -> None:
        if self.cwnd < self.ssthresh:
            self.cwnd += min(acked, self.mss)  # RFC 5681 eq. (2), slow start
        else:
            # RFC 5681 3.1 congestion avoidance by byte counting (RFC 3465):
            # one MSS per cwnd of data acknowledged.
            self._ca_acked += acked
            if self._ca_acked >= self.cwnd:
                self._ca_acked -= self.cwnd
                self.cwnd += self.mss

    def on_loss(self, flight: int, now: float) -> None:
        self.ssthresh = max(flight // 2, 2 * self.mss)  # RFC 5681 eq. (4)
        self.cwnd = self.ssthresh
        self._ca_acked = 0

    def on_rto(self, flight: int, now: float) -> None:
        super().on_rto(flight, now)
        self._ca_acked = 0


class Cubic(CongestionController):
    """CUBIC (RFC 9438): window growth is a cubic function of the time since
    the last congestion event, with a Reno-friendly floor (RFC 9438 4.3)."""

    name = "cubic"
    C = 0.4  # RFC 9438 4.1
    BETA = 0.7  # RFC 9438 4.6

    def __init__(self, *, mss: int, initial_window: int) -> None:
        super().__init__(mss=mss, initial_window=initial_window)
        self.w_max = 0.0  # segments
        self.k = 0.0
        self.epoch: float | None = None
        self.w_est = 0.0
        self._frac = 0.0  # growth in bytes not yet added to cwnd

    def _start_epoch(self, now: float) -> float:
        cwnd = self.cwnd / self.mss
        self.epoch = now
        if self.w_max <= cwnd:
            self.k = 0.0
            self.w_max = cwnd
        else:
            self.k = ((self.w_max - cwnd) / self.C) ** (1 / 3)  # RFC 9438 eq. 2
        self.w_est = cwnd
        return now

    def on_ack(self, acked: int, now: float, rtt: float | None) -> None:
        if self.cwnd < self.ssthresh:
            self.cwnd += min(acked, self.mss)  # slow start, as Reno (RFC 9438 4.10)
            return
        epoch = self._start_epoch(now) if self.epoch is None else self.epoch
        cwnd = self.cwnd / self.mss
        t = now - epoch
        # RFC 9438 4.3: the Reno-friendly estimate grows alpha segments per RTT.
        alpha = 3 * (1 - self.BETA) / (1 + self.BETA)
        self.w_est += alpha * (acked / self.mss) / cwnd
        # RFC 9438 4.2: aim for W_cubic one RTT ahead, clamped to [cwnd, 1.5 cwnd].
        w_cubic = self.C * (t + (rtt or 0.0) - self.k) ** 3 + self.w_max
        if self.w_est > w_cubic:
            # Reno-friendly region (RFC 9438 4.3): cwnd follows the Reno estimate.
            self.cwnd = max(self.cwnd, int(self.w_est * self.mss))
            return
        target = min(max(w_cubic, cwnd), 1.5 * cwnd)
        # Concave/convex regions (4.4, 4.5): (target - cwnd) / cwnd per segment ACKed.
        self._frac += (target - cwnd) / cwnd * acked
        step = int(self._frac)
        self._frac -= step
        self.cwnd = max(self.cwnd + step, self.mss)

    def on_loss(self, flight: int, now: float) -> None:
        cwnd = self.cwnd / self.mss
        # RFC 9438 4.7 fast convergence: release bandwidth to newer flows.
        self.w_max = cwnd * (1 + self.BETA) / 2 if cwnd < self.w_max else cwnd
        self.ssthresh = max(int(self.cwnd * self.BETA), 2 * self.mss)  # RFC 9438 4.6
        self.cwnd = self.ssthresh
        self.epoch = None

    def on_rto(self, flight: int, now: float) -> None:
        self.on_loss(flight, now)  # RFC 9438 4.8: as a loss, then one segment
        self.cwnd = self.mss


CONTROLLERS: dict[str, type[CongestionController]] = {
    "newreno": NewReno,
    "reno": NewReno,
    "cubic": Cubic,
}


def make_controller(name: str, *, mss: int, initial_window: int) -> CongestionController:
    try:
        cls = CONTROLLERS[name]
    except KeyError:
        known = ", ".join(sorted(CONTROLLERS))
        raise ValueError(f"unknown congestion control {name!r} (known: {known})") from None
    return cls(mss=mss, initial_window=initial_window)
