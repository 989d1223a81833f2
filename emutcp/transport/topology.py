"""Topology: hosts and routers joined by links, forwarding by longest-prefix routes.

Theory of operation
-------------------
A ``Topology`` is the pure part of an emulated network: named nodes (hosts,
which consume what reaches them, and routers, which forward it) and directed
``Link``s between any two of them, each direction with its own profile and
queue discipline.  It reads no clock and imports no event loop: it is driven
through a ``Scheduler`` (``scheduler.py``), so the trio emulated network and
a discrete-event engine run the very same model.

``send(src, dst, data, ecn)`` puts a datagram on the first hop from
``src``'s node towards ``dst``'s; on arrival at a router it is forwarded on
(its TTL falls by one, RFC 791; at zero it is dropped), at a host it is
handed to that host's ``receive(data, ecn, src, dst)``.  Routing, per node:

1. a direct link to the destination node, if there is one;
2. else the longest matching prefix among the node's static routes
   (``add_route(node, "10.0.2.0/24", via)``, RFC 1812 5.2.4.3);
3. else the first hop of a shortest path (fewest hops; ties broken by node
   name, so the choice is repeatable), computed on demand and cached.

Builders for the common shapes: ``path`` (two hosts, one link: what
``add_link`` always made), ``dumbbell`` (senders with their own access
delays, one shared bottleneck between two routers, receivers) and
``parking_lot`` (a chain of routers, a long flow across all bottlenecks and
one cross flow per bottleneck).
"""

from __future__ import annotations

import ipaddress
import random
from collections import Counter, deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import partial
from typing import Any

from .link import PROFILE_FIELDS, Datagram, Delivery, Link, LinkProfile
from .qdisc import NOT_ECT
from .scheduler import Scheduler

Address = tuple[str, int]
# What a host node does with an arriving datagram: (data, ecn, src, dst).
Receive = Callable[[Datagram, int, Address, Address], None]
DEFAULT_TTL = 64


@dataclass
class Node:
    name: str
    router: bool = False
    receive: Receive | None = None
    routes: list[tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, str]] = field(
        default_factory=list
    )


