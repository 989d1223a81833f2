"""Hosts: where sockets live.  ``UdpHost`` is this machine over real UDP;
``EmulatedHost`` (emulated.py) is a host on an ``EmulatedNetwork``.

Theory of operation
-------------------

A host owns the registry of endpoints by local port (so ``bind`` to a busy
port is ``OSError(EADDRINUSE)``), an injected ``random.Random`` (ISN secrets,
so a seeded run repeats bit for bit), default ``Config`` and an optional
``trace`` callable that receives every ``Transition`` and ``SegmentRecord``.
It offers the whole public API: ``socket()``, ``open_stream()``,
``open_listeners()``, ``serve()`` and ``connections()`` (like ``ss -ti``).

The seam between a ``Socket`` and its host is public and small:
``resolve(address)``, ``bind_endpoint(local, config, reuse=)``,
``endpoint_for_connect(remote, config, endpoint)``, and, from the endpoint,
``endpoint_closed(ep)``.  A new kind of host implements one method,
``make_transport(local)``, returning any ``DatagramTransport``; or, without a
subclass, ``Host(transport=factory)`` runs over ``factory(local)``'s
transports (a plugin's factory: ``transport/registry.py``).

``make_transport(local)``, returning any ``DatagramTransport``.

A host serves trio and asyncio alike (its endpoints wait through
``transport/runtime.py``); the trio streams (``stream.py``) and ``serve`` are
imported only when called, so asyncio programs never load trio.
"""

from __future__ import annotations

import errno
import ipaddress
import random
import secrets
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from . import registry
from .core.config import Config
from .core.events import TcpInfo
from .core.isn import IsnGenerator
from .core.mux import Mux
from .core.segment import plausible_segment
from .core.state import State
from .endpoint import Endpoint
from .socket import SO_REUSEADDR, SOL_SOCKET, Socket
from .trace import Tracer
from .transport import runtime
from .transport.base import DatagramTransport
from .transport.link import LinkProfile
from .transport.registry import TransportFactory
from .transport.udp import UdpTransport

if TYPE_CHECKING:
    import trio

    from .pcap import PcapWriter
    from .stream import SocketListener, SocketStream

Address = tuple[str, int]


