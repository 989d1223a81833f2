"""Congestion controllers behind one small interface, picked by name.

The connection owns loss detection (duplicate ACKs, RTO) and recovery
bookkeeping; a controller only answers "how big is cwnd now?":

* ``on_ack(acked, now)``: new data acknowledged outside recovery
  (slow start below ssthresh, congestion avoidance above, RFC 5681 3.1).
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

    def on_ack(self, acked: int, now: float) -> None:
        raise NotImplementedError

    def on_loss(self, flight: int, now: float) -> None:
        raise NotImplementedError

    def on_rto(self, flight: int, now: float) -> None:
        self.ssthresh = max(flight // 2, 2 * self.mss)  # RFC 5681 eq. (4)
        self.cwnd = self.mss  # RFC 5681 3.1: loss window of one segment


class NewReno(CongestionController):
    name = "newreno"

    def __init__(self, *, mss: int, initial_window: int) -> None:
        super().__init__(mss=mss, initial_window=initial_window)
        self._ca_acked = 0

    def on_ack(self, acked: int, now: float) -> None:
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


CONTROLLERS: dict[str, type[CongestionController]] = {"newreno": NewReno, "reno": NewReno}


def make_controller(name: str, *, mss: int, initial_window: int) -> CongestionController:
    try:
        cls = CONTROLLERS[name]
    except KeyError:
        known = ", ".join(sorted(CONTROLLERS))
        raise ValueError(f"unknown congestion control {name!r} (known: {known})") from None
    return cls(mss=mss, initial_window=initial_window)