class Topology:
    def __init__(
        self,
        scheduler: Scheduler,
        *,
        seed: int = 0,
        is_data: Callable[[Datagram], bool] | None = None,
    ) -> None:
        self.scheduler = scheduler
        self.seed = seed
        self.is_data = is_data  # tells data-carrying datagrams (LinkProfile.drop)
        self.nodes: dict[str, Node] = {}
        self.links: dict[tuple[str, str], Link] = {}
        self.stats: Counter[str] = Counter()
        self._next: dict[tuple[str, str], Link | None] = {}
        self._arrive = self._arrival  # bound once: one fewer lookup per datagram

    # ------------------------------------------------------------ building

    def add_node(self, name: str, *, router: bool = False, receive: Receive | None = None) -> Node:
        if name in self.nodes:
            raise ValueError(f"node {name} already exists")
        node = self.nodes[name] = Node(name, router=router, receive=receive)
        self._next.clear()
        return node

    def add_link(
        self, a: str, b: str, forward: LinkProfile, backward: LinkProfile | None = None
    ) -> tuple[Link, Link]:
        """Join nodes ``a`` and ``b`` (each direction its own Link and RNG)."""
        for n in (a, b):
            if n not in self.nodes:
                raise ValueError(f"unknown node {n}; add it first")
        if a == b:
            raise ValueError(f"a link needs two different nodes, got {a} twice")
        rng_ab = random.Random(f"{self.seed}/{a}->{b}")
        rng_ba = random.Random(f"{self.seed}/{b}->{a}")
        ab = Link(a, b, forward, rng_ab, is_data=self.is_data)
        ba = Link(b, a, backward or forward, rng_ba, is_data=self.is_data)
        for link in (ab, ba):
            link.attach(self.scheduler, self._arrive)
            self.links[(link.src, link.dst)] = link
        self._next.clear()
        return ab, ba

    def add_route(self, node: str, prefix: str, via: str) -> None:
        """Static route: datagrams at ``node`` for ``prefix`` go to neighbour ``via``."""
        if node not in self.nodes:
            raise ValueError(f"unknown node {node}")
        if (node, via) not in self.links:
            raise ValueError(f"{via} is not a neighbour of {node}: add_link() them first")
        try:
            net = ipaddress.ip_network(prefix, strict=False)
        except ValueError:
            raise ValueError(f"not an address prefix: {prefix!r}") from None
        self.nodes[node].routes.append((net, via))
        self._next.clear()

    # ------------------------------------------------------------- routing

    def next_link(self, node: str, dst: str) -> Link | None:
        """The link ``node`` sends a datagram for ``dst`` on (None: no route)."""
        key = (node, dst)
        try:
            return self._next[key]
        except KeyError:
            pass
        link = self._route(node, dst)
        self._next[key] = link
        return link

    def _route(self, node: str, dst: str) -> Link | None:
        direct = self.links.get((node, dst))
        if direct is not None:
            return direct
        n = self.nodes.get(node)
        if n is None:
            return None
        if n.routes:
            try:
                addr = ipaddress.ip_address(dst)
            except ValueError:
                addr = None
            if addr is not None:
                best = max(
                    ((net, via) for net, via in n.routes if addr in net),
                    key=lambda r: r[0].prefixlen,
                    default=None,
                )
                if best is not None:  # RFC 1812 5.2.4.3: the longest match wins
                    return self.links.get((node, best[1]))
        return self._shortest_first_hop(node, dst)

    def _shortest_first_hop(self, src: str, dst: str) -> Link | None:
        """Breadth-first search over the links; hosts do not forward."""
        if dst not in self.nodes:
            return None
        neighbours: dict[str, list[str]] = {}
        for a, b in self.links:
            neighbours.setdefault(a, []).append(b)
        first: dict[str, str] = {}
        seen = {src}
        frontier: deque[str] = deque()
        for b in sorted(neighbours.get(src, ())):
            seen.add(b)
            first[b] = b
            frontier.append(b)
        while frontier:
            n = frontier.popleft()
            if n == dst:
                return self.links[(src, first[n])]
            if not self.nodes[n].router:
                continue
            for b in sorted(neighbours.get(n, ())):
                if b not in seen:
                    seen.add(b)
                    first[b] = first[n]
                    frontier.append(b)
        return None

    def path(self, src: str, dst: str) -> list[Link]:
        """The links a datagram from ``src`` to ``dst`` crosses (empty: no route)."""
        out: list[Link] = []
        node = src
        while node != dst and len(out) < DEFAULT_TTL:
            link = self.next_link(node, dst)
            if link is None:
                return []
            out.append(link)
            node = link.dst
        return out

    def max_datagram(self, src: str, dst: str) -> int | None:
        """The smallest MTU along the path (None: no limit known)."""
        mtus = [link.profile.mtu for link in self.path(src, dst) if link.profile.mtu is not None]
        return min(mtus) if mtus else None

    # ------------------------------------------------------------ forwarding

    def send(
        self,
        src: Address,
        dst: Address,
        data: Datagram,
        ecn: int = NOT_ECT,
        *,
        node: str | None = None,
        ttl: int = DEFAULT_TTL,
    ) -> None:
        """``node`` (by default ``src``'s) sends ``data`` from ``src`` to ``dst`` now."""
        if node is None:
            node = src[0]
        link = self._next.get((node, dst[0])) or self.next_link(node, dst[0])
        if link is None:
            self.stats["no_route"] += 1
            return
        now = self.scheduler.now()
        if link.qdisc is None:  # the closed-form queue: the hot path, inlined
            call_at, arrive, ctx = self.scheduler.call_at, self._arrive, (src, dst, ttl)
            if link.simple:  # no impairments but loss and the MTU: one call (link.py)
                planned = link.plan_simple(data, len(data), now, ecn)
                if planned is not None:
                    call_at(planned[0], partial(arrive, link, planned[1], ctx))
                return
            for when, d in link.plan(data, now, ecn):
                call_at(when, partial(arrive, link, d, ctx))
            return
        link.send(data, now, ecn=ecn, flow=(src, dst), ctx=(src, dst, ttl))

    def _arrival(self, link: Link, d: Delivery, ctx: Any) -> None:
        if not link.delivered(d):
            return
        src, dst, ttl = ctx
        node = self.nodes[link.dst]
        if node.router:
            if ttl <= 1:
                self.stats["ttl_exceeded"] += 1  # RFC 791: discard at TTL zero
                return
            self.send(src, dst, d.payload, d.ecn, node=node.name, ttl=ttl - 1)
            return
        if node.name != dst[0]:
            self.stats["not_for_us"] += 1  # a host does not forward (RFC 1122 3.3.4)
            return
        if node.receive is not None:
            node.receive(d.payload, d.ecn, src, dst)


