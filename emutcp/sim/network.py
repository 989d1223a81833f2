"""Hosts, routers, endpoints and links on the discrete-event engine: the core, driven directly.

Theory of operation
-------------------
This is the trio emulated network (``emutcp/emulated.py``,
``endpoint.py``) with the trio taken out.  A ``SimNetwork`` holds hosts,
routers and directed ``Link``s in a ``Topology`` (the same pure, seeded
network model, ``transport/topology.py`` over ``link.py`` and ``qdisc.py``,
with the same RNG names, so one seed gives both engines the same link
decisions) whose ``Scheduler`` is the engine itself.  ``add_router``,
``add_route``, ``dumbbell`` and ``parking_lot`` are ``EmulatedNetwork``'s.
A ``SimHost`` holds ``SimEndpoint``s by port, one ``Mux`` each, created with
the host's RNG in the same order as the trio host does it.

A datagram's life: an endpoint's ``flush`` takes ``Mux.datagrams_to_send``
(``datagrams_to_send_ecn`` when its configuration asks for ECN: the ECN field
rides beside each datagram, RFC 3168 5) and hands each to
``SimNetwork.transmit``.  On a direct link without a queue discipline (the
single path) that asks the link for its fate and schedules each delivery on
the engine (``Link.plan``; ``Link.plan_simple``, one call a datagram, when
the link has no impairment but loss and an MTU); anything else goes through the
topology: routers forward, queue disciplines are event-driven, AQMs drop or
mark CE.  At delivery time the destination endpoint's ``arrive`` feeds the
mux (with the ECN field, if its connection negotiated ECN), fires due timers
and flushes (the trio endpoint's ``_service``).  One timer entry per endpoint sits on the
heap: it moves earlier when the mux's earliest deadline does, and when it
fires the endpoint re-reads the deadline (the trio endpoint's cancel scope).
Applications (``apps.py``) are woken through ``Engine.soon`` after the event
that concerned them, as trio runs woken tasks after the event.  A ``send``
that cannot change what the connection sends now (a bulk sender's refill
behind a full window: ``_appending_sends_nothing``) skips the output pass.

Segments travel as objects (``wire.WireSegment``): the receiver never
decodes msgpack.  Their sizes are exact (``wire.sized_exactly``: the sender
packs the few header fields and takes the CRC, whose width depends on the
bytes, without copying the payload), or with ``exact_sizes=False``
computed from msgpack's rules (``wire.wire_size``: no msgpack at all, up to
4 bytes too large for 1 segment in 65,536).  Real bytes are made where
something needs them: everywhere with ``wire=True`` (what the test that
compares the two engines byte for byte uses), and on a link that corrupts
or truncates (on any link, once a network has a route through routers).
Scripted drops (``LinkProfile.drop``) tell data segments by their payload,
object or bytes (``wire.carries_data``).
"""

from __future__ import annotations

import itertools
import math
import random
from collections import Counter
from collections.abc import Callable
from typing import Any

from ..core.config import Config
from ..core.connection import MIN_SND_MSS, Connection
from ..core.events import Event, TcpInfo
from ..core.isn import IsnGenerator
from ..core.mux import Listener, Mux, closed_port_answer, closed_port_reply
from ..core.segment import encode_segment, segment_overhead
from ..core.seq import seq_diff
from ..core.state import State
from ..core.tcb import Timer, Tracer
from ..transport.link import Delivery, Link
from ..transport.qdisc import NOT_ECT
from ..transport.topology import Topology, TopologyBuilder
from .engine import Engine, Entry
from .wire import WireSegment, carries_data, sized_exactly

Address = tuple[str, int]
Wake = Callable[[frozenset[Event]], None]


