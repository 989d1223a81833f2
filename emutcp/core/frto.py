"""F-RTO (RFC 5682): was that retransmission timeout spurious?

Theory of operation
-------------------
A delay spike (a route change, a link-layer retry storm) can hold the ACKs
back longer than the RTO: the timer fires although nothing was lost, and
the conventional response (cwnd to one segment, go-back-N) resends a whole
window that the receiver already has.  F-RTO (RFC 5682 2, the basic
algorithm; Linux's tcp_frto) tells the two apart from the first two ACKs
after the timeout:

1. On the (first) timeout, the segment at SND.UNA is retransmitted as usual
   and SND.MAX remembered ("recover").
2. The first ACK after it: a duplicate, one that does not cover the
   retransmission, or one that covers everything up to "recover" gives no
   verdict, and recovery stays conventional.  One that advances the window
   means the peer is getting data: send up to two *new* segments instead of
   going back (``NEW_DATA``).
3. The second ACK: if it advances the window again, it acknowledges data
   that was never retransmitted, so the timeout was spurious (``SPURIOUS``);
   a duplicate means the new segments were not enough: cwnd at most three
   segments and conventional go-back-N after all (``GO_BACK``).

The response to a spurious timeout is RFC 4015's (Eifel, section 4), applied
by recovery.py: ssthresh = pipe_prev (the larger of FlightSize and ssthresh
when the timer fired), cwnd = FlightSize + min(bytes ACKed, IW), and
sending continues with new data.  A timeout that repeats during the test
ends it (RFC 5682 2: the retransmission itself was lost).

``Frto`` works on sequence numbers given by the caller and returns what the
sender should do; it changes nothing itself.
"""

from __future__ import annotations

from typing import Final

from .seq import seq_ge, seq_gt

NEW_DATA: Final = "new data"  # step 2b: send two new segments, do not go back
GO_BACK: Final = "go back"  # step 3a: conventional recovery after all
SPURIOUS: Final = "spurious"  # step 3b: the timeout was spurious


class Frto:
    __slots__ = ("enabled", "pipe_prev", "recover", "rtx_end", "step")

    def __init__(self, *, enabled: bool = True) -> None:
        self.enabled = enabled
        self.step = 0  # 0: idle; 1: waiting for the first ACK; 2: for the second
        self.recover = 0  # SND.MAX when the timer fired
        self.rtx_end = 0  # end of the segment retransmitted at SND.UNA
        self.pipe_prev = 0  # RFC 4015 4: max(FlightSize, ssthresh) at the timeout

    def on_rto(
        self, *, first: bool, snd_una: int, snd_max: int, mss: int, flight: int, ssthresh: int
    ) -> None:
        """The retransmission timer fired (before cwnd and ssthresh are cut)."""
        if not self.enabled or not first or self.step:
            self.step = 0  # RFC 5682 2: a repeated timeout is not tested
            return
        self.step = 1
        self.recover = snd_max
        self.rtx_end = (snd_una + min(mss, flight)) & 0xFFFF_FFFF
        self.pipe_prev = max(flight, ssthresh)

    def on_ack(self, ack: int) -> str | None:
        """An ACK that advanced SND.UNA to ``ack`` (RFC 5682 2 steps 2 and 3)."""
        if self.step == 1:
            if not seq_ge(ack, self.rtx_end) or not seq_gt(self.recover, ack):
                self.step = 0  # step 2a: no verdict
                return None
            self.step = 2  # step 2b
            return NEW_DATA
        if self.step == 2:
            self.step = 0
            return SPURIOUS  # step 3b: it acknowledges data never retransmitted
        return None

    def on_duplicate_ack(self) -> str | None:
        """A duplicate ACK (RFC 5682 2 steps 2a and 3a)."""
        step, self.step = self.step, 0
        return GO_BACK if step == 2 else None
