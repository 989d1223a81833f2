"""Queue disciplines: what waits for a link, in what order, and what is dropped or marked.

Theory of operation
-------------------
A ``Qdisc`` sits in front of one direction of a link.  The link calls
``enqueue(pkt, now)`` when a datagram arrives (False: dropped on arrival) and
``dequeue(now)`` whenever the wire is free; ``dequeue`` may drop or CE-mark
packets itself (CoDel decides at the head of the queue).  Every discipline is
pure and seeded: time is an argument, randomness comes from the ``rng`` it is
given, so a seed reproduces a run bit for bit.

Disciplines, by name in ``QDISCS``:

* ``fifo``: drop-tail by packets and/or bytes (what a link did before AQMs);
* ``red``: Random Early Detection (Floyd and Jacobson 1993) with the "gentle"
  ramp (Floyd 2000), averaging the queue on arrival;
* ``codel``: Controlled Delay (RFC 8289), head drop by sojourn time;
* ``fq_codel``: flow queueing with per-flow CoDel and the sparse-flow boost
  (RFC 8290), a deficit round robin over hashed flows;
* ``pie``: Proportional Integral controller Enhanced (RFC 8033), drop
  probability from the queueing delay, updated every ``tupdate``.

ECN (RFC 3168 5): an AQM that decides to signal congestion on a packet whose
ECN field is ECT(0) or ECT(1) sets it to CE instead of dropping it (when the
discipline's ``ecn`` is on); a full queue still drops.

Statistics (``QueueStats``): packets enqueued, dropped by reason, CE-marked,
and every delivered packet's sojourn time (time spent waiting, not counting
its own serialization), with mean and 99th percentile.
"""

from __future__ import annotations

import math
import random
import zlib
from collections import Counter, deque
from collections.abc import Callable, Hashable
from dataclasses import dataclass, field
from typing import Any

# The ECN field (RFC 3168 5): the two low bits of the IP TOS / traffic class.
NOT_ECT, ECT1, ECT0, CE = 0, 1, 2, 3
MTU = 1514  # bytes: the "one MTU" thresholds of CoDel, FQ-CoDel's quantum, PIE


class Packet:
    """One datagram in a queue: its size, ECN field, flow and the caller's context."""

    __slots__ = ("ctx", "ecn", "enqueued", "flow", "size")

    def __init__(self, size: int, *, ecn: int = NOT_ECT, flow: Hashable = None, ctx: Any = None):
        self.size = size
        self.ecn = ecn
        self.flow = flow
        self.ctx = ctx
        self.enqueued = 0.0


@dataclass
class QueueStats:
    enqueued: int = 0
    dequeued: int = 0
    marked: int = 0
    dropped: Counter[str] = field(default_factory=Counter)
    sojourn: list[float] = field(default_factory=list)  # seconds, per delivered packet
    peak_packets: int = 0

    @property
    def drops(self) -> int:
        return sum(self.dropped.values())

    @property
    def sojourn_mean(self) -> float:
        s = self.sojourn
        return sum(s) / len(s) if s else 0.0

    @property
    def sojourn_p99(self) -> float:
        if not self.sojourn:
            return 0.0
        s = sorted(self.sojourn)
        return s[min(len(s) - 1, int(0.99 * len(s)))]

    def summary(self) -> dict[str, float | int]:
        return {
            "enqueued": self.enqueued,
            "dropped": self.drops,
            "marked": self.marked,
            "sojourn_mean": self.sojourn_mean,
            "sojourn_p99": self.sojourn_p99,
        }