class SimNetwork(TopologyBuilder):
    def __init__(
        self,
        seed: int = 0,
        *,
        engine: Engine | None = None,
        wire: bool = False,
        exact_sizes: bool = True,
    ) -> None:
        self.seed = seed
        self.engine = engine or Engine()
        self.wire = wire
        self.exact_sizes = exact_sizes
        self.hosts: dict[str, SimHost] = {}
        self.routers: list[str] = []
        # The network model, scheduled on this engine (Engine has now/call_at).
        self.topology = Topology(self.engine, seed=seed, is_data=carries_data)
        self.links: dict[tuple[str, str], Link] = self.topology.links
        self.stats: Counter[str] = self.topology.stats
        self._needs_bytes = False  # some link corrupts or truncates
        # SimSocket.send skips output passes that cannot send anything (see
        # _appending_sends_nothing); False runs every one (tests compare the two).
        self.skip_quiet_passes = True
        self.passes_skipped = 0
        # (time, "ip:port", "ip:port", size) per datagram sent, when a list.
        self.trace_datagrams: list[tuple[float, str, str, int]] | None = None

    def now(self) -> float:
        return self.engine.now()

    def add_host(
        self,
        address: str,
        config: Config | None = None,
        *,
        trace: Tracer | None = None,
        pcap: Any = None,
    ) -> SimHost:
        """A host; ``pcap`` (a path or ``PcapWriter``) captures its segments as TCP
        (from the core's segment records: no wire bytes needed; ``host.pcap``
        is the writer, to close when done)."""
        self._check_new_host(address, self.hosts)
        writer = None
        if pcap is not None:
            from ..pcap import PcapWriter
            from ..trace import tee

            writer = pcap if isinstance(pcap, PcapWriter) else PcapWriter(pcap)
            untyped: Any = trace  # trace.Tracer takes any record; the core's names its kinds
            trace = tee(untyped, writer)
        host = SimHost(self, address, config=config, trace=trace)
        host.pcap = writer
        self.topology.add_node(address, receive=host.arrive)
        self.hosts[address] = host
        return host

    def _links_changed(self) -> None:
        self._needs_bytes = any(
            link.profile.corrupt or link.profile.truncate for link in self.links.values()
        )

    def max_datagram(self, src: Address, dst: Address) -> int | None:
        """The smallest MTU on the path (None: no limit)."""
        return self.topology.max_datagram(src[0], dst[0])

    def transmit(self, src: Address, dst: Address, data: Any, ecn: int = NOT_ECT) -> None:
        """``data`` (bytes or a WireSegment) with ECN field ``ecn`` leaves ``src``
        for ``dst`` now."""
        engine = self.engine
        now = engine.now()
        if self.trace_datagrams is not None:
            self.trace_datagrams.append(
                (now, f"{src[0]}:{src[1]}", f"{dst[0]}:{dst[1]}", len(data))
            )
        if src[0] == dst[0]:
            engine.schedule(now, self._deliver, Delivery(data, ecn), src, dst, None)  # loopback
            return
        link = self.links.get((src[0], dst[0]))
        if link is None or link.qdisc is not None:
            # Routers or an event-driven queue: the topology forwards it.
            if self._needs_bytes and type(data) is WireSegment:
                data = encode_segment(data.seg)  # a link on the way flips bits
            self.topology.send(src, dst, data, ecn)
            return
        if link.simple:
            # A direct link with nothing but an MTU, loss, the closed-form queue and
            # a delay: one call decides the datagram's fate (the common case).
            size = data.size if type(data) is WireSegment else len(data)
            planned = link.plan_simple(data, size, now, ecn)
            if planned is not None:
                engine.schedule_args(planned[0], self._deliver, (planned[1], src, dst, link))
            return
        # A direct link with the closed-form queue: what Topology.send does for
        # it, with one call less per datagram (the single-path fast path).
        if type(data) is WireSegment and (link.profile.corrupt or link.profile.truncate):
            data = encode_segment(data.seg)  # the link flips bits: it needs the bytes
        schedule, deliver = engine.schedule, self._deliver
        for when, d in link.plan(data, now, ecn):
            schedule(when, deliver, d, src, dst, link)

    def _deliver(self, d: Delivery, src: Address, dst: Address, link: Link | None) -> None:
        if link is not None and not link.delivered(d):
            return
        host = self.hosts.get(dst[0])
        if host is None:
            self.stats["no_host"] += 1
            return
        ep = host.endpoints.get(dst[1])
        if ep is not None:  # SimHost.deliver's common case, one call less
            ep.arrive(d.payload, src, d.ecn)
        else:
            host.deliver(d.payload, src, dst[1], d.ecn)


