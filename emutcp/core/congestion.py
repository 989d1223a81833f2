"""Congestion controllers behind one small interface, picked by name.

Loss detection and recovery bookkeeping (duplicate ACKs, SACK, the RTO's
effect) live in recovery.py; a controller only answers "how big is cwnd now?"
(and, for the ones that pace, "how fast?"):

* ``on_ack(acked, now, rtt)``: new data acknowledged outside recovery
  (slow start below ssthresh, congestion avoidance above, RFC 5681 3.1);
  ``rtt`` is the smoothed RTT (or None before the first sample).
* ``on_loss(flight, now)``: a fast-retransmit loss episode begins
  (RFC 5681 3.2 step 2 / RFC 6582); sets ssthresh and cwnd.
* ``on_rto(flight, now)``: the retransmission timer expired (RFC 5681 3.1, eq. 4).
* ``on_ack_sample(sample)``: every ACK that delivers data, in or out of
  recovery, after recovery has run, with this ACK's RTT measurement and (for
  a controller that sets ``wants_rate_samples``) a delivery-rate sample
  (rate.py).  HyStart++, Vegas and BBR read their signals here; BBR also
  sets cwnd here, overriding what recovery did.
* ``pacing_rate(srtt)``: bytes/s the sender spaces segments at when pacing is
  on (output.py); Linux's rule by default, BBR's own model for BBR.

Adding an algorithm is one subclass in a module of its own (cc_cubic.py,
cc_vegas.py, cc_bbr.py, cc_dctcp.py) that calls ``register``; algorithms.py
imports them all, so ``CONTROLLERS`` is complete once the core is loaded.
"""

from __future__ import annotations

from typing import ClassVar

from .rate import RateSample


class AckSample:
    """What one ACK told the sender, in plain numbers (stream offsets and bytes).

    A plain class, built once per ACK: compiled, a dataclass's __init__ would
    still be the dataclasses module's Python code (see core/segment.py)."""

    __slots__ = ("acked", "high", "in_flight", "in_recovery", "now", "rate", "rtt", "una")

    def __init__(
        self,
        now: float,
        acked: int,  # bytes newly acknowledged, cumulatively or by SACK
        rtt: float | None,  # the RTT this ACK measured (RFC 7323 RTTM or a timed segment)
        una: int,  # SND.UNA after the ACK, as a stream offset
        high: int,  # SND.MAX as a stream offset: what has been sent so far
        in_flight: int,  # bytes still in the network (RFC 6675 pipe, or FlightSize)
        in_recovery: bool,
        rate: RateSample | None = None,  # only for controllers with wants_rate_samples
    ) -> None:
        self.now = now
        self.acked = acked
        self.rtt = rtt
        self.una = una
        self.high = high
        self.in_flight = in_flight
        self.in_recovery = in_recovery
        self.rate = rate

    def __repr__(self) -> str:
        return (
            f"AckSample(now={self.now!r}, acked={self.acked}, rtt={self.rtt!r}, una={self.una}, "
            f"high={self.high}, in_flight={self.in_flight}, in_recovery={self.in_recovery})"
        )

    def __reduce__(self) -> tuple[type[AckSample], tuple[object, ...]]:
        return (
            AckSample,
            (
                self.now,
                self.acked,
                self.rtt,
                self.una,
                self.high,
                self.in_flight,
                self.in_recovery,
                self.rate,
            ),
        )


class CongestionController:
    name: ClassVar[str] = "base"
    # The TCB keeps per-segment delivery records (rate.py) only for a controller
    # that asks; the others pay nothing for it.
    wants_rate_samples = False
    # Pace by default (BBR); Config(pacing=...) overrides it either way.
    paced_by_default = False

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

    def on_ack_sample(self, sample: AckSample) -> None:
        """Every ACK delivering data (see the module doc); most controllers ignore it."""

    def pacing_rate(self, srtt: float | None) -> float | None:
        """Linux's default pacing rate (tcp_update_pacing_rate), bytes/s: cwnd/srtt
        times 2 in slow start (below ssthresh/2) and 1.2 after."""
        if not srtt:
            return None
        ratio = 2.0 if self.cwnd < self.ssthresh // 2 else 1.2
        return ratio * self.cwnd / srtt

    # ECN (RFC 3168 6.1.2): a controller that handles ECE itself (DCTCP, RFC 8257)
    # sets this, and the core then skips the once-per-window halving.
    handles_ece = False

    def on_ecn_ack(self, acked: int, ece: bool, now: float) -> None:
        """Every ACK of new data on an ECN connection (DCTCP counts ECE bytes)."""

    def on_ecn_ce(self, flight: int, now: float) -> None:
        """RFC 3168 6.1.2: ECE seen, at most once per window: respond as to a loss."""
        self.on_loss(flight, now)


class NewReno(CongestionController):
    name: ClassVar[str] = "newreno"

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


CONTROLLERS: dict[str, type[CongestionController]] = {
    "newreno": NewReno,
    "reno": NewReno,
}


def register(cls: type[CongestionController], *aliases: str) -> type[CongestionController]:
    """Make ``cls`` available by its ``name`` (and ``aliases``)."""
    for name in (cls.name, *aliases):
        CONTROLLERS[name] = cls
    return cls


def check_name(name: str) -> None:
    """Raise ValueError naming the known algorithms if ``name`` is not one."""
    if name not in CONTROLLERS:
        known = ", ".join(sorted(CONTROLLERS))
        raise ValueError(f"unknown congestion control {name!r} (known: {known})")


def make_controller(name: str, *, mss: int, initial_window: int) -> CongestionController:
    check_name(name)
    return CONTROLLERS[name](mss=mss, initial_window=initial_window)