class Qdisc:
    """The interface; subclasses implement ``_enqueue`` and ``dequeue``."""

    name = "base"

    def __init__(
        self,
        *,
        limit: int | None = 1000,
        limit_bytes: int | None = None,
        ecn: bool = True,
        rate: float | None = None,
        rng: random.Random | None = None,
    ) -> None:
        if limit is not None and limit < 1:
            raise ValueError(f"{self.name}: limit must be >= 1 packet, got {limit}")
        self.limit = limit
        self.limit_bytes = limit_bytes
        self.ecn = ecn
        self.rate = rate  # bits/s of the link it feeds (RED's idle-time decay)
        self.rng = rng or random.Random(0)
        self.stats = QueueStats()
        self.packets = 0
        self.bytes = 0

    def __len__(self) -> int:
        return self.packets

    def _full(self, size: int) -> bool:
        return (self.limit is not None and self.packets >= self.limit) or (
            self.limit_bytes is not None and self.bytes + size > self.limit_bytes
        )

    def enqueue(self, pkt: Packet, now: float) -> bool:
        """Take ``pkt`` arriving at ``now``; False if it was dropped."""
        pkt.enqueued = now
        if not self._enqueue(pkt, now):
            return False
        self.stats.enqueued += 1
        self.packets += 1
        self.bytes += pkt.size
        if self.packets > self.stats.peak_packets:
            self.stats.peak_packets = self.packets
        return True

    def _enqueue(self, pkt: Packet, now: float) -> bool:
        raise NotImplementedError

    def dequeue(self, now: float) -> Packet | None:
        """The next packet for the wire at ``now`` (None: nothing to send)."""
        raise NotImplementedError

    # helpers for subclasses
    def note_drop(self, pkt: Packet, why: str) -> None:
        self.stats.dropped[why] += 1

    def note_left(self, pkt: Packet) -> None:
        """``pkt`` left the queue (delivered or dropped at the head)."""
        self.packets -= 1
        self.bytes -= pkt.size

    def note_sent(self, pkt: Packet, now: float) -> Packet:
        self.stats.dequeued += 1
        self.stats.sojourn.append(now - pkt.enqueued)
        return pkt

    def signal(self, pkt: Packet) -> bool:
        """Congestion signal for ``pkt``: CE-mark it if it is ECN-capable and
        marking is on (RFC 3168 5); True if marked (keep it), False to drop."""
        if self.ecn and pkt.ecn != NOT_ECT:
            if pkt.ecn != CE:
                pkt.ecn = CE
            self.stats.marked += 1
            return True
        return False


class Fifo(Qdisc):
    """Drop-tail: first in, first out; a full queue drops the arrival."""

    name = "fifo"

    def __init__(self, **kw: Any) -> None:
        super().__init__(**kw)
        self._q: deque[Packet] = deque()

    def _enqueue(self, pkt: Packet, now: float) -> bool:
        if self._full(pkt.size):
            self.note_drop(pkt, "overflow")
            return False
        self._q.append(pkt)
        return True

    def dequeue(self, now: float) -> Packet | None:
        if not self._q:
            return None
        pkt = self._q.popleft()
        self.note_left(pkt)
        return self.note_sent(pkt, now)


class Red(Fifo):
    """Random Early Detection (Floyd and Jacobson 1993), gentle variant (Floyd 2000).

    The average queue (packets) is an EWMA with weight ``w_q`` updated on each
    arrival, decayed over idle periods as if ``m`` small packets had passed.
    Between ``min_th`` and ``max_th`` an arrival is marked with probability
    rising linearly to ``max_p``, spread out by the count since the last mark;
    "gentle" ramps on from ``max_p`` to 1 between ``max_th`` and ``2 max_th``."""

    name = "red"

    def __init__(
        self,
        *,
        min_th: float = 5,
        max_th: float = 15,
        max_p: float = 0.1,
        w_q: float = 0.002,
        gentle: bool = True,
        **kw: Any,
    ) -> None:
        super().__init__(**kw)
        if not 0 < min_th < max_th:
            raise ValueError(f"red: need 0 < min_th < max_th, got {min_th}, {max_th}")
        if not 0 < max_p <= 1 or not 0 < w_q <= 1:
            raise ValueError("red: max_p and w_q must be in (0, 1]")
        self.min_th, self.max_th, self.max_p, self.w_q = min_th, max_th, max_p, w_q
        self.gentle = gentle
        self.avg = 0.0
        self.count = -1
        self._idle_since: float | None = 0.0

    def _enqueue(self, pkt: Packet, now: float) -> bool:
        if self._q:
            self.avg += self.w_q * (len(self._q) - self.avg)
        else:
            # Floyd-Jacobson 1993 sec. 11: decay over the idle time as if m
            # packets of transmission time s had gone by on an empty queue.
            idle = now - self._idle_since if self._idle_since is not None else 0.0
            s = MTU * 8 / self.rate if self.rate else 0.0
            m = idle / s if s > 0 else 0.0
            self.avg *= (1 - self.w_q) ** m if m < 1e6 else 0.0
        if self._full(pkt.size):
            self.count = 0
            self.note_drop(pkt, "overflow")
            return False
        avg, lo, hi = self.avg, self.min_th, self.max_th
        if avg < lo:
            self.count = -1
        elif avg >= (2 * hi if self.gentle else hi):
            self.count = 0  # beyond the ramp: always signal, and drop (Linux "harddrop")
            self.note_drop(pkt, "aqm")
            return False
        else:
            self.count += 1
            if avg < hi:
                pb = self.max_p * (avg - lo) / (hi - lo)
            else:  # gentle: from max_p at max_th to 1 at 2 max_th
                pb = self.max_p + (1 - self.max_p) * (avg - hi) / hi
            pa = pb / (1 - self.count * pb) if self.count * pb < 1 else 1.0
            if self.rng.random() < pa:
                self.count = 0
                if not self.signal(pkt):
                    self.note_drop(pkt, "aqm")
                    return False
        self._q.append(pkt)
        self._idle_since = None
        return True

    def dequeue(self, now: float) -> Packet | None:
        pkt = super().dequeue(now)
        if not self._q:
            self._idle_since = now
        return pkt


