"""An emulated network: hosts joined by impaired links, in (virtual) trio time.

Theory of operation
-------------------
``EmulatedNetwork(seed)`` holds hosts (``add_host``), routers
(``add_router``) and links between any two of them (``add_link`` makes both
directions); routers forward by longest-prefix static routes
(``add_route``) or, by default, shortest paths.  The pure model is
``transport/topology.py`` (forwarding) over ``transport/link.py`` (each
link direction's impairments, rate and queue discipline, ``qdisc.py``): a
datagram may be lost, queued, dropped or CE-marked by an AQM, corrupted,
duplicated, delayed, reordered.  It is driven through a ``Scheduler`` whose
callbacks run on one delivery timeline per network (a trio system task,
started on first use).  A datagram reaching its host is queued on the
emulated socket bound to that port, with its ECN field, or, when nothing is
bound there, answered through the core's closed-port rule (RFC 9293
3.10.7.1), like a kernel.  ``dumbbell()`` and ``parking_lot()`` build the
classic shared-bottleneck shapes.

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
from collections.abc import Callable
from functools import partial
from typing import TYPE_CHECKING

from .core.config import Config
from .core.mux import closed_port_answer
from .core.segment import carries_data
from .host import Host
from .trace import Tracer
from .transport import runtime
from .transport.emulated import EmulatedTransport
from .transport.link import Link
from .transport.qdisc import NOT_ECT
from .transport.scheduler import TimelineScheduler, run_callback
from .transport.topology import Topology, TopologyBuilder

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

    def arrive(self, data: bytes, ecn: int, src: Address, dst: Address) -> None:
        """What the network hands this host (``topology.Receive``)."""
        self.deliver(data, src, dst[1], ecn)

    def deliver(self, data: bytes, src: Address, dst_port: int, ecn: int = NOT_ECT) -> None:
        t = self._transports.get(dst_port)
        if t is not None:
            t.deliver(data, src, ecn)
            return
        # No socket on that port: the host's TCP answers like a kernel would
        # (RFC 9293 3.10.7.1, the core's rule).
        self.stats["no_socket"] += 1
        reply = closed_port_answer(data, dst_port)
        if reply is not None:
            self.network.transmit((self.address, dst_port), src, reply)


class EmulatedNetwork(TopologyBuilder):
    def __init__(self, seed: int = 0) -> None:
        self.seed = seed
        self.hosts: dict[str, EmulatedHost] = {}
        self.routers: list[str] = []
        self._timeline: Timeline[Callable[[], None]] = Timeline(
            run_callback, name="emutcp-emulated-network"
        )
        # The pure model's Scheduler: trio's clock and this delivery timeline.
        self.scheduler = TimelineScheduler(self._timeline.schedule, runtime.current_time)
        self.topology = Topology(self.scheduler, seed=seed, is_data=carries_data)
        self.links: dict[tuple[str, str], Link] = self.topology.links
        self.stats: Counter[str] = self.topology.stats
        self.trace_datagrams: list[tuple[float, str, str, int]] | None = None

    def add_host(
        self,
        address: str,
        config: Config | None = None,
        *,
        trace: Tracer | None = None,
        pcap: str | PcapWriter | None = None,
    ) -> EmulatedHost:
        self._check_new_host(address, self.hosts)
        host = EmulatedHost(self, address, config=config, trace=trace, pcap=pcap)
        self.topology.add_node(address, receive=host.arrive)
        self.hosts[address] = host
        return host

    # ------------------------------------------------------------ delivery

    def transmit(self, src: Address, dst: Address, data: bytes, ecn: int = NOT_ECT) -> None:
        now = runtime.current_time()
        if self.trace_datagrams is not None:
            self.trace_datagrams.append(
                (now, f"{src[0]}:{src[1]}", f"{dst[0]}:{dst[1]}", len(data))
            )
        if src[0] == dst[0]:
            host = self.hosts[src[0]]  # loopback
            self._timeline.schedule(now, partial(host.arrive, data, ecn, src, dst))
            return
        self.topology.send(src, dst, data, ecn)

    def max_datagram(self, src: Address, dst: Address) -> int | None:
        """The path's MTU (the emulated network has no IP or UDP headers)."""
        return self.topology.max_datagram(src[0], dst[0])


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
