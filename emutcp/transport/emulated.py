"""An emulated network: hosts joined by impaired links, in (virtual) trio time.

Theory of operation
-------------------
``EmulatedNetwork(seed)`` holds hosts (``add_host``) and directed links
(``add_link`` makes both directions).  A host sends a datagram with
``transmit(src, dst, data)``; the link's ``LinkProfile`` decides its fate with
the link's own seeded ``random.Random``: lost (Bernoulli or Gilbert-Elliott),
dropped by an outage or a full drop-tail queue, corrupted (bit flips),
truncated, duplicated, held back for reordering; then it is scheduled for
delivery at ``departure + delay + jitter``.  One scheduler task per network
(a trio system task, started on first use) sleeps until the earliest
delivery and hands datagrams to the destination host, which queues them on
the emulated UDP socket bound to that port (or answers with the RST that
RFC 9293 3.10.7.1 prescribes when nothing is bound there, like a kernel).

Time is ``trio.current_time()``: under ``trio.testing.MockClock(
autojump_threshold=0)`` a 60-second transfer runs as fast as the CPU allows.
Nothing here touches the real network.

Rate and queue: with ``rate`` (bits/s) each datagram occupies the link for
``8*len/rate`` seconds after the previous one (serialization delay); those
waiting form the queue, bounded by ``queue`` packets and/or ``queue_bytes``.
Jitter: each datagram gets ``delay + uniform(-jitter, +jitter)`` (never below
zero).  Unlike netem, jitter does not reorder by default (delivery times are
kept monotonic per link), because a real queue does not reorder either; set
``jitter_reorders=True`` for netem's behaviour.  Reordering proper is
``reorder``: such a datagram is held until ``reorder_gap`` later datagrams of
the same link have left (or ``delay + 50 ms`` passed), then delivered.
"""

from __future__ import annotations

import itertools
import random
from collections import Counter, deque
from dataclasses import dataclass, field, fields

import trio

from ..core.config import Config
from ..core.mux import closed_port_reply
from ..core.segment import MalformedSegment, decode_segment, encode_segment
from ..host import Host
from .timeline import Timeline

Address = tuple[str, int]


@dataclass(frozen=True, slots=True, kw_only=True)
class GilbertElliott:
    """Two-state burst loss: p = P(good->bad), r = P(bad->good) per datagram."""

    p: float
    r: float
    loss_good: float = 0.0
    loss_bad: float = 1.0

    @property
    def average_loss(self) -> float:
        bad = self.p / (self.p + self.r)
        return bad * self.loss_bad + (1 - bad) * self.loss_good


@dataclass(frozen=True, slots=True, kw_only=True)
class LinkProfile:
    """Impairments of one direction of a link."""

    loss: float = 0.0
    burst: GilbertElliott | None = None
    delay: float = 0.0
    jitter: float = 0.0
    jitter_reorders: bool = False
    reorder: float = 0.0
    reorder_gap: int = 3
    duplicate: float = 0.0
    corrupt: float = 0.0
    truncate: float = 0.0
    rate: float | None = None  # bits per second
    queue: int | None = None  # packets waiting for the wire (drop-tail)
    queue_bytes: int | None = None
    mtu: int | None = None  # datagrams larger than this are dropped
    outages: tuple[tuple[float, float], ...] = ()  # (start, end) in trio time
    drop_nth: frozenset[int] = frozenset()  # scripted drops: 0-based datagram numbers

    def __post_init__(self) -> None:
        for name in ("loss", "reorder", "duplicate", "corrupt", "truncate"):
            v = getattr(self, name)
            if not 0.0 <= v <= 1.0:
                raise ValueError(f"{name} must be a probability in [0, 1], got {v}")
        if self.delay < 0 or self.jitter < 0:
            raise ValueError("delay and jitter must be >= 0")
        if self.rate is not None and self.rate <= 0:
            raise ValueError("rate must be > 0 bits/s")


PROFILE_FIELDS = frozenset(f.name for f in fields(LinkProfile))


@dataclass
class LinkStats:
    sent: int = 0
    delivered: int = 0
    bytes_delivered: int = 0
    duplicated: int = 0
    corrupted: int = 0
    truncated: int = 0
    reordered: int = 0
    peak_queue: int = 0
    dropped: Counter = field(default_factory=Counter)


