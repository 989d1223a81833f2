"""Round-trip time estimation and the retransmission timeout (RFC 6298).

One sample at a time is timed (the segment that starts at ``timed_seq``), and
never a retransmitted one (Karn's rule, RFC 6298 3).  ``backoff()`` doubles the
RTO after a timeout (RFC 6298 5.5) up to ``rto_max``; a fresh sample from new
data resets the backoff because RTO is recomputed from SRTT and RTTVAR.
"""

from __future__ import annotations

from collections import deque
from typing import Final

_ALPHA: Final = 1 / 8  # RFC 6298 2.3
_BETA: Final = 1 / 4
_K: Final = 4
_G: Final = 0.001  # clock granularity G: trio's clock is a float, 1 ms is honest


class RttEstimator:
    __slots__ = ("recent", "rto", "rto_max", "rto_min", "rttvar", "samples", "srtt")

    def __init__(self, *, initial_rto: float, rto_min: float, rto_max: float) -> None:
        self.srtt: float | None = None
        self.rttvar: float | None = None
        self.rto = initial_rto  # RFC 6298 2.1
        self.rto_min = rto_min
        self.rto_max = rto_max
        self.samples = 0
        self.recent: deque[float] = deque(maxlen=4096)  # raw samples, for statistics

    def sample(self, r: float) -> None:
        """Fold in one RTT measurement ``r`` seconds (RFC 6298 2.2 / 2.3)."""
        if self.srtt is None or self.rttvar is None:
            self.srtt = r
            self.rttvar = r / 2
        else:
            self.rttvar = (1 - _BETA) * self.rttvar + _BETA * abs(self.srtt - r)
            self.srtt = (1 - _ALPHA) * self.srtt + _ALPHA * r
        self.samples += 1
        self.recent.append(r)
        # RFC 6298 2.4 (floor) and 2.5 (ceiling).
        self.rto = min(self.rto_max, max(self.rto_min, self.srtt + max(_G, _K * self.rttvar)))

    def reinitialize(self, rto: float) -> None:
        """RFC 6298 5.7: start over from ``rto`` (within the floor and ceiling) once
        data flows after a SYN timed out; the next sample recomputes it as usual."""
        self.rto = min(self.rto_max, max(self.rto_min, rto))

    def backoff(self) -> None:
        """RFC 6298 5.5: back off the timer after it expires."""
        self.rto = min(self.rto_max, self.rto * 2)
