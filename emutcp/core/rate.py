"""Delivery-rate estimation (draft-cheng-iccrg-delivery-rate-estimation).

Theory of operation
-------------------
BBR (and anything else that wants to know how fast the path delivers) asks
for one *rate sample* per ACK: how much data was delivered over how long.
The estimator keeps, for every transmission still in flight, a record keyed
by its range of stream offsets ``[start, end)``: when it was sent and how far
delivery had got at that moment (``delivered``, ``delivered_time``,
``first_sent_time``).  When an ACK delivers a record (cumulatively or by
SACK), the sample spans from that record's snapshot to now; the newest
delivered record of the ACK defines the sample (draft section 3.3).  Its
interval is the longer of the send and the ACK elapsed times, which keeps ACK
compression from inflating the rate (3.3, "UpdateRateSample").

Application-limited periods are marked (3.4): a sample whose packet went out
while the sender had nothing to send is flagged ``is_app_limited`` so the
bandwidth filter can ignore a low value.

The records are self-contained (this module knows nothing of the TCB); the
TCB reports sends with ``on_send`` and deliveries with ``on_ack``, all in
stream offsets, which never wrap.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right


class _Sent:
    """One transmission's record: C's clocks when it was sent (draft 3.2).

    _Sent and RateSample are plain classes for the compiled core (segment.py)."""

    __slots__ = (
        "delivered",
        "delivered_time",
        "end",
        "first_sent_time",
        "is_app_limited",
        "retransmitted",
        "sent_time",
    )

    def __init__(
        self,
        end: int,
        sent_time: float,
        delivered: int,  # C.delivered when it was sent
        delivered_time: float,  # C.delivered_time when it was sent
        first_sent_time: float,  # C.first_sent_time when it was sent
        is_app_limited: bool,
        retransmitted: bool,
    ) -> None:
        self.end = end
        self.sent_time = sent_time
        self.delivered = delivered
        self.delivered_time = delivered_time
        self.first_sent_time = first_sent_time
        self.is_app_limited = is_app_limited
        self.retransmitted = retransmitted

    def ending_at(self, end: int) -> _Sent:
        """This record, cut to end at ``end``."""
        return _Sent(
            end,
            self.sent_time,
            self.delivered,
            self.delivered_time,
            self.first_sent_time,
            self.is_app_limited,
            self.retransmitted,
        )


class RateSample:
    """One ACK's delivery-rate sample (draft section 3.1, "rs")."""

    __slots__ = (
        "delivered",
        "delivery_rate",
        "interval",
        "is_app_limited",
        "newly_delivered",
        "prior_delivered",
        "rtt",
        "total_delivered",
    )

    def __init__(
        self,
        delivery_rate: float = 0.0,  # bytes/s; 0 when the sample is not valid
        interval: float = 0.0,  # seconds
        delivered: int = 0,  # bytes delivered over the interval
        prior_delivered: int = 0,  # C.delivered when the newest delivered record was sent
        is_app_limited: bool = False,
        rtt: float | None = None,  # now minus the send time of the newest delivered record
        newly_delivered: int = 0,  # bytes this ACK delivered
        total_delivered: int = 0,  # C.delivered after this ACK
    ) -> None:
        self.delivery_rate = delivery_rate
        self.interval = interval
        self.delivered = delivered
        self.prior_delivered = prior_delivered
        self.is_app_limited = is_app_limited
        self.rtt = rtt
        self.newly_delivered = newly_delivered
        self.total_delivered = total_delivered

    def __repr__(self) -> str:
        return (
            f"RateSample(delivery_rate={self.delivery_rate!r}, interval={self.interval!r}, "
            f"delivered={self.delivered}, rtt={self.rtt!r}, "
            f"is_app_limited={self.is_app_limited})"
        )


