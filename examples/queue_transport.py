"""An emutcp transport plugin: hosts joined by in-memory queues.

Written from the contract in ``emutcp/transport/base.py`` only.  A
``QueueNetwork`` is a switch in memory: each transport registers its
``(ip, port)`` and ``send`` appends the datagram to the destination's inbox
(a datagram to nobody is dropped, as UDP does).  Nothing is lost, delayed or
reordered, so it is the smallest thing that carries emutcp.

Use it directly::

    net = QueueNetwork()
    server = emutcp.Host(transport=net.factory("10.1.0.1"))
    client = emutcp.Host(transport=net.factory("10.1.0.2"))

or as a named plugin (``--transport queue``) by registering ``plugin``: in
this process with ``emutcp.transport.registry.register("queue", plugin)``,
or from a package's ``pyproject.toml``::

    [project.entry-points."emutcp.transports"]
    queue = "queue_transport:plugin"
"""

from __future__ import annotations

import ipaddress
import itertools
from collections import deque

import trio

from emutcp.transport.registry import TransportFactory, TransportOptions

Address = tuple[str, int]


class QueueTransport:
    """One ``DatagramTransport`` socket on a ``QueueNetwork``."""

    def __init__(self, network: QueueNetwork, local: Address) -> None:
        self.network = network
        self.local = local
        self.closed = False
        self.junk = 0  # no accept filter here: nothing is dropped as junk
        self.inbox: deque[tuple[bytes, Address]] = deque()
        self._arrived = trio.Event()

    # -- required members
    def send(self, data: bytes, addr: Address) -> bool:
        self.network.deliver(bytes(data), self.local, addr)
        return True  # never blocks: an inbox has no limit

    def recv_batch(self, limit: int) -> list[tuple[bytes | None, Address]]:
        n = min(limit, len(self.inbox))
        return [self.inbox.popleft() for _ in range(n)]

    async def wait_readable(self) -> None:
        while not self.inbox:  # cancellable: the endpoint's timers cancel it
            self._arrived = trio.Event()
            await self._arrived.wait()

    async def wait_writable(self) -> None:
        await trio.lowlevel.checkpoint()

    def arrive(self, data: bytes, src: Address) -> None:
        self.inbox.append((data, src))
        self._arrived.set()

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            self.network.unbind(self)

    # -- optional capabilities this transport does not have
    def connect(self, addr: Address) -> bool:
        return False

    def set_arrival_callback(self, callback: object) -> bool:
        return False

    def max_datagram(self, addr: Address) -> int | None:
        return None

    def take_too_big(self) -> list[Address]:
        return []


class QueueNetwork:
    """The in-memory switch: ``(ip, port)`` -> transport."""

    def __init__(self) -> None:
        self.sockets: dict[Address, QueueTransport] = {}
        self._ports = itertools.cycle(range(49_152, 65_536))
        self.delivered = 0

    def bind(self, ip: str, local: Address) -> QueueTransport:
        if local[0] not in (ip, "0.0.0.0", ""):
            raise OSError(99, f"cannot bind {local[0]}: this host is {ip}")
        port = local[1]
        while port == 0 or ((ip, port) in self.sockets and local[1] == 0):
            port = next(self._ports)
        if (ip, port) in self.sockets:
            raise OSError(98, f"{ip}:{port} is in use")
        transport = QueueTransport(self, (ip, port))
        self.sockets[(ip, port)] = transport
        return transport

    def unbind(self, transport: QueueTransport) -> None:
        if self.sockets.get(transport.local) is transport:
            del self.sockets[transport.local]

    def deliver(self, data: bytes, src: Address, dst: Address) -> None:
        target = self.sockets.get(dst)
        if target is not None:
            self.delivered += 1
            target.arrive(data, src)

    def factory(self, ip: str) -> TransportFactory:
        """A host's transport factory: its sockets get address ``ip``."""

        def make(local: Address) -> QueueTransport:
            return self.bind(ip, local)

        make.address = ip  # type: ignore[attr-defined]  # wildcard binds use it
        return make


_shared = QueueNetwork()


def plugin(options: TransportOptions) -> TransportFactory:
    """The entry point: hosts of this process on one shared queue network; the
    first address of ``options.network`` (default 10.1.0.0/24) is this one."""
    net = ipaddress.ip_network(options.network or "10.1.0.0/24", strict=False)
    return _shared.factory(str(next(net.hosts())))
