"""Packetization-layer path MTU discovery: the search for the largest segment.

Theory of operation
-------------------
ICMP-based PMTUD (RFC 1191 / 8201) fails silently where a router drops
oversized packets and its "fragmentation needed" never arrives (a black
hole): every full-sized segment vanishes, small ones pass, and the
connection stalls.  RFC 4821 (for TCP) and RFC 8899 (datagram PLs, which
emutcp over UDP is) let the sender learn the path itself, from which of its
own segments are acknowledged.

``MtuSearch`` is that search in MSS terms, pure and clock-free; the
connection feeds it what happened:

* It keeps ``low`` (the size known to work, the MSS in use) and ``high`` (the
  largest that might: the MSS the peer and our path allow).  While
  ``high - low`` exceeds ``PROBE_THRESHOLD`` it offers ``probe_size()``, the
  midpoint (RFC 4821 7.3 binary search).
* The connection sends one segment of new data of that size (a probe) when
  enough data and window wait behind it for a loss to be noticed from the
  ACKs that follow (RFC 4821 7.4).  ``acked`` raises the MSS to the probe's
  size; ``lost`` counts a failure, and after ``MAX_PROBES`` failures at one
  size that size becomes the ceiling (RFC 8899 5.1.2).  A lost probe is not
  a congestion signal (RFC 4821 7.5): the connection resends its bytes at
  the old MSS without touching cwnd.
* ``black_hole`` (RFC 8899 4.3, RFC 4821 7.7): full-sized segments time out
  again and again while the peer is otherwise reachable: fall back to
  ``base`` (RFC 8899 BASE_PLPMTU, 1200 bytes of UDP payload, less the
  framing) and search upward from there.
* When the search completes, ``raise_due(now)`` reopens it after
  ``RAISE_INTERVAL`` (RFC 8899 5.1.1 PMTU_RAISE_TIMER, 600 s): paths change.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

# RFC 8899 5.1.2: MAX_PROBES, the failures at one size before it is given up.
MAX_PROBES: Final = 3
# Stop searching when the bracket is this narrow (Linux tcp_probe_threshold is 8).
PROBE_THRESHOLD: Final = 8
# RFC 8899 5.1.1: PMTU_RAISE_TIMER, how long a completed search rests.
RAISE_INTERVAL: Final = 600.0
# RFC 8899 5.1.2: BASE_PLPMTU for UDP, payload bytes every IPv4/IPv6 path carries.
BASE_DATAGRAM: Final = 1200


@dataclass(slots=True)
class Probe:
    """One probe in flight: its sequence range and size; ``lost`` once its loss
    was seen; ``retransmits`` is the connection's count when it left, so that a
    retransmission in the meantime (whose bytes may have covered the probe's)
    makes its ACK prove nothing."""

    start: int
    end: int
    size: int
    retransmits: int
    lost: bool = False


class MtuSearch:
    """The probe-size search of one connection (RFC 4821 7.3, RFC 8899 5.2)."""

    __slots__ = ("base", "ceiling", "completed_at", "failures", "high", "low")

    def __init__(self, *, current: int, ceiling: int, base: int) -> None:
        self.base = min(base, current)
        self.ceiling = ceiling
        self.low = current
        self.high = max(ceiling, current)
        self.failures = 0
        self.completed_at: float | None = None

    def __repr__(self) -> str:
        return f"<MtuSearch low={self.low} high={self.high} failures={self.failures}>"

    @property
    def searching(self) -> bool:
        return self.high - self.low > PROBE_THRESHOLD

    def probe_size(self) -> int | None:
        """The next probe's MSS, or None when there is nothing left to learn."""
        if not self.searching:
            return None
        return (self.low + self.high + 1) // 2

    def acked(self, size: int, now: float) -> int:
        """A probe of ``size`` arrived: it is the new MSS (RFC 4821 7.6.1)."""
        if size > self.low:
            self.low = min(size, self.high)
        self.failures = 0
        if not self.searching:
            self.completed_at = now
        return self.low

    def lost(self, size: int, now: float) -> None:
        """A probe of ``size`` was lost; after MAX_PROBES it bounds the search."""
        self.failures += 1
        if self.failures >= MAX_PROBES:
            self.high = max(self.low, size - 1)
            self.failures = 0
        if not self.searching:
            self.completed_at = now

    def lowered(self, mss: int) -> None:
        """The path said it carries at most ``mss`` (ICMP / EMSGSIZE, RFC 8201)."""
        self.low = min(self.low, mss)
        self.high = min(self.high, mss)
        self.base = min(self.base, mss)
        self.failures = 0

    def black_hole(self, now: float) -> int:
        """Full-sized segments keep vanishing: drop to the base size and search
        up again, below what failed (RFC 8899 4.3)."""
        self.high = max(self.base, self.low - 1)
        self.low = self.base
        self.failures = 0
        self.completed_at = None if self.searching else now
        return self.low

    def raise_due(self, now: float) -> bool:
        """RFC 8899 5.1.1: a completed search reopens after RAISE_INTERVAL."""
        if self.completed_at is None or now - self.completed_at < RAISE_INTERVAL:
            return False
        self.completed_at = None
        self.high = max(self.ceiling, self.low)
        return self.searching
