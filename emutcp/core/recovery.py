"""Loss detection and recovery: what the sender does when segments go missing.

Theory of operation
-------------------
One ``LossRecovery`` per connection owns the loss-recovery state of the
sender; the congestion controller (congestion.py) only answers "how big is
cwnd?", and the TCB (connection.py) owns the sequence space, the send buffer
and the wire.  The TCB feeds recovery four kinds of input and asks it two
questions, through a narrow interface of plain numbers: sequence numbers for
SND.UNA/SND.MAX/"recover", stream offsets (see buffers.py) for everything the
SACK scoreboard holds, so nothing here needs the TCB itself.

Inputs:

* ``on_sack_blocks``: the SACK blocks of an acceptable ACK, as stream offsets;
  they go into the scoreboard (RFC 2018, RFC 6675 4).
* ``on_duplicate_ack``: an ACK that is a duplicate by RFC 5681's definition
  (see ``is_duplicate_ack``).  DupThresh of them, or SACK blocks showing a
  lost segment (RFC 6675 IsLost), begin a recovery episode: ssthresh and cwnd
  drop once (``cc.on_loss``), "recover" remembers the highest sequence number
  sent, and the segment at SND.UNA is retransmitted.  Without SACK this is
  NewReno: cwnd = ssthresh + 3*SMSS and every further duplicate inflates it
  by one SMSS (RFC 5681 3.2, RFC 6582 3.2).
* ``on_ack``: SND.UNA advanced.  In recovery, an ACK below "recover" is
  partial: NewReno retransmits the next hole at once and deflates cwnd
  (RFC 6582 3.2 step 4); an ACK at or above it ends the episode (step 3, or
  RFC 6675 5 with SACK).  Outside recovery the controller grows cwnd.
* ``on_rto``: the retransmission timer expired: the controller collapses cwnd
  (RFC 5681 3.1), the episode ends and "recover" moves to SND.MAX so that
  duplicate ACKs for data sent before the timeout start no new episode
  (RFC 6582 4).

Questions, asked by the output path:

* ``send_room``: outside SACK recovery, how many bytes cwnd lets into the
  network beyond what is there: RFC 3042 limited transmit lets the first two
  duplicate ACKs each release one new segment, and SACKed bytes do not count
  as in flight (RFC 6675 5.1).
* ``retransmit_holes``: in SACK recovery, resend lost holes while pipe leaves
  room for a segment (RFC 6675 5 step C, NextSeg rule 1), through the TCB's
  ``resend`` callback, and return the room left for new data.

The methods that start a retransmission of the segment at SND.UNA return its
reason (a string for the trace) instead of sending it; the TCB sends it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from .congestion import CongestionController
from .sack import Scoreboard
from .segment import FIN, SYN, Segment
from .seq import seq_ge

# Trace reasons of the retransmissions recovery asks for.
FAST_RETRANSMIT = "fast retransmit (3 duplicate ACKs)"
SACK_FAST_RETRANSMIT = "fast retransmit (SACK recovery)"
PARTIAL_ACK_RETRANSMIT = "fast retransmit (partial ACK)"


def is_duplicate_ack(seg: Segment, *, window: int, snd_wnd: int, outstanding: bool) -> bool:
    """RFC 5681 2: an ACK that acknowledges nothing new (SEG.ACK = SND.UNA, checked
    by the caller) is a duplicate only if it carries no data, SYN or FIN, data is
    outstanding, and it repeats the window (``window``: SEG.WND already scaled)."""
    return not seg.payload and not seg.flags & (SYN | FIN) and outstanding and window == snd_wnd


class LossRecovery:
    """NewReno and SACK-based loss recovery state of one sender (see module doc)."""

    __slots__ = (
        "_iss",
        "cc",
        "dupacks",
        "dupthresh",
        "high_rxt",
        "in_recovery",
        "limited_transmit",
        "recover",
        "sack",
        "scoreboard",
    )

    def __init__(
        self,
        cc: CongestionController,
        *,
        iss: int,
        dupthresh: int = 3,
        limited_transmit: bool = True,
    ) -> None:
        self.cc = cc  # its ``mss`` is SMSS, kept equal to the TCB's snd_mss
        self.dupthresh = dupthresh  # RFC 5681 / RFC 6675 DupThresh
        self.limited_transmit = limited_transmit  # RFC 3042
        self.sack = False  # SACK-permitted was negotiated on the SYN (RFC 2018 2)
        self.dupacks = 0  # consecutive duplicate ACKs
        self.in_recovery = False
        self._iss = iss
        self.recover = iss  # RFC 6582 "recover", a sequence number; ISS: no episode yet
        self.high_rxt = 0  # RFC 6675 HighRxt, as a stream offset
        self.scoreboard = Scoreboard()

    def __repr__(self) -> str:
        mode = ("SACK" if self.sack else "NewReno") + (" recovery" if self.in_recovery else "")
        return f"<LossRecovery {mode} dupacks={self.dupacks} recover={self.recover}>"

    @property
    def sack_recovery(self) -> bool:
        """In an episode driven by the scoreboard (RFC 6675) rather than NewReno."""
        return self.in_recovery and self.sack

    @property
    def _lost_threshold(self) -> int:
        """RFC 6675 IsLost: more than (DupThresh - 1) * SMSS bytes SACKed above."""
        return (self.dupthresh - 1) * self.cc.mss

    # ---------------------------------------------------------------- inputs

    def on_sack_blocks(self, blocks: Iterable[tuple[int, int]], una: int, high: int) -> bool:
        """Record SACKed ranges lying inside the outstanding data [una, high);
        True if they SACKed bytes not SACKed before."""
        before = self.scoreboard.sacked_bytes()
        for start, end in blocks:
            if una <= start < end <= high:  # D-SACKs and nonsense are ignored
                self.scoreboard.add(start, end)
        return self.scoreboard.sacked_bytes() > before

    def on_duplicate_ack(
        self, *, snd_una: int, snd_max: int, flight: int, una: int, now: float
    ) -> str | None:
        """A duplicate ACK arrived (``una``: SND.UNA as a stream offset).  Returns the
        reason of a fast retransmission to send now, or None."""
        self.dupacks += 1
        # RFC 6582 3.2 step 2: a new episode only once "recover" is acknowledged.
        fresh_episode = seq_ge(snd_una, self.recover) or self.recover == self._iss
        cc, mss = self.cc, self.cc.mss
        if self.sack:
            if self.in_recovery or not fresh_episode:
                return None
            lost = self.scoreboard.lost_boundary(self._lost_threshold)
            if self.dupacks >= self.dupthresh or (lost is not None and lost > una):
                self._begin(snd_max, flight, now)  # RFC 6675 5 step 4
                self.high_rxt = una + mss  # HighRxt covers the retransmission at SND.UNA
                return SACK_FAST_RETRANSMIT
            return None
        if self.in_recovery:
            cc.cwnd += mss  # RFC 5681 3.2 step 4: inflate
        elif self.dupacks == self.dupthresh and fresh_episode:
            self._begin(snd_max, flight, now)
            cc.cwnd = cc.ssthresh + 3 * mss  # RFC 5681 3.2 step 3
            return FAST_RETRANSMIT
        return None

    def _begin(self, snd_max: int, flight: int, now: float) -> None:
        """Enter loss recovery; remember the highest sequence number sent (RFC 6582 3.2)."""
        self.in_recovery = True
        self.recover = snd_max
        self.cc.on_loss(flight, now)  # RFC 5681 3.2 step 2: ssthresh = FlightSize / 2

    def on_ack(
        self, *, ack: int, acked: int, flight: int, una: int, now: float, srtt: float | None
    ) -> str | None:
        """SND.UNA advanced to ``ack`` (stream offset ``una``) acknowledging ``acked``
        bytes; ``flight`` is FlightSize after the ACK.  Returns the reason of a
        retransmission of the segment at SND.UNA to send now, or None."""
        self.scoreboard.advance(una)
        cc, mss = self.cc, self.cc.mss
        retransmit = None
        if self.in_recovery and self.sack:
            if seq_ge(ack, self.recover):
                self.in_recovery = False  # RFC 6675 5: recovery ends at RecoveryPoint
                cc.cwnd = max(cc.ssthresh, 2 * mss)
        elif self.in_recovery:
            if seq_ge(ack, self.recover):
                self.in_recovery = False  # full ACK: deflate (RFC 6582 3.2 step 3)
                cc.cwnd = max(min(cc.ssthresh, flight + mss), mss)
            else:
                # Partial ACK: retransmit the next hole, deflate (RFC 6582 3.2 step 4).
                retransmit = PARTIAL_ACK_RETRANSMIT
                cc.cwnd = max(cc.cwnd - acked + mss, mss)
        elif acked > 0:
            cc.on_ack(acked, now, srtt)  # RFC 5681 3.1 slow start / congestion avoidance
        self.dupacks = 0
        return retransmit

    def on_rto(self, *, snd_max: int, flight: int, una: int, now: float) -> None:
        """The retransmission timer expired with data outstanding (RFC 6298 5.4-5.7)."""
        self.cc.on_rto(flight, now)  # RFC 5681 3.1 eq. (4), loss window of one segment
        self.in_recovery = False
        self.recover = snd_max  # RFC 6582 4: avoid false fast retransmits
        self.high_rxt = una
        self.dupacks = 0

    # --------------------------------------------------------------- output

    def send_room(self, in_flight: int, una: int, nxt: int) -> int:
        """Outside SACK recovery: bytes cwnd admits beyond the ``in_flight`` bytes
        between SND.UNA and SND.NXT (stream offsets ``una``, ``nxt``)."""
        cwnd = self.cc.cwnd
        if self.limited_transmit and not self.in_recovery and self.dupacks:
            cwnd += min(self.dupacks, 2) * self.cc.mss  # RFC 3042: two new segments
        if self.scoreboard:  # SACKed bytes are not in the network (RFC 6675 5.1)
            in_flight -= self.scoreboard.sacked_bytes(una, nxt)
        return cwnd - in_flight

    def retransmit_holes(self, una: int, high: int, resend: Callable[[int, int], None]) -> int:
        """RFC 6675 5 step (C): while pipe leaves room for a segment, resend the next
        lost hole of [una, high) (NextSeg rule 1) by ``resend(offset, length)``.
        Returns the room left for new data."""
        mss = self.cc.mss
        threshold = self._lost_threshold
        while True:
            room = self.cc.cwnd - self.scoreboard.pipe(una, high, self.high_rxt, threshold)
            if room < mss:
                return room
            hole = self.scoreboard.next_lost_hole(una, self.high_rxt, threshold, mss)
            if hole is None:
                return room
            off, n = hole
            resend(off, n)
            self.high_rxt = off + n