# ---------------------------------------------------------------- builders


@dataclass(frozen=True)
class Shape:
    """What a builder made: who sends, who receives, and the bottleneck links."""

    senders: list[str]
    receivers: list[str]
    bottlenecks: list[Link]
    routers: list[str] = field(default_factory=list)


AddHost = Callable[[str], Any]


def _profile(base: LinkProfile | None, **changes: Any) -> LinkProfile:
    from dataclasses import replace

    return replace(base or LinkProfile(), **changes)


def build_path(
    topo: Topology,
    add_host: AddHost,
    *,
    bottleneck: LinkProfile,
    reverse: LinkProfile | None = None,
    a: str = "10.0.0.1",
    b: str = "10.0.0.2",
) -> Shape:
    """Two hosts and one link: the single-bottleneck path."""
    add_host(a)
    add_host(b)
    ab, _ = topo.add_link(a, b, bottleneck, reverse)
    return Shape([a], [b], [ab])


def build_dumbbell(
    topo: Topology,
    add_host: AddHost,
    *,
    bottleneck: LinkProfile,
    reverse: LinkProfile | None = None,
    access_delays: Sequence[float],
    access: LinkProfile | None = None,
) -> Shape:
    """``len(access_delays)`` sender/receiver pairs through routers r1 -- r2.

    Sender i (10.0.1.i+1) reaches r1 over an access link of one-way delay
    ``access_delays[i]``; receiver i (10.0.2.i+1) hangs off r2 with no delay.
    The bottleneck r1 -> r2 has ``bottleneck`` (its qdisc, rate, delay), the
    way back ``reverse``.  A flow's base RTT is 2 * (access + bottleneck delay)."""
    r1, r2 = "r1", "r2"
    topo.add_node(r1, router=True)
    topo.add_node(r2, router=True)
    fwd, _ = topo.add_link(r1, r2, bottleneck, reverse)
    senders, receivers = [], []
    for i, delay in enumerate(access_delays):
        s, r = f"10.0.1.{i + 1}", f"10.0.2.{i + 1}"
        add_host(s)
        add_host(r)
        topo.add_link(s, r1, _profile(access, delay=delay))
        topo.add_link(r2, r, _profile(access, delay=0.0))
        senders.append(s)
        receivers.append(r)
    return Shape(senders, receivers, [fwd], [r1, r2])


def build_parking_lot(
    topo: Topology,
    add_host: AddHost,
    *,
    bottleneck: LinkProfile,
    reverse: LinkProfile | None = None,
    hops: int = 2,
    access: LinkProfile | None = None,
) -> Shape:
    """Routers r0 .. r{hops} in a row joined by ``hops`` bottlenecks.  The long
    flow goes 10.0.1.1 (at r0) -> 10.0.2.1 (at r{hops}); cross flow i goes
    10.0.1.{i+2} (at r{i}) -> 10.0.2.{i+2} (at r{i+1}), sharing bottleneck i
    only.  Senders[0]/receivers[0] are the long flow's."""
    if hops < 1:
        raise ValueError("a parking lot needs at least one bottleneck")
    routers = [f"r{i}" for i in range(hops + 1)]
    for r in routers:
        topo.add_node(r, router=True)
    bottlenecks = [
        topo.add_link(routers[i], routers[i + 1], bottleneck, reverse)[0] for i in range(hops)
    ]
    edge = _profile(access, delay=0.0)
    senders, receivers = ["10.0.1.1"], ["10.0.2.1"]
    add_host("10.0.1.1")
    add_host("10.0.2.1")
    topo.add_link("10.0.1.1", routers[0], edge)
    topo.add_link(routers[-1], "10.0.2.1", edge)
    for i in range(hops):
        s, r = f"10.0.1.{i + 2}", f"10.0.2.{i + 2}"
        add_host(s)
        add_host(r)
        topo.add_link(s, routers[i], edge)
        topo.add_link(routers[i + 1], r, edge)
        senders.append(s)
        receivers.append(r)
    return Shape(senders, receivers, bottlenecks, routers)