class SimHost:
    """A host: endpoints by port, one RNG and ISN secret (as ``EmulatedHost``)."""

    def __init__(
        self, network: SimNetwork, address: str, *, config: Config | None, trace: Tracer | None
    ) -> None:
        self.network = network
        self.address = address
        self.config = config or Config()
        self.rng = random.Random(f"{network.seed}/{address}")  # EmulatedHost's seed
        self.isn = IsnGenerator(self.rng)
        self.trace = trace
        self.pcap: Any = None
        self.endpoints: dict[int, SimEndpoint] = {}
        self._ephemeral = itertools.cycle(range(49_152, 65_536))
        self.stats: Counter[str] = Counter()

    def __repr__(self) -> str:
        return f"<SimHost {self.address}>"

    def bind(self, port: int = 0, config: Config | None = None) -> SimEndpoint:
        if port == 0:
            for _ in range(16_384):
                port = next(self._ephemeral)
                if port not in self.endpoints:
                    break
            else:  # pragma: no cover
                raise OSError(98, "no free ephemeral port")
        elif port in self.endpoints:
            raise OSError(98, f"address {self.address}:{port} is already in use")
        ep = SimEndpoint(self, port, config or self.config)
        self.endpoints[port] = ep
        return ep

    def listen(
        self,
        port: int,
        on_accept: Callable[[SimSocket], None],
        *,
        backlog: int = 128,
        config: Config | None = None,
    ) -> SimListener:
        """Listen on ``port``; ``on_accept(sock)`` for each connection accepted."""
        return SimListener(self.bind(port, config), on_accept, backlog)

    def connect(
        self, remote: Address, *, config: Config | None = None, app: Any = None
    ) -> SimSocket:
        """An active open from a new endpoint on an ephemeral port (as a trio
        socket's connect); the SYN leaves now.  ``app.start(sock)`` runs once
        the connection is established."""
        ep = self.bind(0, config)
        config = config or self.config
        limit = self.network.max_datagram(ep.local, remote)
        if limit is not None:  # the path's MTU bounds the MSS (socket.py does the same)
            mss = max(MIN_SND_MSS, limit - segment_overhead())
            if mss < config.mss:
                config = config.replace(mss=mss)
        conn = ep.mux.connect(remote, self.network.now(), config)
        sock = SimSocket(ep, conn)
        sock.starting = app
        ep.flush()
        return sock

    def arrive(self, payload: Any, ecn: int, src: Address, dst: Address) -> None:
        """What the topology hands this host (``topology.Receive``)."""
        self.deliver(payload, src, dst[1], ecn)

    def deliver(self, payload: Any, src: Address, dst_port: int, ecn: int = NOT_ECT) -> None:
        ep = self.endpoints.get(dst_port)
        if ep is not None:
            ep.arrive(payload, src, ecn)
            return
        # No socket on that port: the host answers (RFC 9293 3.10.7.1).
        self.stats["no_socket"] += 1
        reply: Any
        if type(payload) is WireSegment:
            seg = closed_port_reply(payload.seg, dst_port)
            reply = None if seg is None else sized_exactly(seg)
        else:
            reply = closed_port_answer(payload, dst_port)
        if reply is not None:
            self.network.transmit((self.address, dst_port), src, reply)

    def connection_count(self) -> int:
        return sum(len(ep.mux.connections) for ep in self.endpoints.values())

    def _evict_time_wait(self) -> bool:
        for ep in list(self.endpoints.values()):
            if ep.mux.evict_time_wait():
                ep.flush()
                return True
        return False

    def endpoint_closed(self, ep: SimEndpoint) -> None:
        if self.endpoints.get(ep.port) is ep:
            del self.endpoints[ep.port]