class _CodelVars:
    """CoDel's per-queue state (RFC 8289 5) and its dequeue-side decision."""

    __slots__ = ("count", "drop_next", "dropping", "first_above", "lastcount")

    def __init__(self) -> None:
        self.count = 0
        self.lastcount = 0
        self.dropping = False
        self.first_above = 0.0
        self.drop_next = 0.0


def _control_law(t: float, interval: float, count: int) -> float:
    return t + interval / math.sqrt(count)  # RFC 8289 5.5: next drop in interval/sqrt(count)


def codel_dequeue(
    qd: Qdisc,
    v: _CodelVars,
    pop: Callable[[], Packet | None],
    now: float,
    target: float,
    interval: float,
) -> Packet | None:
    """One CoDel dequeue (RFC 8289 5, as Linux's codel_impl.h): drop or mark at
    the head while the sojourn time has stayed above ``target`` for ``interval``."""

    def take() -> tuple[Packet | None, bool]:
        pkt = pop()
        if pkt is None:
            v.first_above = 0.0
            return None, False
        qd.note_left(pkt)
        sojourn = now - pkt.enqueued
        # RFC 8289 5.3: below target, or less than one MTU queued: all is well.
        if sojourn < target or qd.bytes <= MTU:
            v.first_above = 0.0
            return pkt, False
        if v.first_above == 0.0:
            v.first_above = now + interval
            return pkt, False
        return pkt, now >= v.first_above

    pkt, ok_to_drop = take()
    if pkt is None:
        v.dropping = False
        return None
    if v.dropping:
        if not ok_to_drop:
            v.dropping = False  # sojourn fell below target: leave the dropping state
        while v.dropping and now >= v.drop_next:
            v.count += 1
            if qd.signal(pkt):
                v.drop_next = _control_law(v.drop_next, interval, v.count)
                return qd.note_sent(pkt, now)
            qd.note_drop(pkt, "aqm")
            pkt, ok_to_drop = take()
            if pkt is None:
                v.dropping = False
                return None
            if not ok_to_drop:
                v.dropping = False
            else:
                v.drop_next = _control_law(v.drop_next, interval, v.count)
    elif ok_to_drop:
        # RFC 8289 5.4: enter the dropping state with this packet.
        if not qd.signal(pkt):
            qd.note_drop(pkt, "aqm")
            pkt, _ = take()
        v.dropping = True
        # Resume near the last drop rate if we dropped recently (RFC 8289 5.4).
        delta = v.count - v.lastcount
        v.count = delta if delta > 1 and now - v.drop_next < 16 * interval else 1
        v.lastcount = v.count
        v.drop_next = _control_law(now, interval, v.count)
        if pkt is None:
            return None
    return qd.note_sent(pkt, now)


class Codel(Fifo):
    """CoDel (RFC 8289): head drop when the sojourn time stays above ``target``
    (5 ms) for an ``interval`` (100 ms), at a rate rising as sqrt(count)."""

    name = "codel"

    def __init__(self, *, target: float = 0.005, interval: float = 0.1, **kw: Any) -> None:
        super().__init__(**kw)
        if target <= 0 or interval <= 0:
            raise ValueError("codel: target and interval must be > 0")
        self.target, self.interval = target, interval
        self.vars = _CodelVars()

    def _pop(self) -> Packet | None:
        return self._q.popleft() if self._q else None

    def dequeue(self, now: float) -> Packet | None:
        return codel_dequeue(self, self.vars, self._pop, now, self.target, self.interval)