# ------------------------------------------------------- a network's face


class TopologyBuilder:
    """The topology half of a network's public API, shared by the trio
    ``EmulatedNetwork`` and the discrete-event ``SimNetwork``: routers, routes,
    links between any two nodes and the builders.  A subclass sets
    ``self.topology`` and ``self.routers`` and provides ``add_host``."""

    topology: Topology
    routers: list[str]

    def add_host(self, address: str, config: Any = None) -> Any:  # pragma: no cover
        raise NotImplementedError

    def _check_new_host(self, address: str, hosts: dict[str, Any]) -> None:
        if address in hosts:
            raise ValueError(f"host {address} already exists")
        if address in self.topology.nodes:
            raise ValueError(f"{address} is already a router")

    def add_router(self, name: str) -> str:
        """A router: it forwards what reaches it by its routes (``add_route``, else
        shortest paths).  Join it to hosts and other routers with ``add_link``."""
        self.topology.add_node(name, router=True)
        self.routers.append(name)
        return name

    def add_route(self, node: str, prefix: str, via: str) -> None:
        """Static route at ``node``: datagrams for ``prefix`` ("10.0.2.0/24") go to
        neighbour ``via``; the longest matching prefix wins."""
        self.topology.add_route(node, prefix, via)

    def add_link(
        self,
        a: Any,
        b: Any,
        *,
        profile: LinkProfile | None = None,
        reverse: LinkProfile | None = None,
        **impairments: Any,
    ) -> tuple[Link, Link]:
        """Join nodes (hosts or routers) ``a`` and ``b``; ``profile`` (or the
        keyword impairments, ``qdisc=`` among them) applies in both directions
        unless ``reverse`` gives b->a its own.  Nodes are named by address (a
        host object will do); each direction gets its own RNG, named by the
        seed and the two nodes, so both engines draw the same fates."""
        names = [getattr(n, "address", n) for n in (a, b)]
        for name in names:
            if name not in self.topology.nodes:
                raise ValueError(f"unknown host {name}; add_host() it first")
        unknown = set(impairments) - PROFILE_FIELDS
        if unknown:
            raise TypeError(f"unknown link impairments: {', '.join(sorted(unknown))}")
        forward = profile or LinkProfile(**impairments)
        links = self.topology.add_link(names[0], names[1], forward, reverse or forward)
        self._links_changed()
        return links

    def _links_changed(self) -> None:
        """A hook for networks that cache something about their links."""

    def dumbbell(
        self,
        access_delays: Sequence[float],
        *,
        bottleneck: LinkProfile,
        reverse: LinkProfile | None = None,
        config: Any = None,
    ) -> Shape:
        """Senders 10.0.1.i with one-way access delays ``access_delays[i]``, routers
        r1 -> r2 joined by ``bottleneck``, receivers 10.0.2.i."""
        return self._build(
            build_dumbbell,
            config,
            bottleneck=bottleneck,
            reverse=reverse,
            access_delays=access_delays,
        )

    def parking_lot(
        self,
        hops: int,
        *,
        bottleneck: LinkProfile,
        reverse: LinkProfile | None = None,
        config: Any = None,
    ) -> Shape:
        """A chain of ``hops`` bottlenecks with one long flow and a cross flow
        per bottleneck."""
        return self._build(
            build_parking_lot, config, bottleneck=bottleneck, reverse=reverse, hops=hops
        )

    def _build(self, builder: Callable[..., Shape], config: Any, **shape: Any) -> Shape:
        """Run a builder on this network's topology, its hosts made by ``add_host``."""
        made = builder(self.topology, lambda a: self.add_host(a, config), **shape)
        self.routers += made.routers
        return made

    def link(self, src: str, dst: str) -> Link:
        return self.topology.links[(src, dst)]