class Host:
    wildcard_address = "0.0.0.0"
    # Config(plpmtud=None) means this: real paths can hide black holes.
    probes_path_mtu = False

    def __init__(
        self,
        *,
        config: Config | None = None,
        rng: random.Random | None = None,
        trace: Tracer | None = None,
        pcap: str | PcapWriter | None = None,
        transport: TransportFactory | None = None,
    ) -> None:
        # transport=factory: factory(local) opens each bound port's transport;
        # its optional ``address`` is this host's own (wildcard binds use it).
        self._transport_factory = transport
        address = getattr(transport, "address", None)
        if isinstance(address, str):
            self.wildcard_address = address
        self.config = config or Config()
        self.rng = rng if rng is not None else random.Random(secrets.randbits(64))
        self.isn = IsnGenerator(self.rng)
        self.pcap = None
        if pcap is not None:
            # pcap="file.pcapng" (or a PcapWriter): every segment of this host, as TCP.
            from .pcap import PcapWriter
            from .trace import tee

            self.pcap = pcap if isinstance(pcap, PcapWriter) else PcapWriter(pcap)
            trace = tee(trace, self.pcap)
        self.trace = trace
        self._endpoints: dict[int, Endpoint] = {}

    # ------------------------------------------------------ to be provided

    def make_transport(self, local: Address) -> DatagramTransport:
        """A new datagram socket bound to ``local`` (port 0: any free port)."""
        if self._transport_factory is None:
            raise NotImplementedError("a Host needs transport=factory or a make_transport()")
        transport = self._transport_factory(local)
        if not isinstance(transport, DatagramTransport):
            raise TypeError(
                f"transport factory returned {type(transport).__name__}, "
                "which lacks DatagramTransport members"
            )
        return transport

    # ------------------------------------------------ the Socket <-> Host seam

    def loopback_address(self, unspecified: str) -> str:
        """Where a connect to the unspecified address goes: this host itself."""
        return "::1" if ":" in unspecified else "127.0.0.1"

    def wildcard(self) -> Address:
        """The address an unbound socket binds to: any port, this host's address."""
        return (self.wildcard_address, 0)

    async def resolve(self, address: object, *, peer: bool = False) -> Address:
        """Check and resolve a user's ``(host, port)`` as Python's sockets do:
        ``TypeError`` for a non-tuple, a host that is not a string or a port that
        is not an integer, ``OverflowError`` for a port outside 0-65535.  For a
        ``peer`` (connect), the unspecified address ("", "0.0.0.0", "::") means
        this host, as on Linux; for bind it means any address."""
        if not isinstance(address, tuple) or len(address) < 2:
            raise TypeError(f"address must be a (host, port) tuple, got {address!r}")
        host, port = address[0], address[1]
        if not isinstance(host, str):
            raise TypeError(f"host must be a str, not {type(host).__name__}")
        if isinstance(port, bool) or not isinstance(port, int):
            raise TypeError(f"port must be an int, not {type(port).__name__}")
        if not 0 <= port <= 65_535:
            raise OverflowError(f"port must be 0-65535, got {port}")
        if peer and port == 0:
            raise OSError(errno.ECONNREFUSED, "connect: port 0 is not a destination")
        if host in ("", "0.0.0.0", "::"):
            host = self.loopback_address(host) if peer else (host or self.wildcard_address)
        try:
            ipaddress.ip_address(host)
        except ValueError:
            host = await self._resolve_name(host)
        return (host, port)

    async def _resolve_name(self, name: str) -> str:
        import socket as _std

        infos = await runtime.current().getaddrinfo(name, _std.AF_INET)
        if not infos:  # pragma: no cover
            raise OSError(errno.EHOSTUNREACH, f"cannot resolve {name!r}")
        return str(infos[0][4][0])

    def _new_endpoint(self, transport: DatagramTransport, config: Config) -> Endpoint:
        mux = Mux(
            local=transport.local,
            config=config,
            rng=self.rng,
            isn=self.isn,
            tracer=self.trace,
            host_connections=self.connection_count,
            evict_elsewhere=self._evict_time_wait,
        )
        ep = Endpoint(self, transport, mux)
        self._endpoints[transport.local[1]] = ep
        ep.acquire()
        ep.start()
        return ep

    def bind_endpoint(self, local: Address, config: Config, *, reuse: bool) -> Endpoint:
        """The endpoint for a socket bound to ``local``: a new transport, or (with
        ``SO_REUSEADDR``) one whose only connections are in TIME-WAIT.  Its user
        count includes the caller, who ``release()``s it on close."""
        existing = self._endpoints.get(local[1]) if local[1] else None
        if existing is not None:
            only_time_wait = existing.mux.listener is None and all(
                c.state is State.TIME_WAIT for c in existing.mux.connections.values()
            )
            if reuse and only_time_wait and existing.users == 0:
                existing.mux.config = config
                existing.acquire()
                return existing
            raise OSError(errno.EADDRINUSE, f"address {local[0]}:{local[1]} is already in use")
        return self._new_endpoint(self.make_transport(local), config)

    def endpoint_for_connect(
        self, remote: Address, config: Config, endpoint: Endpoint | None = None
    ) -> Endpoint:
        """The endpoint an active open to ``remote`` uses: the socket's own (if it
        was bound) or a new one on an ephemeral port of the peer's family.  A
        transport serving nobody else is connected to the peer, so that "port
        unreachable" reaches the connection at once.  A new endpoint's user
        count includes the caller."""
        if endpoint is None:
            local = ("::", 0) if ":" in remote[0] else self.wildcard()  # the peer's family
            endpoint = self._new_endpoint(self.make_transport(local), config)
        if endpoint.mux.listener is None and not endpoint.mux.connections:
            old_port = endpoint.local[1]
            if endpoint.transport.connect(remote):
                endpoint.mux.local = endpoint.local
                if endpoint.local[1] != old_port:  # pragma: no cover - ports do not move
                    self._endpoints.pop(old_port, None)
                    self._endpoints[endpoint.local[1]] = endpoint
        return endpoint

    def endpoint_closed(self, ep: Endpoint) -> None:
        """Called by an endpoint whose task has ended: its port is free again."""
        if self._endpoints.get(ep.local[1]) is ep:
            del self._endpoints[ep.local[1]]

    # ------------------------------------------------------------ public API

    def socket(self, config: Config | None = None) -> Socket:
        return Socket(self, config or self.config)

    async def open_stream(
        self, address: str, port: int, *, config: Config | None = None
    ) -> SocketStream:
        from .stream import SocketStream

        sock = self.socket(config)
        try:
            await sock.connect((address, port))
        except BaseException:
            sock.close()
            raise
        return SocketStream(sock)

    async def open_listeners(
        self,
        port: int,
        *,
        address: str | None = None,
        config: Config | None = None,
        backlog: int = 128,
    ) -> list[SocketListener]:
        from .stream import SocketListener

        sock = self.socket(config)
        sock.setsockopt(SOL_SOCKET, SO_REUSEADDR, 1)
        try:
            await sock.bind((address or self.wildcard_address, port))
            sock.listen(backlog)
        except BaseException:
            sock.close()
            raise
        return [SocketListener(sock)]

    async def serve(
        self,
        handler: Callable[[SocketStream], Awaitable[object]],
        port: int,
        *,
        address: str | None = None,
        config: Config | None = None,
        handler_nursery: trio.Nursery | None = None,
        task_status: trio.TaskStatus[list[SocketListener]] | None = None,
    ) -> None:
        """trio only: serve ``handler`` on every connection (``trio.serve_listeners``)."""
        import trio

        listeners = await self.open_listeners(port, address=address, config=config)
        await trio.serve_listeners(
            handler,
            listeners,
            handler_nursery=handler_nursery,
            task_status=trio.TASK_STATUS_IGNORED if task_status is None else task_status,
        )

    def endpoints(self) -> list[Endpoint]:
        """The live endpoints of this host (one per bound transport)."""
        return list(self._endpoints.values())

    def abort_all(self, why: str = "host shutting down") -> None:
        """Reset every open connection of this host now, as a process's exit
        does (each peer gets a RST at once); listeners and sockets stay."""
        for ep in list(self._endpoints.values()):
            ep.abort_all(why)

    def crash(self) -> None:
        """Lose every connection at once, as a host switched off: nothing is sent."""
        for ep in list(self._endpoints.values()):
            ep.kill()
        self._endpoints.clear()

    def _evict_time_wait(self) -> bool:
        """The host is at its connection limit: free a TIME-WAIT entry anywhere."""
        for ep in list(self._endpoints.values()):
            if ep.mux.evict_time_wait():
                ep.flush()  # an endpoint left with nothing to serve can close
                return True
        return False

    def connection_count(self) -> int:
        """Connections of this host, every state (TIME-WAIT included)."""
        return sum(len(ep.mux.connections) for ep in self._endpoints.values())

    def connections(self) -> list[TcpInfo]:
        """Every connection of this host, like ``ss -ti``."""
        return [
            conn.info()
            for ep in list(self._endpoints.values())
            for conn in list(ep.mux.connections.values())
        ]

    def endpoint_stats(self) -> dict[str, int]:
        total: dict[str, int] = {}
        for ep in self._endpoints.values():
            for k, v in ep.mux.stats.items():
                total[k] = total.get(k, 0) + v
            total["internal_errors"] = total.get("internal_errors", 0) + ep.internal_errors
            # Junk the transport's filter dropped before the mux saw it.
            total["malformed"] = (
                total.get("malformed", 0) + ep.transport.junk + ep.malformed_arrivals
            )
        return total


