"""The link model: what one direction of a link does to each datagram.

Theory of operation
-------------------
A ``Link`` is pure and seeded: ``plan(data, now)`` takes a datagram and the
time it was sent and returns the deliveries it causes, ``[(time, Delivery)]``
(none if it is lost).  It draws every random choice from its own
``random.Random`` and reads no clock, so the emulated network, the impaired
UDP transport and the relay share it and a seed reproduces a run bit for bit.
It knows nothing of TCP: it moves bytes.

In order, a datagram may be: dropped by a script (``drop_nth``, counting
every datagram from 0; or ``drop``, counting only datagrams that carry data
from 1, as the Link's ``is_data`` tells, which the layer that knows the wire format
supplies), an outage,
the MTU, random loss (Bernoulli or Gilbert-Elliott bursts) or a full
drop-tail queue; then serialized at ``rate`` behind the datagrams before it
(the queue), duplicated, corrupted (bit flips), truncated, delayed by
``delay`` plus jitter, and possibly held back for reordering.

Rate and queue: with ``rate`` (bits/s) each datagram occupies the link for
``8*len/rate`` seconds after the previous one (serialization delay); those
waiting form the queue, bounded by ``queue`` packets and/or ``queue_bytes``.
Jitter: each datagram gets ``delay + uniform(-jitter, +jitter)`` (never below
zero).  Unlike netem, jitter does not reorder by default (delivery times are
kept monotonic per link), because a real queue does not reorder either; set
``jitter_reorders=True`` for netem's behaviour.  Reordering proper is
``reorder``: such a datagram is held until ``reorder_gap`` later datagrams of
the same link have left (or ``delay + 50 ms`` passed), then delivered.

Queue disciplines: without ``qdisc`` the queue is drop-tail and computed in
closed form as each datagram is planned (the fast path, and all that
``plan`` needs; ``plan_simple`` is ``plan`` in one call for a link whose
``simple`` says it has no impairment but loss and an MTU).  With ``qdisc``
(``"fifo"``, ``"red"``, ``"codel"``, ``"fq_codel"``, ``"pie"``: ``qdisc.py``)
the link is event-driven: ``send`` enqueues, and the wire pulls the next
packet from the discipline whenever it is free, through the ``Scheduler``
handed to ``attach``.  Either way the ECN field of a datagram rides beside
it in its ``Delivery`` (an AQM may set it to CE), and ``queue_stats`` holds
the queue's statistics.
"""

from __future__ import annotations

import random
from collections import Counter, deque
from collections.abc import Callable, Hashable
from dataclasses import dataclass, field
from functools import partial
from typing import Any

# The profile is plain data, kept in its own module: it stays interpreted in the
# compiled build (docs/compiled.md), so bad values get its ValueErrors, not a
# compiled constructor's TypeError.  Re-exported here, where callers import it.
from .profile import PROFILE_FIELDS as PROFILE_FIELDS
from .profile import GilbertElliott as GilbertElliott
from .profile import LinkProfile as LinkProfile
from .profile import validate_drops as validate_drops
from .qdisc import NOT_ECT, Packet, QueueStats
from .scheduler import Scheduler

# A datagram as a link sees it: bytes, or an object with len() standing for
# them (the simulator's WireSegment, sim/wire.py); only corruption and
# truncation need the bytes themselves.  Any, not bytes, so that compiled code
# (mypyc) does not check the type at each call.
Datagram = Any


@dataclass
class LinkStats:
    sent: int = 0
    delivered: int = 0
    bytes_delivered: int = 0
    duplicated: int = 0
    corrupted: int = 0
    truncated: int = 0
    reordered: int = 0
    data_packets: int = 0  # datagrams ``is_data`` recognised (for ``drop``)
    peak_queue: int = 0
    dropped: Counter[str] = field(default_factory=Counter)