class _Flow:
    __slots__ = ("backlog", "deficit", "listed", "q", "vars")

    def __init__(self) -> None:
        self.q: deque[Packet] = deque()
        self.backlog = 0  # bytes
        self.deficit = 0
        self.vars = _CodelVars()
        self.listed: deque[_Flow] | None = None

    def pop(self) -> Packet | None:
        if not self.q:
            return None
        pkt = self.q.popleft()
        self.backlog -= pkt.size
        return pkt


class FqCodel(Qdisc):
    """FQ-CoDel (RFC 8290): packets hashed by flow into ``flows`` queues, served
    by deficit round robin with ``quantum`` bytes; a flow that becomes active
    goes on the new-flows list and is served first (the sparse-flow boost,
    RFC 8290 4.2); each queue runs CoDel.  When full, the fattest queue loses
    its head (RFC 8290 4.1)."""

    name = "fq_codel"

    def __init__(
        self,
        *,
        target: float = 0.005,
        interval: float = 0.1,
        flows: int = 1024,
        quantum: int = MTU,
        limit: int | None = 10_240,
        **kw: Any,
    ) -> None:
        super().__init__(limit=limit, **kw)
        if target <= 0 or interval <= 0 or flows < 1 or quantum < 1:
            raise ValueError("fq_codel: target, interval, flows and quantum must be > 0")
        self.target, self.interval, self.quantum = target, interval, quantum
        self.nflows = flows
        self._flows: dict[int, _Flow] = {}
        self._new: deque[_Flow] = deque()
        self._old: deque[_Flow] = deque()
        # RFC 8290 4.1.1: the hash is perturbed by a random value (seeded here).
        self._perturb = self.rng.getrandbits(32)

    def _bucket(self, flow: Hashable) -> int:
        return zlib.crc32(repr(flow).encode(), self._perturb) % self.nflows

    def _enqueue(self, pkt: Packet, now: float) -> bool:
        idx = self._bucket(pkt.flow)
        f = self._flows.get(idx)
        if f is None:
            f = self._flows[idx] = _Flow()
        f.q.append(pkt)
        f.backlog += pkt.size
        if f.listed is None:  # RFC 8290 4.1: a newly active flow joins new_flows
            f.deficit = self.quantum
            f.listed = self._new
            self._new.append(f)
        if self._full(pkt.size):
            fat = max(self._flows.values(), key=lambda x: x.backlog)
            victim = fat.pop()
            assert victim is not None
            self.note_drop(victim, "overflow")
            if victim is pkt:
                return False
            self.note_left(victim)
        return True

    def dequeue(self, now: float) -> Packet | None:
        while True:
            if self._new:
                lst = self._new
            elif self._old:
                lst = self._old
            else:
                return None
            f = lst[0]
            if f.deficit <= 0:  # RFC 8290 4.2: used its quantum: to the back of old
                f.deficit += self.quantum
                lst.popleft()
                f.listed = self._old
                self._old.append(f)
                continue
            pkt = codel_dequeue(self, f.vars, f.pop, now, self.target, self.interval)
            if pkt is None:
                lst.popleft()
                # RFC 8290 4.2: an emptied new flow goes to old (so it cannot
                # game the boost); an emptied old flow leaves the lists.
                if lst is self._new and self._old:
                    f.listed = self._old
                    self._old.append(f)
                else:
                    f.listed = None
                continue
            f.deficit -= pkt.size
            return pkt


