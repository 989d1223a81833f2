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

RACK-TLP (``mode="rack"``, the default with SACK, as on Linux): loss is
decided by time (rack.py, RFC 8985) over the record of every transmission
(sentmap.py, fed by ``on_transmit``).  ``after_ack`` runs after each ACK: it
hands RACK the ranges the ACK delivered, marks the ones whose time is up
lost (starting an episode, if none runs, whose cwnd reduction PRR spreads
over the round trip, prr.py / RFC 6937), and ``retransmit_lost`` resends
them as cwnd allows.  DupThresh duplicate ACKs or RFC 6675's IsLost are not
needed: RACK's reordering window is zero until reordering is seen.  The
tail-loss probe (RFC 8985 7) is armed and sent by the TCB; ``probe_sent``
and ``after_ack`` keep its episode.  ``mode="rfc6675"`` keeps the RFC 6675
path above (no PRR: cwnd = ssthresh, as that RFC says).

D-SACK (RFC 2883) and undo: the first SACK block of an ACK is a D-SACK when
it lies below the cumulative ACK or inside the second block (RFC 2883 5).
As Linux does (RFC 3708 3, "undo_retrans"), each congestion event remembers
cwnd and ssthresh from before it and counts the retransmissions sent since;
each D-SACK of a retransmitted range takes one off.  When all of them are
reported as duplicates, every retransmission was spurious: cwnd and ssthresh
go back to their values before the event (``undos``).  D-SACKs also widen
RACK's reordering window.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Final

from .congestion import CongestionController
from .frto import GO_BACK, NEW_DATA, SPURIOUS, Frto
from .prr import Prr
from .rack import Rack
from .sack import Scoreboard
from .segment import FIN, SYN, Segment
from .sentmap import Sent, SentMap
from .seq import seq_ge

# Trace reasons of the retransmissions recovery asks for.
FAST_RETRANSMIT: Final = "fast retransmit (3 duplicate ACKs)"
SACK_FAST_RETRANSMIT: Final = "fast retransmit (SACK recovery)"
PARTIAL_ACK_RETRANSMIT: Final = "fast retransmit (partial ACK)"
RACK_RETRANSMIT: Final = "RACK retransmission"
TLP_PROBE: Final = "TLP probe"
MODES: Final = ("rack", "rfc6675")


def is_duplicate_ack(seg: Segment, *, window: int, snd_wnd: int, outstanding: bool) -> bool:
    """RFC 5681 2: an ACK that acknowledges nothing new (SEG.ACK = SND.UNA, checked
    by the caller) is a duplicate only if it carries no data, SYN or FIN, data is
    outstanding, and it repeats the window (``window``: SEG.WND already scaled)."""
    return not seg.payload and not seg.flags & (SYN | FIN) and outstanding and window == snd_wnd