class Link:
    """One direction of a link, with its own RNG, queue and counters."""

    def __init__(
        self,
        src: str,
        dst: str,
        profile: LinkProfile,
        rng: random.Random,
        *,
        is_data: Callable[[Datagram], bool] | None = None,
    ) -> None:
        self.src, self.dst = src, dst
        self._held: list[list[Any]] = []  # (see below; the profile setter reads it)
        self.simple = False  # plan_simple models this link (kept by the profile setter)
        self._simple_profile = False
        self._profile = profile
        self.profile = profile  # sets ``simple`` (see plan_simple)
        self.is_data = is_data  # does a datagram carry data? (for ``drop``)
        self.rng = rng
        self.stats = LinkStats()
        self._busy_until = 0.0
        self._queue: deque[tuple[float, int]] = deque()  # (departure time, size)
        self._queued_bytes = 0
        self._last_delivery = 0.0
        self._bad_state = False
        # Held for reordering: [datagrams still to pass it, its Delivery, its time].
        self._held = []
        self.qdisc = (
            profile.make_qdisc(random.Random(rng.getrandbits(64))) if profile.qdisc else None
        )
        self._queue_stats = QueueStats()  # the closed-form queue's (no qdisc)
        self._scheduler: Scheduler | None = None
        self._on_delivery: Callable[[Link, Delivery, Any], None] | None = None
        self._wire_busy = False

    @property
    def profile(self) -> LinkProfile:
        return self._profile

    @profile.setter
    def profile(self, profile: LinkProfile) -> None:
        self._profile = profile
        self._simple_profile = _is_simple(profile)
        self.simple = self._simple_profile and not self._held

    @property
    def queue_stats(self) -> QueueStats:
        return self.qdisc.stats if self.qdisc is not None else self._queue_stats

    @property
    def drops(self) -> int:
        """Datagrams this link lost, for any reason (impairments and queue)."""
        lost = sum(self.stats.dropped.values())
        return lost + self.qdisc.stats.drops if self.qdisc is not None else lost

    def _lost(self) -> bool:
        p = self._profile
        if p.burst is not None:
            b = p.burst
            if self._bad_state:
                self._bad_state = self.rng.random() >= b.r
            else:
                self._bad_state = self.rng.random() < b.p
            if self.rng.random() < (b.loss_bad if self._bad_state else b.loss_good):
                return True
        return p.loss > 0 and self.rng.random() < p.loss

    def _corrupt(self, data: bytes) -> bytes:
        buf = bytearray(data)
        for _ in range(self.rng.randint(1, 3)):
            bit = self.rng.randrange(len(buf) * 8)
            buf[bit // 8] ^= 1 << (bit % 8)
        return bytes(buf)

    def _dropped_before_queue(self, data: Datagram, now: float) -> bool:
        """Count ``data`` as sent; True if a script, an outage, the MTU or random
        loss drops it before it reaches the queue."""
        p = self._profile
        st = self.stats
        st.sent += 1
        if st.sent - 1 in p.drop_nth:
            st.dropped["scripted"] += 1
            return True
        if p.drop:
            if self.is_data is None:
                raise ValueError("LinkProfile.drop needs a Link given is_data")
            if self.is_data(data):
                st.data_packets += 1
                if st.data_packets in p.drop:
                    st.dropped["scripted"] += 1
                    return True
        for start, end in p.outages:
            if start <= now < end:
                st.dropped["outage"] += 1
                return True
        if p.mtu is not None and len(data) > p.mtu:
            st.dropped["mtu"] += 1
            return True
        if self._lost():
            st.dropped["loss"] += 1
            return True
        return False

    def fate(self, data: Datagram, now: float) -> list[tuple[float, Datagram]]:
        """Decide what becomes of ``data`` sent at ``now``: [(delivery time, bytes)]."""
        p = self._profile
        st = self.stats
        if self._dropped_before_queue(data, now):
            return []
        departure = now
        if p.rate is not None:
            q = self._queue
            while q and q[0][0] <= now:
                self._queued_bytes -= q.popleft()[1]
            qs = self._queue_stats
            if (p.queue is not None and len(q) >= p.queue) or (
                p.queue_bytes is not None and self._queued_bytes + len(data) > p.queue_bytes
            ):
                st.dropped["queue"] += 1
                qs.dropped["overflow"] += 1
                return []
            start = max(now, self._busy_until)
            departure = start + len(data) * 8 / p.rate
            self._busy_until = departure
            q.append((departure, len(data)))
            self._queued_bytes += len(data)
            qs.enqueued += 1
            qs.sojourn.append(start - now)
            if len(q) > st.peak_queue:
                st.peak_queue = qs.peak_packets = len(q)
        return self._after_queue(data, departure)

    def _after_queue(self, data: Datagram, departure: float) -> list[tuple[float, Datagram]]:
        """What happens on the wire after the queue: duplication, corruption,
        truncation, delay and jitter: [(delivery time, bytes)]."""
        p = self._profile
        st = self.stats
        copies = 2 if p.duplicate and self.rng.random() < p.duplicate else 1
        if copies == 2:
            st.duplicated += 1
        out = []
        for _ in range(copies):
            payload = data
            if p.corrupt and self.rng.random() < p.corrupt:
                payload = self._corrupt(payload)
                st.corrupted += 1
            if p.truncate and self.rng.random() < p.truncate and len(payload) > 1:
                payload = payload[: self.rng.randrange(1, len(payload))]
                st.truncated += 1
            delay = p.delay
            if p.jitter:
                delay = max(0.0, delay + self.rng.uniform(-p.jitter, p.jitter))
            when = departure + delay
            if not p.jitter_reorders:
                when = max(when, self._last_delivery)
                self._last_delivery = when
            out.append((when, payload))
        return out

    def _take_reorder(self) -> bool:
        p = self._profile
        if p.reorder and self.rng.random() < p.reorder:
            self.stats.reordered += 1
            return True
        return False

    def plan(self, data: Datagram, now: float, ecn: int = NOT_ECT) -> list[tuple[float, Delivery]]:
        """Everything to deliver because ``data`` was sent at ``now``: its copies
        (held back if chosen for reordering) and held datagrams now released."""
        fates = self.fate(data, now)
        if not fates:
            return []
        return self._release(fates, now, ecn)

    def plan_simple(
        self, data: Datagram, size: int, now: float, ecn: int = NOT_ECT
    ) -> tuple[float, Delivery] | None:
        """``plan`` for a link whose ``simple`` is True, in one call: ``data``
        of ``size`` bytes sent at ``now`` is lost (None) or delivered once.

        ``simple``: no queue discipline, script, outage, burst loss, jitter,
        duplication, corruption, truncation or reordering, and nothing held
        back.  What remains (MTU, Bernoulli loss, the closed-form drop-tail
        queue, delay) is ``fate``, ``_after_queue`` and ``_release`` with the
        branches that cannot be taken left out: the same RNG draws, counters
        and times."""
        p = self._profile
        st = self.stats
        st.sent += 1
        if p.mtu is not None and size > p.mtu:
            st.dropped["mtu"] += 1
            return None
        loss = p.loss
        if loss > 0 and self.rng.random() < loss:
            st.dropped["loss"] += 1
            return None
        departure = now
        rate = p.rate
        if rate is not None:
            q = self._queue
            while q and q[0][0] <= now:
                self._queued_bytes -= q.popleft()[1]
            qs = self._queue_stats
            if (p.queue is not None and len(q) >= p.queue) or (
                p.queue_bytes is not None and self._queued_bytes + size > p.queue_bytes
            ):
                st.dropped["queue"] += 1
                qs.dropped["overflow"] += 1
                return None
            start = max(now, self._busy_until)
            departure = start + size * 8 / rate
            self._busy_until = departure
            q.append((departure, size))
            self._queued_bytes += size
            qs.enqueued += 1
            qs.sojourn.append(start - now)
            if len(q) > st.peak_queue:
                st.peak_queue = qs.peak_packets = len(q)
        when = departure + p.delay
        if not p.jitter_reorders:
            if when < self._last_delivery:
                when = self._last_delivery
            self._last_delivery = when
        return when, Delivery(data, ecn, size)

    def _release(
        self, fates: list[tuple[float, Datagram]], now: float, ecn: int
    ) -> list[tuple[float, Delivery]]:
        out: list[tuple[float, Delivery]] = []
        still = []
        for entry in self._held:  # one more datagram has passed each held one
            entry[0] -= 1
            if entry[0] <= 0:
                # Right behind the datagram that passed it last (behind its queueing
                # delay too, else a rate-limited link would not reorder at all).
                out.append((max(entry[2], fates[0][0]), entry[1]))
            else:
                still.append(entry)
        self._held = still
        if not still and self._simple_profile:
            self.simple = True  # the last held datagram has left
        for when, payload in fates:
            d = Delivery(payload, ecn)
            if self._take_reorder():
                self._held.append([self._profile.reorder_gap, d, when])
                out.append((when + self._profile.delay + 0.05, d))  # fallback release
            else:
                out.append((when, d))
        return out

    def delivered(self, d: Delivery) -> bool:
        """Mark ``d`` delivered; False if it already was (a held datagram's twin entry)."""
        if d.done:
            return False
        d.done = True
        if self._held:
            self._held = [e for e in self._held if e[1] is not d]
            if not self._held and self._simple_profile:
                self.simple = True  # the last held datagram has left
        st = self.stats
        st.delivered += 1
        st.bytes_delivered += d.size
        return True

    # ------------------------------------------------- event-driven operation

    def attach(
        self, scheduler: Scheduler, on_delivery: Callable[[Link, Delivery, Any], None]
    ) -> None:
        """Drive this link with ``scheduler``; each arrival at the far end calls
        ``on_delivery(link, delivery, ctx)`` with the ``ctx`` given to ``send``."""
        self._scheduler = scheduler
        self._on_delivery = on_delivery

    def send(
        self,
        data: Datagram,
        now: float,
        *,
        ecn: int = NOT_ECT,
        flow: Hashable = None,
        ctx: Any = None,
    ) -> None:
        """Put ``data`` on this link at ``now`` (``flow`` keys a flow-queueing
        discipline); deliveries follow through the attached scheduler."""
        sched, deliver = self._scheduler, self._on_delivery
        assert sched is not None and deliver is not None, "attach() the link first"
        qd = self.qdisc
        if qd is None:
            for when, d in self.plan(data, now, ecn):
                sched.call_at(when, partial(deliver, self, d, ctx))
            return
        st = self.stats
        if self._dropped_before_queue(data, now):
            return
        if qd.enqueue(Packet(len(data), ecn=ecn, flow=flow, ctx=(data, ctx)), now):
            st.peak_queue = max(st.peak_queue, len(qd))
            if not self._wire_busy:
                self._next_on_wire(now)

    def _next_on_wire(self, now: float) -> None:
        """The wire is free at ``now``: serialize the discipline's next packet."""
        assert self.qdisc is not None and self._scheduler is not None
        pkt = self.qdisc.dequeue(now)
        if pkt is None:
            self._wire_busy = False
            return
        self._wire_busy = True
        rate = self._profile.rate
        done = now + pkt.size * 8 / rate if rate else now
        self._scheduler.call_at(done, partial(self._off_wire, pkt, done))

    def _off_wire(self, pkt: Packet, now: float) -> None:
        data, ctx = pkt.ctx
        deliver = self._on_delivery
        assert deliver is not None and self._scheduler is not None
        fates = self._after_queue(data, now)
        for when, d in self._release(fates, now, pkt.ecn):
            self._scheduler.call_at(when, partial(deliver, self, d, ctx))
        self._next_on_wire(now)


def _is_simple(p: LinkProfile) -> bool:
    """Whether ``plan_simple`` models ``p`` completely (see there)."""
    return (
        p.qdisc is None
        and not p.drop_nth
        and not p.drop
        and not p.outages
        and p.burst is None
        and not p.jitter
        and not p.duplicate
        and not p.corrupt
        and not p.truncate
        and not p.reorder
    )


class Delivery:
    """One datagram on its way: its payload, ECN field and size (``len(payload)``
    unless given), and whether it has arrived."""

    __slots__ = ("done", "ecn", "payload", "size")

    def __init__(self, payload: Datagram, ecn: int = NOT_ECT, size: int = -1) -> None:
        self.payload = payload
        self.ecn = ecn
        self.size = len(payload) if size < 0 else size
        self.done = False