class UdpHost(Host):
    """This machine: emutcp over real UDP sockets.

    ``impair=LinkProfile(...)`` passes every datagram this host sends through
    the emulated-link model first (loss, delay, ...), over real UDP."""

    probes_path_mtu = True

    def __init__(self, *, impair: LinkProfile | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.impair = impair

    def make_transport(self, local: Address) -> DatagramTransport:
        transport = UdpTransport(local, accept=plausible_segment)
        if self.impair is None:
            return transport
        from .transport.impaired import ImpairedTransport

        return ImpairedTransport(transport, self.impair, random.Random(self.rng.random()))

    def _new_endpoint(self, transport: DatagramTransport, config: Config) -> Endpoint:
        ep = super()._new_endpoint(transport, config)
        registry.register(ep)  # listed by `emutcp ss` in other processes
        return ep


_default_host: runtime.RunLocal[Host] = runtime.RunLocal()


def default_host() -> Host:
    """The real-UDP host of the current trio or asyncio run (created on first use)."""
    return _default_host.get(UdpHost)


def _host(host: Host | None) -> Host:
    return host if host is not None else default_host()


def socket(host: Host | None = None, config: Config | None = None) -> Socket:
    """A new emutcp socket on ``host`` (default: this machine over real UDP)."""
    return _host(host).socket(config)


async def open_stream(
    address: str, port: int, *, host: Host | None = None, config: Config | None = None
) -> SocketStream:
    return await _host(host).open_stream(address, port, config=config)


async def open_listeners(
    port: int,
    *,
    address: str | None = None,
    host: Host | None = None,
    config: Config | None = None,
    backlog: int = 128,
) -> list[SocketListener]:
    return await _host(host).open_listeners(port, address=address, config=config, backlog=backlog)


async def serve(
    handler: Callable[[SocketStream], Awaitable[object]],
    port: int,
    *,
    address: str | None = None,
    host: Host | None = None,
    config: Config | None = None,
    handler_nursery: trio.Nursery | None = None,
    task_status: trio.TaskStatus[list[SocketListener]] | None = None,
) -> None:
    await _host(host).serve(
        handler,
        port,
        address=address,
        config=config,
        handler_nursery=handler_nursery,
        task_status=task_status,
    )