class Link:
    """One direction of a link, with its own RNG, queue and counters."""

    def __init__(self, src: str, dst: str, profile: LinkProfile, rng: random.Random) -> None:
        self.src, self.dst = src, dst
        self.profile = profile
        self.rng = rng
        self.stats = LinkStats()
        self._busy_until = 0.0
        self._queue: deque[tuple[float, int]] = deque()  # (departure time, size)
        self._queued_bytes = 0
        self._last_delivery = 0.0
        self._bad_state = False
        self._held: list[list] = []  # [remaining gap, delivery record]

    def _lost(self) -> bool:
        p = self.profile
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

    def fate(self, data: bytes, now: float) -> list[tuple[float, bytes]]:
        """Decide what becomes of ``data`` sent at ``now``: [(delivery time, bytes)]."""
        p = self.profile
        st = self.stats
        st.sent += 1
        if st.sent - 1 in p.drop_nth:
            st.dropped["scripted"] += 1
            return []
        for start, end in p.outages:
            if start <= now < end:
                st.dropped["outage"] += 1
                return []
        if p.mtu is not None and len(data) > p.mtu:
            st.dropped["mtu"] += 1
            return []
        if self._lost():
            st.dropped["loss"] += 1
            return []
        departure = now
        if p.rate is not None:
            q = self._queue
            while q and q[0][0] <= now:
                self._queued_bytes -= q.popleft()[1]
            if (p.queue is not None and len(q) >= p.queue) or (
                p.queue_bytes is not None and self._queued_bytes + len(data) > p.queue_bytes
            ):
                st.dropped["queue"] += 1
                return []
            departure = max(now, self._busy_until) + len(data) * 8 / p.rate
            self._busy_until = departure
            q.append((departure, len(data)))
            self._queued_bytes += len(data)
            st.peak_queue = max(st.peak_queue, len(q))
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
        p = self.profile
        if p.reorder and self.rng.random() < p.reorder:
            self.stats.reordered += 1
            return True
        return False

    def plan(self, data: bytes, now: float) -> list[tuple[float, Delivery]]:
        """Everything to deliver because ``data`` was sent at ``now``: its copies
        (held back if chosen for reordering) and held datagrams now released."""
        fates = self.fate(data, now)
        if not fates:
            return []
        out: list[tuple[float, Delivery]] = []
        still = []
        for entry in self._held:  # one more datagram has passed each held one
            entry[0] -= 1
            if entry[0] <= 0:
                out.append((max(entry[2], now + self.profile.delay), entry[1]))
            else:
                still.append(entry)
        self._held = still
        for when, payload in fates:
            d = Delivery(payload)
            if self._take_reorder():
                self._held.append([self.profile.reorder_gap, d, when])
                out.append((when + self.profile.delay + 0.05, d))  # fallback release
            else:
                out.append((when, d))
        return out

    def delivered(self, d: Delivery) -> bool:
        """Mark ``d`` delivered; False if it already was (a held datagram's twin entry)."""
        if d.done:
            return False
        d.done = True
        self._held = [e for e in self._held if e[1] is not d]
        self.stats.delivered += 1
        self.stats.bytes_delivered += len(d.payload)
        return True


class Delivery:
    __slots__ = ("done", "payload")

    def __init__(self, payload: bytes) -> None:
        self.payload = payload
        self.done = False


class EmulatedTransport:
    """An emulated UDP socket on an emulated host."""

    def __init__(self, host: EmulatedHost, local: Address) -> None:
        self.host = host
        self.local = local
        self.closed = False
        self._inbox: deque[tuple[bytes, Address]] = deque()
        self._lot = trio.lowlevel.ParkingLot()
        # Set by the endpoint: process arrivals synchronously, saving two task
        # switches per datagram (the simulation's main cost).
        self.on_readable = None

    def deliver(self, data: bytes, src: Address) -> None:
        self._inbox.append((data, src))
        if self.on_readable is not None:
            self.on_readable()  # the endpoint processes it now, in the network's task
        else:
            self._lot.unpark_all()

    async def wait_readable(self) -> None:
        while not self._inbox:
            await self._lot.park()

    async def wait_writable(self) -> None:  # pragma: no cover - send never blocks
        await trio.lowlevel.checkpoint()

    def recv_batch(self, limit: int = 256) -> list[tuple[bytes, Address]]:
        inbox = self._inbox
        n = min(limit, len(inbox))
        return [inbox.popleft() for _ in range(n)]

    def send(self, data: bytes, addr: Address) -> bool:
        self.host.network.transmit(self.local, addr, data)
        return True

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            self.host._transports.pop(self.local[1], None)


