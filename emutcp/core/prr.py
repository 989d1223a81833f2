"""Proportional Rate Reduction (RFC 6937), the PRR-SSRB variant Linux uses.

Theory of operation
-------------------
When a recovery episode begins, cwnd must come down to ssthresh.  Halving
at once and waiting (RFC 6675's "cwnd = ssthresh") stalls the sender for
half a round trip and then releases a burst; PRR instead spreads the
reduction over the round trip: for every ``DeliveredData`` bytes the
receiver reports (cumulatively ACKed plus newly SACKed), it lets out about
ssthresh/RecoverFS as much (RFC 6937 3.1).  When pipe has fallen below
ssthresh (more losses than the reduction), slow-start reduction bound (SSRB)
lets it grow back by at most one MSS more than was delivered.

``begin(ssthresh, flight)`` starts an episode; ``on_ack(delivered, pipe)``
returns ``sndcnt``, the bytes that may be sent in answer to this ACK, and
the caller sets cwnd = pipe + sndcnt (as Linux's tcp_cwnd_reduction does);
``sent(n)`` counts what went out.  At the end of recovery cwnd = ssthresh
(RFC 6937 3.1, "on exit"), so no burst follows.
"""

from __future__ import annotations


class Prr:
    __slots__ = ("delivered", "mss", "out", "recover_fs", "ssthresh")

    def __init__(self, mss: int) -> None:
        self.mss = mss
        self.ssthresh = 0
        self.recover_fs = 1
        self.delivered = 0  # prr_delivered
        self.out = 0  # prr_out

    def begin(self, ssthresh: int, flight: int) -> None:
        """RFC 6937 3.1, on entering recovery."""
        self.ssthresh = ssthresh
        self.recover_fs = max(flight, 1)  # RecoverFS = snd.nxt - snd.una
        self.delivered = 0
        self.out = 0

    def on_ack(self, delivered: int, pipe: int) -> int:
        """RFC 6937 3.1, on every ACK in recovery: the bytes that may be sent now."""
        self.delivered += delivered
        if pipe > self.ssthresh:
            # Proportional part: ceil(prr_delivered * ssthresh / RecoverFS) - prr_out.
            sndcnt = -(-self.delivered * self.ssthresh // self.recover_fs) - self.out
        else:
            # PRR-SSRB: grow back towards ssthresh, at most one MSS beyond delivery.
            limit = max(self.delivered - self.out, delivered) + self.mss
            sndcnt = min(self.ssthresh - pipe, limit)
        return max(sndcnt, 0)

    def sent(self, n: int) -> None:
        self.out += n