class SimEndpoint:
    """One mux, its timer entry and the wake-up map (the trio ``Endpoint``)."""

    def __init__(self, host: SimHost, port: int, config: Config) -> None:
        self.host = host
        self.port = port
        self.local: Address = (host.address, port)
        self.engine = host.network.engine
        self.network = host.network
        self.mux = Mux(
            local=self.local,
            config=config,
            rng=host.rng,
            isn=host.isn,
            tracer=host.trace,
            host_connections=host.connection_count,
            evict_elsewhere=host._evict_time_wait,
        )
        if not host.network.wire:
            # Segment objects on the links, sized exactly or computed (see above).
            sized = sized_exactly if host.network.exact_sizes else WireSegment
            self.mux.encode = sized
        # RFC 3168: the ECN field rides with each datagram when ECN is configured
        # (the trio endpoint's condition; an emulated link always carries it).
        self._ecn = bool(self.mux.config.ecn)
        self.users = 0
        self.closed = False
        self.handlers: dict[object, Wake] = {}
        self._timer: Entry | None = None
        self._deadline = math.inf

    def arrive(self, payload: Any, src: Address, ecn: int = NOT_ECT) -> None:
        """A datagram arrives: process it, fire due timers, send what follows."""
        if self.closed:
            return
        mux = self.mux
        now = self.engine.now()
        if not self._ecn:
            ecn = NOT_ECT  # the trio endpoint reads the field only with ECN on
        if type(payload) is WireSegment:
            mux.receive_segment(payload.seg, payload.size, src, now, ecn)
        else:
            mux.receive_datagram(payload, src, now, ecn)
        mux.handle_timer(now)
        self.flush()

    def _on_timer(self) -> None:
        self._timer = None
        self._deadline = math.inf
        if self.closed:
            return
        self.mux.handle_timer(self.engine.now())
        self.flush()

    def flush(self) -> None:
        """Send what the core queued, wake applications, re-arm the timer."""
        mux = self.mux
        engine = self.engine
        now = engine.now()
        # Any: the data are WireSegments here, not the bytes the core's types say
        # (so that compiled code does not check them as bytes).
        if self._ecn:
            marked: list[Any] = mux.datagrams_to_send_ecn(now)
            if marked:
                transmit, local = self.network.transmit, self.local
                for data, addr, ecn in marked:
                    transmit(local, addr, data, ecn)
        else:
            out: list[Any] = mux.datagrams_to_send(now)
            if out:
                transmit, local = self.network.transmit, self.local
                for data, addr in out:
                    transmit(local, addr, data)
        if mux.wakeups:
            handlers = self.handlers
            for tcb, events in mux.take_wakeups():
                wake = handlers.get(tcb)
                if wake is not None:
                    engine.soon(wake, events)
        deadline = mux.get_timer()
        if deadline is not None and deadline < self._deadline:
            if self._timer is not None:
                engine.cancel(self._timer)
            self._deadline = deadline
            self._timer = engine.schedule(deadline, self._on_timer)
        if self.users <= 0 and mux.idle:
            self.close()

    def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        if self._timer is not None:
            self.engine.cancel(self._timer)
            self._timer = None
        self.host.endpoint_closed(self)


def _appending_sends_nothing(conn: Connection) -> bool:
    """Whether bytes appended to ``conn``'s send queue now leave its output pass
    empty, so that ``SimSocket.send`` may skip it (a bulk sender's refill after
    each ACK: the pass after the ACK already sent what the windows allow).

    Every change to a connection is followed by an output pass here, so that
    pass has run since the last one.  New bytes behind at least an MSS of
    unsent data change none of its decisions (RFC 9293 3.7.4 Nagle and
    3.8.6.2.1 sender SWS avoidance look at the first segment only, which stays
    a full one; the windows do not depend on the queue), unless the
    connection is resending from SND.NXT < SND.MAX (go-back-N), searches the
    path MTU (a probe wants data behind it, RFC 4821 7.4) or this send starts
    the user timeout (RFC 9293 3.8.3): then the pass runs as usual.  The
    output pass is the core's (``output.py``); this mirrors its conditions."""
    st = conn.state
    if st is not State.ESTABLISHED and st is not State.CLOSE_WAIT:
        return False  # not synchronized yet: the handshake's output is another matter
    if conn.snd_nxt != conn.snd_max or conn.mtu_search is not None:
        return False
    if conn.config.user_timeout and Timer.USER_TIMEOUT not in conn.timers:
        return False
    buf = conn.send_buf
    unsent = buf.end - buf.base - seq_diff(conn.snd_nxt, conn.iss + 1 + buf.base)
    return unsent >= conn.snd_mss


