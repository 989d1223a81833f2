"""RACK-TLP (RFC 8985): time-based loss detection and tail loss probes.

Theory of operation
-------------------
RACK ("recent ACKnowledgment") declares a segment lost when a segment sent
*after* it has been delivered and more than one round trip plus a
reordering window has passed since it was sent (RFC 8985 6.2).  It needs the
time each range was last sent (``sentmap.SentMap``) and keeps:

* ``xmit_ts``/``end_seq``/``rtt``: the most recently sent segment delivered
  so far (by cumulative ACK or SACK), its end and its RTT (6.2 step 2, with
  the RFC's guard against ambiguous samples of retransmissions);
* ``fack``: the highest end delivered, so that a lower never-retransmitted
  delivery shows reordering (``reordering_seen``, 6.2 step 3);
* the reordering window (6.2 step 4): zero while no reordering has been
  seen and DupThresh segments are SACKed or recovery runs (as fast as
  RFC 6675), else ``reo_wnd_mult`` * min_RTT / 4, capped by SRTT.  Each
  round with a D-SACK grows ``reo_wnd_mult``; 16 recoveries without one
  shrink it back (``reo_wnd_persist``).

``detect_loss`` walks the ranges in send order and returns those whose time
is up, plus the earliest deadline among the others (the reorder timer).

TLP (RFC 8985 7): with data in flight and no recovery running, the sender
arms a probe timeout (PTO, about two SRTTs); when it fires it sends one new
segment, or else resends the last one, so an ACK (and SACK) comes back and
RACK can find a lost tail without waiting for the RTO.  ``pto`` computes the
timeout; LossRecovery (recovery.py) owns the episode (``tlp_end``).
"""

from __future__ import annotations

from typing import Final

from .sentmap import Sent, SentMap

WC_DEL_ACK_T: Final = 0.2  # RFC 8985 7.2 WCDelAckT: worst-case delayed-ACK timer


class Rack:
    __slots__ = (
        "dsack_round",
        "end_seq",
        "fack",
        "min_rtt",
        "reo_wnd_mult",
        "reo_wnd_persist",
        "reordering_seen",
        "rtt",
        "xmit_ts",
    )

    def __init__(self) -> None:
        self.xmit_ts = float("-inf")  # RACK.xmit_ts
        self.end_seq = 0  # RACK.end_seq
        self.rtt = 0.0  # RACK.rtt
        self.fack = 0  # RACK.fack: highest end delivered
        self.min_rtt = float("inf")
        self.reordering_seen = False
        self.reo_wnd_mult = 1
        self.reo_wnd_persist = 0
        self.dsack_round: int | None = None

    def delivered(self, s: Sent, now: float, echoed: float | None = None) -> None:
        """RFC 8985 6.2 steps 2 and 3 for one range newly ACKed or SACKed;
        ``echoed``: the TSval (in seconds) the ACK echoes, so the TSval of the
        transmission it answers (RFC 7323 4; same millisecond clock)."""
        rtt = now - s.time
        if s.retrans and (
            rtt < self.min_rtt or (echoed is not None and echoed < int(s.time * 1000) / 1000)
        ):
            return  # step 2: an ACK of an earlier transmission, not of the last
        self.min_rtt = min(self.min_rtt, rtt)
        if s.time > self.xmit_ts or (s.time == self.xmit_ts and s.end > self.end_seq):
            self.xmit_ts, self.end_seq, self.rtt = s.time, s.end, rtt
        if s.end < self.fack:
            if not s.retrans:
                self.reordering_seen = True  # step 3
        else:
            self.fack = s.end

    def on_dsack(self, una: int, snd_nxt: int) -> None:
        """RFC 8985 6.2 step 4: one more quarter min_RTT per round with a D-SACK."""
        if self.dsack_round is None or una >= self.dsack_round:
            self.dsack_round = snd_nxt
            self.reo_wnd_mult += 1
            self.reo_wnd_persist = 16

    def recovery_ended(self) -> None:
        """RFC 8985 6.2 step 4: after 16 recoveries without D-SACK, back to 1."""
        if self.reo_wnd_persist > 0:
            self.reo_wnd_persist -= 1
            if self.reo_wnd_persist == 0:
                self.reo_wnd_mult = 1

    def reo_wnd(
        self, *, in_recovery: bool, sacked_segments: int, dupthresh: int, srtt: float
    ) -> float:
        """RFC 8985 6.2 step 4 (RACK_update_reo_wnd)."""
        if not self.reordering_seen and (in_recovery or sacked_segments >= dupthresh):
            return 0.0
        if self.min_rtt == float("inf"):
            return 0.0
        return min(self.reo_wnd_mult * self.min_rtt / 4, srtt)

    def detect_loss(
        self, sent: SentMap, now: float, reo_wnd: float
    ) -> tuple[list[Sent], float | None]:
        """RFC 8985 6.2 step 5: (ranges lost now, time of the next check or None)."""
        lost: list[Sent] = []
        deadline: float | None = None
        for s in sent.segs:
            if s.sacked or s.lost:
                continue
            if not (s.time < self.xmit_ts or (s.time == self.xmit_ts and s.end < self.end_seq)):
                if not s.retrans:
                    break  # sent after RACK.segment; so is every later first transmission
                continue
            remaining = s.time + self.rtt + reo_wnd - now
            if remaining <= 0:
                lost.append(s)
            else:
                at = now + remaining
                deadline = at if deadline is None else min(deadline, at)
        return lost, deadline


def pto(srtt: float | None, flight_segments: int) -> float:
    """RFC 8985 7.2: the probe timeout, two SRTTs (plus the worst-case delayed ACK
    when only one segment is in flight, which gets no second-segment ACK)."""
    if srtt is None:
        return 1.0
    if flight_segments <= 1:
        return max(2 * srtt, 1.5 * srtt + WC_DEL_ACK_T)
    return max(2 * srtt, 0.01)
