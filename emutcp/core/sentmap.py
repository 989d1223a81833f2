"""The sender's record of every transmitted range: when it left, and its fate.

Theory of operation
-------------------
RACK (RFC 8985) decides loss by time, so the sender must remember, for each
range of the send stream it put on the wire, when it was (last) sent and
whether that was a retransmission; D-SACK undo (RFC 3708, Linux's
``undo_retrans``) needs the retransmitted flag too.  ``SentMap`` is that
record, Linux's retransmission queue without the data (the send buffer keeps
the bytes): a list of ``Sent`` ranges in stream-offset order, covering the
outstanding data from SND.UNA up.

* ``record(start, end, now, retransmission)``: a transmission.  New data is
  appended; a retransmission updates the ranges it covers, split at its
  edges when it does not match them (a smaller MSS, a partial ACK).
* ``sack(start, end)``: a SACK block; returns the ranges newly SACKed.
* ``ack(una)``: the cumulative ACK moved; returns the ranges newly delivered
  (not SACKed before) and forgets everything below ``una``.
* ``mark_lost(seg)``: loss detection's verdict; a later retransmission clears
  it.

It keeps byte counts of SACKed and lost-not-yet-resent ranges, so the bytes
in flight (RFC 8985's and Linux's packets_in_flight, in bytes: outstanding
minus SACKed minus lost, plus retransmitted) cost nothing to compute.
Everything is in stream offsets (see buffers.py), so nothing wraps.
"""

from __future__ import annotations

from bisect import bisect_right


class Sent:
    """One transmitted range [start, end) of the send stream."""

    __slots__ = ("end", "lost", "retrans", "sacked", "start", "time")

    def __init__(self, start: int, end: int, time: float, retrans: bool) -> None:
        self.start = start
        self.end = end
        self.time = time  # when it was last sent
        self.retrans = retrans  # ever retransmitted
        self.sacked = False
        self.lost = False  # marked lost and not resent since

    def __repr__(self) -> str:
        flags = "R" * self.retrans + "S" * self.sacked + "L" * self.lost
        return f"<Sent {self.start}-{self.end} @{self.time:.6f} {flags}>"


class SentMap:
    __slots__ = ("lost_bytes", "sacked_bytes", "segs")

    def __init__(self) -> None:
        self.segs: list[Sent] = []  # stream-offset order, disjoint
        self.sacked_bytes = 0
        self.lost_bytes = 0

    def __len__(self) -> int:
        return len(self.segs)

    @property
    def end(self) -> int:
        return self.segs[-1].end if self.segs else 0

    def clear(self) -> None:
        self.segs.clear()
        self.sacked_bytes = self.lost_bytes = 0

    def _index(self, offset: int) -> int:
        """Index of the range holding ``offset``, splitting it so one starts there."""
        segs = self.segs
        i = bisect_right(segs, offset, key=lambda s: s.start) - 1
        if i < 0:
            return 0
        s = segs[i]
        if s.start == offset or offset >= s.end:
            return i if s.start == offset else i + 1
        tail = Sent(offset, s.end, s.time, s.retrans)
        tail.sacked, tail.lost = s.sacked, s.lost
        s.end = offset
        segs.insert(i + 1, tail)
        return i + 1

    def record(self, start: int, end: int, now: float, retransmission: bool) -> None:
        """Bytes [start, end) were sent at ``now``."""
        segs = self.segs
        if not segs or start >= segs[-1].end:
            if segs and start > segs[-1].end:
                start = segs[-1].end  # cannot happen; keep the map contiguous
            if end > start:
                segs.append(Sent(start, end, now, retransmission))
            return
        top = segs[-1].end
        i = self._index(start)
        if end < top:
            self._index(end)
        while i < len(segs) and segs[i].start < min(end, top):
            s = segs[i]
            s.time = now
            s.retrans = s.retrans or retransmission
            if s.lost:
                s.lost = False
                self.lost_bytes -= s.end - s.start
            i += 1
        if end > top:
            segs.append(Sent(top, end, now, retransmission))

    def sack(self, start: int, end: int) -> list[Sent]:
        """The peer holds [start, end): the ranges it newly SACKs (split at its edges)."""
        segs = self.segs
        if not segs or end <= segs[0].start or start >= segs[-1].end:
            return []
        start = max(start, segs[0].start)
        i = self._index(start)
        if end < segs[-1].end:
            self._index(end)
        out = []
        while i < len(segs) and segs[i].start < end:
            s = segs[i]
            if not s.sacked:
                s.sacked = True
                self.sacked_bytes += s.end - s.start
                if s.lost:
                    s.lost = False
                    self.lost_bytes -= s.end - s.start
                out.append(s)
            i += 1
        return out

    def ack(self, una: int) -> list[Sent]:
        """SND.UNA moved to stream offset ``una``: the ranges delivered by it that
        were not SACKed before, and forget everything below it."""
        segs = self.segs
        k = 0
        out = []
        while k < len(segs) and segs[k].end <= una:
            s = segs[k]
            n = s.end - s.start
            if s.sacked:
                self.sacked_bytes -= n
            else:
                out.append(s)
            if s.lost:
                self.lost_bytes -= n
            k += 1
        del segs[:k]
        if segs and segs[0].start < una:
            s = segs[0]
            cut = una - s.start
            if s.sacked:
                self.sacked_bytes -= cut
            elif s.lost:
                self.lost_bytes -= cut
            if not s.sacked:
                out.append(Sent(s.start, una, s.time, s.retrans))
            s.start = una
        return out

    def mark_lost(self, s: Sent) -> None:
        if not s.lost and not s.sacked:
            s.lost = True
            self.lost_bytes += s.end - s.start

    def mark_all_lost(self) -> None:
        """A retransmission timeout: everything not SACKed is presumed lost."""
        for s in self.segs:
            self.mark_lost(s)

    def clear_lost(self) -> None:
        """The loss was not one after all (a spurious timeout)."""
        for s in self.segs:
            s.lost = False
        self.lost_bytes = 0

    def is_retransmitted(self, start: int, end: int) -> bool:
        """Whether any range overlapping [start, end) was retransmitted."""
        segs = self.segs
        i = max(bisect_right(segs, start, key=lambda s: s.start) - 1, 0)
        while i < len(segs) and segs[i].start < end:
            if segs[i].end > start and segs[i].retrans:
                return True
            i += 1
        return False

    def lost_ranges(self) -> list[Sent]:
        """The ranges marked lost and not resent, lowest first (what to resend)."""
        return [s for s in self.segs if s.lost] if self.lost_bytes else []
