"""An emulated network: hosts joined by impaired links, in (virtual) trio time.

Theory of operation
-------------------
``EmulatedNetwork(seed)`` holds hosts (``add_host``) and directed links
(``add_link`` makes both directions).  A host's transport sends a datagram
with ``transmit(src, dst, data)``; the link's pure, seeded model
(``transport/link.py``) decides its fate: lost, queued, corrupted,
duplicated, delayed, reordered.  One delivery timeline per network (a trio
system task, started on first use) sleeps until the earliest delivery and
hands datagrams to the destination host, which queues them on the emulated
socket bound to that port, or, when nothing is bound there, answers through
the core's closed-port rule (RFC 9293 3.10.7.1), like a kernel.

Time is ``trio.current_time()``: under ``trio.testing.MockClock(
autojump_threshold=0)`` a 60-second transfer runs as fast as the CPU allows.
Nothing here touches the real network.  This module is one floor above
``host.py``: an ``EmulatedHost`` is a ``Host`` whose transports are
``EmulatedTransport`` sockets on this network.
"""

from __future__ import annotations

import itertools
import random
from collections import Counter
from typing import TYPE_CHECKING, Any

import trio

from .core.config import Config
from .core.mux import closed_port_answer
from .host import Host
from .trace import Tracer
from .transport.emulated import EmulatedTransport
from .transport.link import PROFILE_FIELDS, Delivery, Link, LinkProfile

if TYPE_CHECKING:
    from .pcap import PcapWriter
    from .transport.registry import TransportFactory, TransportOptions
from .transport.timeline import Timeline

Address = tuple[str, int]


class EmulatedHost(Host):
    """A host on an ``EmulatedNetwork``, with the same API as the real host."""

    def __init__(
        self,
        network: EmulatedNetwork,
        address: str,
        *,
        config: Config | None,
        trace: Tracer | None,
        pcap: str | PcapWriter | None = None,
    ) -> None:
        rng = random.Random(f"{network.seed}/{address}")
        super().__init__(config=config, rng=rng, trace=trace, pcap=pcap)
        self.network = network
        self.address = address
        self.wildcard_address = address
        self._transports: dict[int, EmulatedTransport] = {}
        self._ephemeral = itertools.cycle(range(49_152, 65_536))
        self.stats: Counter[str] = Counter()

    def __repr__(self) -> str:
        return f"<EmulatedHost {self.address}>"

    def make_transport(self, local: Address) -> EmulatedTransport:
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
        t = EmulatedTransport(
            (self.address, port),
            transmit=self.network.transmit,
            on_close=self._forget_transport,
            path_limit=self.network.max_datagram,
        )
        self._transports[port] = t
        return t

    def _forget_transport(self, transport: EmulatedTransport) -> None:
        if self._transports.get(transport.local[1]) is transport:
            del self._transports[transport.local[1]]

    def loopback_address(self, unspecified: str) -> str:
        return self.address

    async def _resolve_name(self, name: str) -> str:
        raise OSError(2, f"emulated hosts have no DNS: use an address, not {name!r}")

    def crash(self) -> None:
        """Lose every connection at once (a host restart): nothing is sent, and
        segments for the old connections are answered by the closed-port rule."""
        super().crash()
        self._transports.clear()
        self.stats["crashes"] += 1

    def deliver(self, data: bytes, src: Address, dst_port: int) -> None:
        t = self._transports.get(dst_port)
        if t is not None:
            t.deliver(data, src)
            return
        # No socket on that port: the host's TCP answers like a kernel would
        # (RFC 9293 3.10.7.1, the core's rule).
        self.stats["no_socket"] += 1
        reply = closed_port_answer(data, dst_port)
        if reply is not None:
            self.network.transmit((self.address, dst_port), src, reply)


class EmulatedNetwork:
    def __init__(self, seed: int = 0) -> None:
        self.seed = seed
        self.hosts: dict[str, EmulatedHost] = {}
        self.links: dict[tuple[str, str], Link] = {}
        self.stats: Counter[str] = Counter()
        self._timeline = Timeline(self._deliver, name="emutcp-emulated-network")
        self.trace_datagrams: list[tuple[float, str, str, int]] | None = None

    def add_host(
        self,
        address: str,
        config: Config | None = None,
        *,
        trace: Tracer | None = None,
        pcap: str | PcapWriter | None = None,
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
        **impairments: Any,
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
            self._timeline.schedule(now, (Delivery(data), src, dst, None))  # loopback
            return
        link = self.links.get((src[0], dst[0]))
        if link is None:
            self.stats["no_route"] += 1
            return
        for when, d in link.plan(data, now):
            self._timeline.schedule(when, (d, src, dst, link))

    def max_datagram(self, src: Address, dst: Address) -> int | None:
        """The link's MTU (the emulated network has no IP or UDP headers)."""
        link = self.links.get((src[0], dst[0]))
        return link.profile.mtu if link is not None else None

    def _deliver(self, item: tuple[Delivery, Address, Address, Link | None]) -> None:
        d, src, dst, link = item
        if link is not None and not link.delivered(d):
            return
        host = self.hosts.get(dst[0])
        if host is None:
            self.stats["no_host"] += 1
            return
        host.deliver(d.payload, src, dst[1])


def transport_plugin(options: TransportOptions) -> TransportFactory:
    """The ``emulated`` entry point: sockets on an emulated network private to
    this process (seeded by ``options.rng``), on which this host is the first
    address of ``options.network`` (default 10.0.0.1).  Only this process can
    reach it, so it suits ``bench --local`` style runs and tests, not two
    programs."""
    import ipaddress

    seed = options.rng.randrange(2**32) if options.rng is not None else 0
    net = ipaddress.ip_network(options.network or "10.0.0.0/24", strict=False)
    address = str(next(net.hosts()))
    host = EmulatedNetwork(seed).add_host(address)

    def factory(local: Address) -> EmulatedTransport:
        return host.make_transport(local)

    factory.address = address  # type: ignore[attr-defined]
    return factory