class Pie(Fifo):
    """PIE (RFC 8033): on arrival, drop (or mark) with probability ``drop_prob``,
    which every ``tupdate`` moves by alpha*(delay - target) + beta*(delay -
    previous delay), scaled down while small (4.2), with a burst allowance
    (4.4).  The queueing delay is the last dequeued packet's sojourn time (the
    timestamp method, as Linux does by default)."""

    name = "pie"

    def __init__(
        self,
        *,
        target: float = 0.015,
        tupdate: float = 0.015,
        alpha: float = 0.125,
        beta: float = 1.25,
        max_burst: float = 0.15,
        mark_ecnth: float = 0.1,
        **kw: Any,
    ) -> None:
        super().__init__(**kw)
        if target <= 0 or tupdate <= 0:
            raise ValueError("pie: target and tupdate must be > 0")
        self.target, self.tupdate, self.alpha, self.beta = target, tupdate, alpha, beta
        self.max_burst, self.mark_ecnth = max_burst, mark_ecnth
        self.drop_prob = 0.0
        self.qdelay = 0.0
        self.qdelay_old = 0.0
        self.burst_allowance = max_burst
        self._next_update: float | None = None

    def _update(self, now: float) -> None:
        """Run the periodic drop-probability update for every ``tupdate`` passed
        (lazily: the model has no timers of its own)."""
        if self._next_update is None:
            self._next_update = now + self.tupdate
            return
        steps = 0
        while now >= self._next_update:
            if steps > 64:  # long idle: the probability has long decayed to 0
                self.drop_prob, self.qdelay, self.qdelay_old = 0.0, 0.0, 0.0
                self.burst_allowance = self.max_burst
                self._next_update = now + self.tupdate
                break
            self._calculate()
            self._next_update += self.tupdate
            steps += 1

    def _calculate(self) -> None:
        qdelay = self.qdelay if self._q else 0.0
        p = self.alpha * (qdelay - self.target) + self.beta * (qdelay - self.qdelay_old)
        dp = self.drop_prob
        # RFC 8033 4.2: auto-tune alpha and beta to the current probability.
        for bound, scale in ((1e-6, 2048), (1e-5, 512), (1e-4, 128), (1e-3, 32), (1e-2, 8)):
            if dp < bound:
                p /= scale
                break
        else:
            if dp < 0.1:
                p /= 2
        if dp >= 0.1 and p > 0.02:
            p = 0.02  # RFC 8033 4.2: no big jumps once the probability is high
        dp += p
        if qdelay == 0 and self.qdelay_old == 0:
            dp *= 0.98  # RFC 8033 4.2: decay while the queue stays empty
        self.drop_prob = min(max(dp, 0.0), 1.0)
        self.burst_allowance = max(0.0, self.burst_allowance - self.tupdate)
        # RFC 8033 4.4: re-arm the burst allowance once things are calm again.
        if self.drop_prob == 0 and qdelay < self.target / 2 and self.qdelay_old < self.target / 2:
            self.burst_allowance = self.max_burst
        self.qdelay_old = qdelay

    def _drop_early(self, pkt: Packet) -> bool:
        # RFC 8033 4.1 / 5.1: no early drop during a burst allowance, with a
        # small queue, or with low delay and low probability.
        if self.burst_allowance > 0 or self.drop_prob == 0:
            return False
        if self.qdelay_old < self.target / 2 and self.drop_prob < 0.2:
            return False
        if self.bytes <= 2 * MTU:
            return False
        return self.rng.random() < self.drop_prob

    def _enqueue(self, pkt: Packet, now: float) -> bool:
        self._update(now)
        if self._full(pkt.size):
            self.note_drop(pkt, "overflow")
            return False
        # RFC 8033 5.1: mark instead of dropping while the probability is moderate.
        if self._drop_early(pkt) and not (self.drop_prob <= self.mark_ecnth and self.signal(pkt)):
            self.note_drop(pkt, "aqm")
            return False
        self._q.append(pkt)
        return True

    def dequeue(self, now: float) -> Packet | None:
        self._update(now)
        pkt = super().dequeue(now)
        self.qdelay = now - pkt.enqueued if pkt is not None else 0.0
        return pkt


QDISCS: dict[str, type[Qdisc]] = {
    "fifo": Fifo,
    "red": Red,
    "codel": Codel,
    "fq_codel": FqCodel,
    "pie": Pie,
}


def make_qdisc(name: str, **params: Any) -> Qdisc:
    """Build the discipline called ``name`` with its parameters."""
    try:
        cls = QDISCS[name]
    except KeyError:
        known = ", ".join(QDISCS)
        raise ValueError(f"unknown qdisc {name!r} (known: {known})") from None
    try:
        return cls(**params)
    except TypeError as e:
        raise ValueError(f"{name}: {e}") from None