class SimSocket:
    """One connection as an application sees it: the socket calls, synchronous.

    ``app`` (if any) gets ``app.wake(sock, events)`` after each event that
    concerns the connection (``Event`` kinds as the core reports them);
    ``starting`` (if any) gets ``starting.start(sock)`` when it is established."""

    def __init__(self, endpoint: SimEndpoint, conn: Connection, app: Any = None) -> None:
        self.endpoint = endpoint
        self.connection = conn
        self.app = app
        self.starting: Any = None
        self.closed = False
        endpoint.users += 1
        endpoint.handlers[conn] = self._wake

    def _wake(self, events: frozenset[Event]) -> None:
        if self.closed:
            return
        if self.starting is not None and Event.ESTABLISHED in events:
            app, self.starting = self.starting, None
            app.start(self)
        elif self.app is not None:
            self.app.wake(self, events)

    def now(self) -> float:
        return self.endpoint.engine.now()

    def send(self, data: bytes | memoryview) -> int:
        """Queue what fits in the send buffer; returns the bytes queued."""
        conn = self.connection
        if conn.error is not None:
            raise conn.error
        ep = self.endpoint
        network = ep.network
        quiet = network.skip_quiet_passes and _appending_sends_nothing(conn)
        n = conn.send(data, self.now())
        if n:
            if quiet:
                network.passes_skipped += 1
            else:
                ep.mux.touch(conn)
                ep.flush()
        return n

    def recv(self, bufsize: int) -> bytes:
        """In-order bytes (b"" if none are buffered; see ``at_eof``)."""
        conn = self.connection
        if not conn.readable_bytes:
            return b""
        data = conn.receive(bufsize, self.now())
        if conn.ack_due:  # a window update (else reading changed nothing to send)
            self.endpoint.mux.touch(conn)
            self.endpoint.flush()
        return data

    @property
    def at_eof(self) -> bool:
        return self.connection.at_eof

    def shutdown_write(self) -> None:
        self.connection.shutdown_write(self.now())
        self.endpoint.mux.touch(self.connection)
        self.endpoint.flush()

    def close(self) -> None:
        """Close as a socket's close(): FIN, or RST with unread data."""
        if self.closed:
            return
        self.closed = True
        conn, ep = self.connection, self.endpoint
        conn.close(self.now())
        ep.handlers.pop(conn, None)
        ep.users -= 1
        ep.mux.touch(conn)
        ep.flush()

    def info(self) -> TcpInfo:
        return self.connection.info()

    def rtt_samples(self) -> list[float]:
        return list(self.connection.rtt.recent)

    def history(self) -> list[tuple[float, int, int, float | None]]:
        return list(self.connection.history)


class SimListener:
    """A listening endpoint; accepts every connection as it becomes ready."""

    def __init__(
        self, endpoint: SimEndpoint, on_accept: Callable[[SimSocket], None], backlog: int
    ) -> None:
        self.endpoint = endpoint
        self.on_accept = on_accept
        endpoint.users += 1
        self.listener: Listener = endpoint.mux.listen(backlog, endpoint.engine.now())
        endpoint.handlers[self.listener] = self._wake
        self.accepted = 0

    def _wake(self, events: frozenset[Event]) -> None:
        ep = self.endpoint
        while (conn := ep.mux.accept()) is not None:
            self.accepted += 1
            self.on_accept(SimSocket(ep, conn))

    def close(self) -> None:
        ep = self.endpoint
        ep.mux.close_listener(ep.engine.now())
        ep.handlers.pop(self.listener, None)
        ep.users -= 1
        ep.flush()