class DeliveryRateEstimator:
    """Per-connection state C and per-transmission records (see module doc)."""

    __slots__ = ("_records", "_starts", "app_limited", "delivered", "delivered_time", "first_sent")

    def __init__(self) -> None:
        self.delivered = 0  # C.delivered: bytes delivered so far
        self.delivered_time = 0.0  # C.delivered_time
        self.first_sent = 0.0  # C.first_sent_time
        self.app_limited = 0  # C.app_limited: delivered mark ending the app-limited phase
        self._starts: list[int] = []  # sorted starts of the records
        self._records: dict[int, _Sent] = {}

    def __len__(self) -> int:
        return len(self._starts)

    def on_send(self, start: int, end: int, now: float, in_flight: int) -> None:
        """Bytes [start, end) are (re)transmitted at ``now``; ``in_flight`` is what
        was in the network before this transmission (3.2, "OnPacketSent")."""
        if in_flight <= 0 and not self._starts:
            # Nothing in flight: the sample's clocks start now.
            self.first_sent = self.delivered_time = now
        retransmitted = self._remove(start, end)
        rec = _Sent(
            end,
            now,
            self.delivered,
            self.delivered_time,
            self.first_sent,
            self.app_limited != 0,
            retransmitted,
        )
        i = bisect_left(self._starts, start)
        self._starts.insert(i, start)
        self._records[start] = rec

    def mark_app_limited(self, in_flight: int) -> None:
        """The sender ran out of data with room in cwnd (3.4): samples up to the
        delivery of what is in flight now are application-limited."""
        self.app_limited = max(self.delivered + in_flight, 1)

    def on_ack(self, una: int, sacked: list[tuple[int, int]], now: float) -> RateSample | None:
        """An ACK moved SND.UNA to stream offset ``una`` and SACKed ``sacked``;
        returns the rate sample, or None if it delivered nothing."""
        newest: _Sent | None = None
        newly = 0
        starts, records = self._starts, self._records
        # Cumulatively acknowledged records: every one starting below una.
        k = bisect_left(starts, una)
        done = starts[:k]
        del starts[:k]
        for s in done:
            rec = records.pop(s)
            if rec.end > una:  # partly acknowledged: the rest stays in flight
                records[una] = rec
                starts.insert(0, una)
            newly += min(rec.end, una) - s
            newest = self._newest(newest, rec)
        # SACKed records that lie wholly inside a block.
        for lo, hi in sacked:
            i = bisect_left(starts, lo)
            while i < len(starts) and records[starts[i]].end <= hi:
                s = starts.pop(i)
                rec = records.pop(s)
                newly += rec.end - s
                newest = self._newest(newest, rec)
        if newest is None:
            return None
        self.delivered += newly
        self.delivered_time = now
        self.first_sent = newest.sent_time  # 3.3: the next sample's send interval starts here
        if self.app_limited and self.delivered > self.app_limited:
            self.app_limited = 0  # 3.4: the app-limited bubble has been delivered
        rs = RateSample(
            prior_delivered=newest.delivered,
            is_app_limited=newest.is_app_limited,
            rtt=None if newest.retransmitted else now - newest.sent_time,
            newly_delivered=newly,
            total_delivered=self.delivered,
        )
        send_elapsed = newest.sent_time - newest.first_sent_time
        ack_elapsed = now - newest.delivered_time
        rs.interval = max(send_elapsed, ack_elapsed)  # 3.3: guard against ACK compression
        rs.delivered = self.delivered - newest.delivered
        if rs.interval > 0:
            rs.delivery_rate = rs.delivered / rs.interval
        return rs

    @staticmethod
    def _newest(best: _Sent | None, rec: _Sent) -> _Sent:
        """3.3: the sample follows the most recently sent of the delivered records."""
        if best is None or rec.delivered > best.delivered or rec.sent_time > best.sent_time:
            return rec
        return best

    def _remove(self, start: int, end: int) -> bool:
        """Drop (or trim) records overlapping [start, end); True if any existed
        (the new transmission is then a retransmission)."""
        starts, records = self._starts, self._records
        i = bisect_right(starts, start) - 1
        if i < 0:
            i = 0
        found = False
        while i < len(starts) and starts[i] < end:
            s = starts[i]
            rec = records[s]
            if rec.end <= start:
                i += 1
                continue
            found = True
            del starts[i]
            del records[s]
            if s < start:  # keep the part before
                records[s] = rec.ending_at(start)
                starts.insert(i, s)
                i += 1
            if rec.end > end:  # keep the part after
                records[end] = rec
                starts.insert(i, end)
                i += 1
        return found