class LossRecovery:
    """NewReno and SACK-based loss recovery state of one sender (see module doc)."""

    __slots__ = (
        "_delivered",
        "_delivered_bytes",
        "_iss",
        "_prior_cwnd",
        "_prior_ssthresh",
        "_undo_marker",
        "_undo_retrans",
        "cc",
        "dsacks",
        "dupacks",
        "dupthresh",
        "episodes",
        "events",
        "frto",
        "frto_action",
        "high_rxt",
        "in_recovery",
        "iw",
        "limited_transmit",
        "mode",
        "prr",
        "rack",
        "recover",
        "sack",
        "scoreboard",
        "sent",
        "spurious",
        "tlp_dsacked",
        "tlp_end",
        "tlp_episodes",
        "tlp_retrans",
        "undos",
    )

    def __init__(
        self,
        cc: CongestionController,
        *,
        iss: int,
        dupthresh: int = 3,
        limited_transmit: bool = True,
        mode: str = "rack",
        frto: bool = True,
        initial_window: int = 10,
    ) -> None:
        if mode not in MODES:
            raise ValueError(f"unknown recovery {mode!r} (known: {', '.join(MODES)})")
        self.cc = cc  # its ``mss`` is SMSS, kept equal to the TCB's snd_mss
        self.dupthresh = dupthresh  # RFC 5681 / RFC 6675 DupThresh
        self.limited_transmit = limited_transmit  # RFC 3042
        self.mode = mode  # with SACK: RACK-TLP + PRR, or RFC 6675
        self.sack = False  # SACK-permitted was negotiated on the SYN (RFC 2018 2)
        self.dupacks = 0  # consecutive duplicate ACKs
        self.in_recovery = False
        self._iss = iss
        self.recover = iss  # RFC 6582 "recover", a sequence number; ISS: no episode yet
        self.high_rxt = 0  # RFC 6675 HighRxt, as a stream offset
        self.scoreboard = Scoreboard()
        self.sent = SentMap()
        self.rack = Rack()
        self.prr = Prr(cc.mss)
        self._delivered: list[tuple[Sent, bool]] = []  # (range, by SACK) of this ACK
        self._delivered_bytes = 0
        self._undo_marker: int | None = None  # stream offset; None: nothing to undo
        self._undo_retrans = 0
        self._prior_cwnd = 0
        self._prior_ssthresh = 0
        self.frto = Frto(enabled=frto)  # RFC 5682
        self.frto_action: str | None = None  # NEW_DATA or GO_BACK, for the TCB to apply
        self.iw = initial_window  # segments (RFC 4015 4 uses IW)
        self.tlp_end: int | None = None  # RFC 8985 TLP.end_seq, a stream offset
        self.tlp_retrans = False
        self.tlp_dsacked = False  # the probe was reported a duplicate
        self.tlp_episodes = 0  # ``episodes`` when the probe went out
        # Counters for info() and the trace.
        self.episodes = 0  # recovery episodes RACK started
        self.dsacks = 0  # D-SACK blocks received
        self.spurious = 0  # retransmissions a D-SACK showed unnecessary (RFC 3708)
        self.undos = 0
        self.events: list[str] = []  # undo and probe events, for the TCB to trace

    def __repr__(self) -> str:
        mode = ("SACK" if self.sack else "NewReno") + (" recovery" if self.in_recovery else "")
        return f"<LossRecovery {mode} dupacks={self.dupacks} recover={self.recover}>"

    @property
    def racking(self) -> bool:
        """Loss is detected by RACK-TLP (SACK negotiated, mode "rack")."""
        return self.sack and self.mode == "rack"

    @property
    def sack_recovery(self) -> bool:
        """In an episode driven by the scoreboard (RFC 6675) rather than NewReno."""
        return self.in_recovery and self.sack

    @property
    def _lost_threshold(self) -> int:
        """RFC 6675 IsLost: more than (DupThresh - 1) * SMSS bytes SACKed above."""
        return (self.dupthresh - 1) * self.cc.mss

    # ---------------------------------------------------------------- inputs

    def on_transmit(self, start: int, end: int, now: float, retransmission: bool) -> None:
        """Stream bytes [start, end) went on the wire at ``now``."""
        self.sent.record(start, end, now, retransmission)
        if retransmission and self._undo_marker is not None:
            self._undo_retrans += 1  # RFC 3708 3 / Linux undo_retrans
        if self.in_recovery:
            self.prr.sent(end - start)

    def on_sack_blocks(
        self,
        blocks: Iterable[tuple[int, int]],
        una: int,
        high: int,
        *,
        ack: int | None = None,
        snd_nxt: int = 0,
    ) -> bool:
        """Record SACKed ranges lying inside the outstanding data [una, high); the
        first block may be a D-SACK (RFC 2883 5) below ``ack`` (SEG.ACK, as a
        stream offset) or inside the second block.  True if they SACKed bytes
        not SACKed before."""
        blocks = list(blocks)
        newly = False
        ack = una if ack is None else ack
        if blocks:
            s0, e0 = blocks[0]
            inside_second = len(blocks) > 1 and blocks[1][0] <= s0 and e0 <= blocks[1][1]
            if s0 < e0 and (s0 < ack or inside_second):
                self._on_dsack(s0, e0, una, snd_nxt)
                blocks = blocks[1:]
        for start, end in blocks:
            if una <= start < end <= high:  # nonsense is ignored
                self.scoreboard.add(start, end)
                for r in self.sent.sack(start, end):
                    self._delivered.append((r, True))
                    self._delivered_bytes += r.end - r.start
                    newly = True
        return newly

    def _on_dsack(self, start: int, end: int, una: int, snd_nxt: int) -> None:
        """A D-SACK for [start, end): count it against the undo (RFC 3708 3)."""
        self.dsacks += 1
        self.rack.on_dsack(una, snd_nxt)
        if (
            self.tlp_end is not None
            and self.tlp_retrans
            and start < self.tlp_end <= end + self.cc.mss
        ):
            self.tlp_dsacked = True  # RFC 8985 7.4.1: the probe was not needed
        marker = self._undo_marker
        if marker is None or end <= marker or self._undo_retrans <= 0:
            return
        # Below SND.UNA the record is gone: count as Linux does ("dumb counting").
        if start < una or self.sent.is_retransmitted(start, end):
            self.spurious += 1
            self._undo_retrans -= 1

    def _eifel_response(self, acked: int, flight: int) -> None:
        """RFC 4015 4, after F-RTO found the timeout spurious: ssthresh = pipe_prev,
        cwnd = FlightSize + min(bytes_acked, IW); new data goes next."""
        cc = self.cc
        cc.ssthresh = self.frto.pipe_prev
        cc.cwnd = max(flight + min(acked, self.iw * cc.mss), cc.mss)
        self.sent.clear_lost()
        self._undo_marker = None  # undone already: D-SACKs of it change nothing
        self.undos += 1
        self.events.append(f"undo (F-RTO: spurious RTO): cwnd {cc.cwnd}, ssthresh {cc.ssthresh}")
        self.frto_action = NEW_DATA

    def _init_undo(self, una: int) -> None:
        """A congestion event begins: remember what to restore (Linux tcp_init_undo)."""
        self._undo_marker = una
        self._undo_retrans = 0
        self._prior_cwnd = self.cc.cwnd
        self._prior_ssthresh = self.cc.ssthresh

    def _try_undo(self) -> bool:
        """Every retransmission since the event was D-SACKed: restore cwnd and
        ssthresh (Linux tcp_try_undo_dsack / tcp_undo_cwnd_reduction)."""
        if self._undo_marker is None or self._undo_retrans > 0 or not self.spurious:
            return False
        cc = self.cc
        cc.cwnd = max(cc.cwnd, self._prior_cwnd)
        cc.ssthresh = max(cc.ssthresh, self._prior_ssthresh)
        self._undo_marker = None
        self.in_recovery = False
        self.undos += 1
        self.events.append(f"undo (D-SACK): cwnd {cc.cwnd}, ssthresh {cc.ssthresh}")
        return True

    def on_duplicate_ack(
        self, *, snd_una: int, snd_max: int, flight: int, una: int, now: float
    ) -> str | None:
        """A duplicate ACK arrived (``una``: SND.UNA as a stream offset).  Returns the
        reason of a fast retransmission to send now, or None."""
        self.dupacks += 1
        if self.frto.on_duplicate_ack() == GO_BACK:  # RFC 5682 2 step 3a
            self.cc.cwnd = min(self.cc.cwnd, 3 * self.cc.mss)
            self.frto_action = GO_BACK
        # RFC 6582 3.2 step 2: a new episode only once "recover" is acknowledged.
        fresh_episode = seq_ge(snd_una, self.recover) or self.recover == self._iss
        cc, mss = self.cc, self.cc.mss
        if self.racking:
            return None  # RACK decides in after_ack
        if self.sack:
            if self.in_recovery or not fresh_episode:
                return None
            lost = self.scoreboard.lost_boundary(self._lost_threshold)
            if self.dupacks >= self.dupthresh or (lost is not None and lost > una):
                self._begin(snd_max, flight, now, una)  # RFC 6675 5 step 4
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

    def _begin(self, snd_max: int, flight: int, now: float, una: int | None = None) -> None:
        """Enter loss recovery; remember the highest sequence number sent (RFC 6582 3.2)."""
        if una is not None:
            self._init_undo(una)
        self.in_recovery = True
        self.recover = snd_max
        self.cc.on_loss(self.loss_flight(flight), now)  # RFC 5681 3.2 step 2

    def loss_flight(self, flight: int) -> int:
        """The FlightSize a loss response halves (RFC 5681 eq. (4)), at most what
        cwnd admits (cwnd plus RFC 3042's two limited-transmit segments).
        SND.MAX - SND.UNA also counts SACKed bytes above holes an earlier
        episode left; under an AQM that drops all along that is many windows,
        and halving it raised ssthresh episode after episode (a retransmission
        storm).  Linux's tcp_ssthresh uses cwnd alone (RFC 9438 4.6 allows it);
        ns-3 uses cwnd for CUBIC and a pipe that excludes SACKed bytes for NewReno."""
        cap = self.cc.cwnd + (2 * self.cc.mss if self.limited_transmit else 0)
        return min(flight, cap)

    def on_ack(
        self, *, ack: int, acked: int, flight: int, una: int, now: float, srtt: float | None
    ) -> str | None:
        """SND.UNA advanced to ``ack`` (stream offset ``una``) acknowledging ``acked``
        bytes; ``flight`` is FlightSize after the ACK.  Returns the reason of a
        retransmission of the segment at SND.UNA to send now, or None."""
        self.scoreboard.advance(una)
        for r in self.sent.ack(una):
            self._delivered.append((r, False))
            self._delivered_bytes += r.end - r.start
        cc, mss = self.cc, self.cc.mss
        retransmit = None
        verdict = self.frto.on_ack(ack)  # RFC 5682 2 steps 2 and 3
        if verdict == SPURIOUS:
            self._eifel_response(acked, flight)
            self.dupacks = 0
            self.recover = ack  # no loss happened: a new one starts a new episode
            return None
        self.frto_action = verdict
        if self.racking:
            if self.in_recovery and seq_ge(ack, self.recover):
                self.in_recovery = False
                cc.cwnd = max(cc.ssthresh, mss)  # RFC 6937 3.1: on exit, cwnd = ssthresh
                self.rack.recovery_ended()
            elif not self.in_recovery and acked > 0:
                cc.on_ack(acked, now, srtt)
        elif self.in_recovery and self.sack:
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

    def on_rto(
        self,
        *,
        snd_max: int,
        flight: int,
        una: int,
        now: float,
        snd_una: int | None = None,
        first: bool = True,
    ) -> None:
        """The retransmission timer expired with data outstanding (RFC 6298 5.4-5.7);
        ``first``: not a repeated timeout of the same segment."""
        if not self.in_recovery and self._undo_marker is None:
            self._init_undo(una)
        if snd_una is not None:  # RFC 5682 2 step 1
            self.frto.on_rto(
                first=first and not self.in_recovery,  # as Linux: not during recovery
                snd_una=snd_una,
                snd_max=snd_max,
                mss=self.cc.mss,
                flight=flight,
                ssthresh=self.cc.ssthresh,
            )
        self.cc.on_rto(flight, now)  # RFC 5681 3.1 eq. (4), loss window of one segment
        self.sent.mark_all_lost()  # RFC 8985 6.3: go-back-N resends them
        self.tlp_end = None
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

    # ------------------------------------------------------------ RACK-TLP

    def after_ack(
        self,
        *,
        now: float,
        srtt: float | None,
        snd_una: int,
        snd_max: int,
        una: int,
        high: int,
        echoed: float | None = None,
    ) -> float | None:
        """After an ACK (SACK blocks and cumulative ACK taken): D-SACK undo, the
        TLP episode, and RACK loss detection (RFC 8985 6.2).  ``una``/``high``:
        SND.UNA and SND.MAX as stream offsets; ``echoed``: when the segment whose
        TSval the ACK echoes was sent (RFC 7323), if known.  Returns the deadline
        of RACK's reorder timer, or None."""
        delivered, delivered_bytes = self._delivered, self._delivered_bytes
        self._delivered, self._delivered_bytes = [], 0
        self._try_undo()
        if self.tlp_end is not None and una >= self.tlp_end:
            # RFC 8985 7.4.2: a probe that resent data and was not reported a
            # duplicate repaired a loss no recovery saw: one cwnd reduction
            # (as Linux's tcp_process_tlp_ack).
            repaired = self.tlp_retrans and not self.tlp_dsacked
            if repaired and not self.in_recovery and self.episodes == self.tlp_episodes:
                self._init_undo(una)
                self.cc.on_loss(self.loss_flight(high - una), now)
                self.events.append(f"TLP loss recovery: cwnd {self.cc.cwnd}")
            self.tlp_end = None
        if not (self.sack and self.mode == "rack"):  # not self.racking
            return None
        if not delivered and not self.sent.segs and not self.in_recovery:
            return None  # nothing outstanding, nothing new: RACK has nothing to decide
        rack = self.rack
        for r, by_sack in delivered:
            # A SACK's echo is not the SACKed segment's (RFC 7323 4.3): only a
            # cumulative ACK's TSecr tells which transmission arrived.
            rack.delivered(r, now, None if by_sack else echoed)
        mss = self.cc.mss
        reo_wnd = rack.reo_wnd(
            in_recovery=self.in_recovery,
            sacked_segments=self.sent.sacked_bytes // mss,
            dupthresh=self.dupthresh,
            srtt=srtt or 0.0,
        )
        lost, deadline = rack.detect_loss(self.sent, now, reo_wnd)
        for r in lost:
            self.sent.mark_lost(r)
        cc = self.cc
        began = False
        if lost and not self.in_recovery:
            fresh = seq_ge(snd_una, self.recover) or self.recover == self._iss
            if fresh:
                # RFC 8985 6.2 / RFC 5681 3.2: one congestion response per episode.
                self.episodes += 1
                self._init_undo(una)
                self.in_recovery = True
                self.recover = snd_max
                flight = high - una
                cc.on_loss(self.loss_flight(flight), now)
                self.prr.mss = mss
                self.prr.begin(cc.ssthresh, flight)
                began = True
        if self.in_recovery:
            # RFC 6937 3.1: cwnd = pipe + sndcnt (as Linux's tcp_cwnd_reduction);
            # the ACK that starts recovery always releases the first retransmission.
            pipe = self.pipe(una, high)
            sndcnt = self.prr.on_ack(delivered_bytes, pipe)
            cc.cwnd = max(pipe + (max(sndcnt, mss) if began else sndcnt), mss)
        return deadline

    def quiet(self) -> bool:
        """Nothing outstanding is recorded and nothing is pending: ``after_ack``
        would change nothing and return no deadline (the receiver of a bulk
        flow, for every segment it receives)."""
        return (
            not self._delivered
            and not self.sent.segs
            and not self.in_recovery
            and self.tlp_end is None
            and self._undo_marker is None
            and self.frto_action is None
            and not self.events
        )

    def pipe(self, una: int, high: int) -> int:
        """Bytes in flight: outstanding, less SACKed, less lost and not resent."""
        return max(high - una - self.sent.sacked_bytes - self.sent.lost_bytes, 0)

    def retransmit_lost(self, una: int, high: int, resend: Callable[[int, int], None]) -> int:
        """RACK recovery: resend the ranges marked lost, lowest first, while cwnd
        leaves room (RFC 8985 6.3 / RFC 6675 NextSeg rule 1).  Returns the room
        left for new data."""
        mss = self.cc.mss
        for r in self.sent.lost_ranges():
            room = self.cc.cwnd - self.pipe(una, high)
            if room < min(mss, r.end - r.start):
                return room
            start, end = r.start, min(r.end, r.start + mss)
            resend(start, end - start)
        return self.cc.cwnd - self.pipe(una, high)

    def probe_sent(self, snd_max_offset: int, retransmission: bool) -> None:
        """A tail loss probe went out (RFC 8985 7.3)."""
        self.tlp_end = snd_max_offset
        self.tlp_retrans = retransmission
        self.tlp_dsacked = False
        self.tlp_episodes = self.episodes
        self.events.append(
            "TLP probe (" + ("retransmission" if retransmission else "new data") + ")"
        )

    def may_probe(self) -> bool:
        """RFC 8985 7.2: a probe may be scheduled (SACK, RACK, no recovery, none out)."""
        return self.sack and self.mode == "rack" and not self.in_recovery and self.tlp_end is None
