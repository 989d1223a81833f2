"""The sender's SACK scoreboard and the receiver's SACK blocks (RFC 2018, RFC 6675).

Everything here works on stream offsets (see buffers.py), not sequence
numbers, so nothing wraps.

Sender side, ``Scoreboard``: the ranges the peer reported holding beyond the
cumulative ACK, merged and sorted.  RFC 6675 defines from it:

* IsLost(x): more than (DupThresh-1)*SMSS bytes are SACKed above x.  Lost-ness
  is monotone (a lower unSACKed byte has at least as much SACKed above it), so
  ``lost_boundary()`` returns the offset below which every unSACKed byte is
  lost.
* pipe (SetPipe, RFC 6675 4): bytes believed in the network: unSACKed bytes
  not lost, plus retransmitted bytes (below HighRxt) that are not SACKed.
* NextSeg rule 1: the first unSACKed, lost byte above HighRxt.

Receiver side, ``SackReporter``: the out-of-order intervals in the order they
were last changed, the newest first (RFC 2018 4, as Linux keeps them), at
most 4 (3 when timestamps share the option space, as in real TCP), and the
D-SACK of RFC 2883: when a segment brings bytes we already hold, the next ACK
reports the first such duplicate range as its first block (RFC 2883 4 rule
1); if that range lies above RCV.NXT, the second block is the out-of-order
interval holding it (4 rule 2); the rest follow as usual, without repeating
it.  A D-SACK is reported in one ACK only (RFC 2883 4: "only once").
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right, insort


def _start(r: tuple[int, int]) -> int:
    return r[0]


def _end(r: tuple[int, int]) -> int:
    return r[1]


class Scoreboard:
    __slots__ = ("ranges",)

    def __init__(self) -> None:
        self.ranges: list[tuple[int, int]] = []  # sorted, disjoint [start, end)

    def __bool__(self) -> bool:
        return bool(self.ranges)

    def clear(self) -> None:
        self.ranges.clear()

    def add(self, start: int, end: int) -> None:
        """Merge [start, end) in, with every range it overlaps or touches.  The
        ranges are sorted, disjoint and never touch, so their ends are sorted
        too, and the ranges to merge are the run ``[i, j)`` two bisections find
        (a large window in recovery holds hundreds of them)."""
        ranges = self.ranges
        i = bisect_left(ranges, start, key=_end)  # the first that does not end before it
        j = bisect_right(ranges, end, key=_start)  # the first that starts after it
        if i < j:
            merged = (min(start, ranges[i][0]), max(end, ranges[j - 1][1]))
            self.ranges = [*ranges[:i], merged, *ranges[j:]]
        else:
            keep = ranges.copy()
            insort(keep, (start, end))
            self.ranges = keep

    def advance(self, una: int) -> None:
        """The cumulative ACK moved to ``una``: forget what lies below it."""
        self.ranges = [(max(s, una), e) for s, e in self.ranges if e > una]

    def sacked_bytes(self, lo: int = 0, hi: int | None = None) -> int:
        total = 0
        for s, e in self.ranges:
            s, e = max(s, lo), e if hi is None else min(e, hi)
            if e > s:
                total += e - s
        return total

    def is_sacked(self, offset: int) -> tuple[int, int] | None:
        for s, e in self.ranges:
            if s <= offset < e:
                return s, e
        return None

    def next_sacked_start(self, offset: int) -> int | None:
        for s, _ in self.ranges:
            if s > offset:
                return s
        return None

    def lost_boundary(self, threshold: int) -> int | None:
        """Offset below which unSACKed bytes count as lost (RFC 6675 IsLost)."""
        above = 0
        for s, e in reversed(self.ranges):
            if above + (e - s) > threshold:
                return e - (threshold - above)
            above += e - s
        return None

    def pipe(self, una: int, high: int, high_rxt: int, threshold: int) -> int:
        """RFC 6675 SetPipe over the outstanding bytes [una, high)."""
        outstanding = high - una
        sacked = self.sacked_bytes(una, high)
        lost_edge = self.lost_boundary(threshold)
        lost = 0
        if lost_edge is not None and lost_edge > una:
            lost_edge = min(lost_edge, high)
            lost = (lost_edge - una) - self.sacked_bytes(una, lost_edge)
        retransmitted = 0
        if high_rxt > una:
            retransmitted = (high_rxt - una) - self.sacked_bytes(una, high_rxt)
        return outstanding - sacked - lost + retransmitted

    def next_lost_hole(
        self, una: int, high_rxt: int, threshold: int, mss: int
    ) -> tuple[int, int] | None:
        """NextSeg rule 1: (offset, length) of the next lost range to resend, or None."""
        edge = self.lost_boundary(threshold)
        x = max(una, high_rxt)
        while edge is not None and x < edge:
            r = self.is_sacked(x)
            if r is not None:
                x = r[1]
                continue
            stop = self.next_sacked_start(x)
            end = min(x + mss, edge if stop is None else min(stop, edge))
            return (x, end - x) if end > x else None
        return None


def sack_blocks(
    ooo_ranges: list[tuple[int, int]], recent: int | None, limit: int
) -> list[tuple[int, int]]:
    """Out-of-order ranges to report, the one containing ``recent`` first."""
    if not ooo_ranges:
        return []
    first = [r for r in ooo_ranges if recent is not None and r[0] <= recent < r[1]]
    rest = sorted((r for r in ooo_ranges if r not in first), reverse=True)
    return (first + rest)[:limit]


class SackReporter:
    """The receiver's SACK bookkeeping: recency of the out-of-order intervals and
    the pending D-SACK (see module doc).  Works on receive-stream offsets."""

    __slots__ = ("dsack", "enabled", "recent")

    RECENT = 8  # arrivals remembered; more than the 4 blocks that fit

    def __init__(self, *, dsack: bool = True) -> None:
        self.enabled = dsack  # RFC 2883 D-SACK reporting (Linux net.ipv4.tcp_dsack)
        self.dsack: tuple[int, int] | None = None  # duplicate range to report once
        self.recent: list[int] = []  # offsets of recent out-of-order arrivals, newest first

    def arrived(self, offset: int) -> None:
        """An out-of-order piece landed at ``offset`` (RFC 2018 4: report it first)."""
        rec = self.recent
        rec.insert(0, offset)
        del rec[self.RECENT :]

    def duplicate(self, start: int, end: int) -> None:
        """Bytes [start, end) arrived a second time; the first such range of a
        segment is the one reported (RFC 2883 4.2.2, example 5)."""
        if self.enabled and end > start and self.dsack is None:
            self.dsack = (start, end)

    def blocks(self, ooo_ranges: list[tuple[int, int]], limit: int) -> list[tuple[int, int]]:
        """The blocks of the next ACK, D-SACK first; consumes the D-SACK.

        ``ooo_ranges`` are sorted and disjoint.  The order is: the ranges holding
        the recent arrivals, the newest first, then the others from the highest
        down; only the first ``limit`` are built (a receiver in a long loss
        episode holds hundreds of ranges, and 3 or 4 blocks fit)."""
        recent: list[tuple[int, int]] = []
        for off in self.recent:
            r = _holding(ooo_ranges, off)
            if r is not None and r not in recent:
                recent.append(r)
        out: list[tuple[int, int]] = []
        holder = None
        d, self.dsack = self.dsack, None
        if d is not None:
            out.append(d)  # RFC 2883 4 rule 1
            holder = _holding(ooo_ranges, d[0])
            if holder is not None and d[1] <= holder[1]:  # RFC 2883 4 rule 2
                out.append(holder)
            else:
                holder = None
        for r in recent:
            if len(out) >= limit:
                return out[:limit]
            if r != holder:
                out.append(r)
        for r in reversed(ooo_ranges):
            if len(out) >= limit:
                break
            if r != holder and r not in recent:
                out.append(r)
        return out[:limit]


def _holding(ranges: list[tuple[int, int]], offset: int) -> tuple[int, int] | None:
    """The range of the sorted, disjoint ``ranges`` that holds ``offset``, or None."""
    i = bisect_right(ranges, offset, key=_start) - 1
    if i >= 0 and offset < ranges[i][1]:
        return ranges[i]
    return None