class EmulatedHost(Host):
    """A host on an ``EmulatedNetwork``, with the same API as the real host."""

    def __init__(
        self, network: EmulatedNetwork, address: str, *, config: Config | None, trace, pcap=None
    ):
        rng = random.Random(f"{network.seed}/{address}")
        super().__init__(config=config, rng=rng, trace=trace, pcap=pcap)
        self.network = network
        self.address = address
        self.wildcard_address = address
        self._transports: dict[int, EmulatedTransport] = {}
        self._ephemeral = itertools.cycle(range(49_152, 65_536))
        self.stats: Counter = Counter()

    def __repr__(self) -> str:
        return f"<EmulatedHost {self.address}>"

    def _make_transport(self, local: Address) -> EmulatedTransport:
        ip, port = local
        if ip not in (self.address, "0.0.0.0", ""):
            raise OSError(99, f"cannot bind {ip}: this host is {self.address}")
        if port == 0:
            for _ in range(16_384):
                port = next(self._ephemeral)
                if port not in self._transports:
                    break
            else:  # pragma: no cover
                raise OSError(98, "no free ephemeral port")
        elif port in self._transports:
            raise OSError(98, f"address {self.address}:{port} is already in use")
        t = EmulatedTransport(self, (self.address, port))
        self._transports[port] = t
        return t

    async def _resolve_name(self, name: str) -> str:
        raise OSError(2, f"emulated hosts have no DNS: use an address, not {name!r}")

    def crash(self) -> None:
        """Lose every connection at once (a host restart): nothing is sent, and
        segments for the old connections are answered by the closed-port rule."""
        for ep in list(self._endpoints.values()):
            ep.kill()
        self._endpoints.clear()
        self._transports.clear()
        self.stats["crashes"] += 1

    def deliver(self, data: bytes, src: Address, dst_port: int) -> None:
        t = self._transports.get(dst_port)
        if t is not None:
            t.deliver(data, src)
            return
        # No socket on that port: the host's TCP answers like a kernel would.
        self.stats["no_socket"] += 1
        try:
            seg = decode_segment(data)
        except MalformedSegment:
            self.stats["malformed"] += 1
            return
        reply = closed_port_reply(seg, dst_port)
        if reply is not None:
            self.network.transmit((self.address, dst_port), src, encode_segment(reply))


class EmulatedNetwork:
    def __init__(self, seed: int = 0) -> None:
        self.seed = seed
        self.hosts: dict[str, EmulatedHost] = {}
        self.links: dict[tuple[str, str], Link] = {}
        self.stats: Counter = Counter()
        self._timeline = Timeline(self._deliver, name="emutcp-emulated-network")
        self.trace_datagrams: list[tuple[float, str, str, int]] | None = None

    def add_host(
        self, address: str, config: Config | None = None, *, trace=None, pcap=None
    ) -> EmulatedHost:
        if address in self.hosts:
            raise ValueError(f"host {address} already exists")
        host = EmulatedHost(self, address, config=config, trace=trace, pcap=pcap)
        self.hosts[address] = host
        return host

    def add_link(
        self,
        a: str,
        b: str,
        *,
        profile: LinkProfile | None = None,
        reverse: LinkProfile | None = None,
        **impairments,
    ) -> tuple[Link, Link]:
        """Join hosts ``a`` and ``b``; ``profile`` (or the keyword impairments)
        applies in both directions unless ``reverse`` gives b->a its own."""
        for h in (a, b):
            if h not in self.hosts:
                raise ValueError(f"unknown host {h}; add_host() it first")
        unknown = set(impairments) - PROFILE_FIELDS
        if unknown:
            raise TypeError(f"unknown link impairments: {', '.join(sorted(unknown))}")
        forward = profile or LinkProfile(**impairments)
        backward = reverse or forward
        ab = Link(a, b, forward, random.Random(f"{self.seed}/{a}->{b}"))
        ba = Link(b, a, backward, random.Random(f"{self.seed}/{b}->{a}"))
        self.links[(a, b)] = ab
        self.links[(b, a)] = ba
        return ab, ba

    def link(self, src: str, dst: str) -> Link:
        return self.links[(src, dst)]

    # ------------------------------------------------------------ delivery

    def transmit(self, src: Address, dst: Address, data: bytes) -> None:
        now = trio.current_time()
        if self.trace_datagrams is not None:
            self.trace_datagrams.append(
                (now, f"{src[0]}:{src[1]}", f"{dst[0]}:{dst[1]}", len(data))
            )
        if src[0] == dst[0]:
            self._timeline.schedule(now, (data, src, dst, None))  # loopback inside a host
            return
        link = self.links.get((src[0], dst[0]))
        if link is None:
            self.stats["no_route"] += 1
            return
        for when, d in link.plan(data, now):
            self._timeline.schedule(when, (d, src, dst, link))

    def _deliver(self, item) -> None:
        d, src, dst, link = item
        if link is not None and not link.delivered(d):
            return
        host = self.hosts.get(dst[0])
        if host is None:
            self.stats["no_host"] += 1
            return
        host.deliver(d.payload if link is not None else d, src, dst[1])
