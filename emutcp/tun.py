"""The ``tun`` transport: emutcp speaking real TCP/IP to the Linux kernel.

Theory of operation
-------------------
``TunNetwork("10.77.0.0/24")`` creates a TUN device (``transport/tun.py``):
the kernel's side is ``10.77.0.1``, emutcp is ``10.77.0.2``.  Every port of
``.2`` belongs to emutcp and every port of ``.1`` to the kernel, so the
kernel's TCP stack is an ordinary peer: ``curl``/``nc``/Python sockets
connect to ``.2``, emutcp connects to servers listening on ``.1``, and
``tcpdump -i <device>`` shows real TCP.

Each port emutcp binds on ``.2`` is one ``TunPortTransport`` (a
``DatagramTransport``).  The transports speak emutcp's segment encoding to
the endpoint above them, as every transport does, and the network
translates at the device: a packet from the kernel is validated and parsed
by ``wire/tcpip.py`` (checksums verified; anything else is dropped and
counted), re-encoded as an emutcp segment and queued on the transport bound
to its destination port; a segment emutcp sends becomes a TCP/IP packet from
``(.2, port)`` to the peer address (the TCP ports are the addresses' ports).

A segment for a port of ``.2`` where nothing is bound gets the RST a kernel
would send (RFC 9293 3.10.7.1, ``closed_port_reply``); packets for other
addresses are dropped and counted (``stats``).

One reader task (a trio system task, started with the first transport)
drains the device in batches and hands each batch to the endpoints through
their arrival callbacks, so a packet is processed in the same task switch
that read it.
If the device fails under it (deleted with ``ip link del``), every port's
``recv_batch`` raises that error, so each endpoint fails its connections
with ``OSError(EIO)`` rather than the system task crashing trio.

``plugin(options)`` is the ``tun`` entry point (``--transport tun
--tun-net NET``); ``options.network`` is required.
"""

from __future__ import annotations

import itertools
from collections import Counter, deque
from collections.abc import Callable
from typing import TYPE_CHECKING

import trio

from .core.mux import closed_port_reply
from .core.segment import MalformedSegment, decode_segment, encode_segment, segment_overhead
from .transport.base import Address, Arrival
from .transport.tun import TunDevice
from .wire.tcpip import decode_packet, encode_packet

if TYPE_CHECKING:
    from .transport.registry import TransportFactory, TransportOptions

# Worst-case bytes a TCP/IP packet adds to a payload: IP header, TCP header and
# 40 bytes of options (RFC 9293 3.7.1: segments fit the interface MTU).
_TCP_OVERHEAD = 20 + 40
_BATCH = 1024


class TunPortTransport:
    """The ``DatagramTransport`` of one port of emutcp's TUN address."""

    def __init__(self, network: TunNetwork, local: Address) -> None:
        self.network = network
        self.local = local
        self.closed = False
        self.junk = 0
        self._inbox: deque[Arrival] = deque()
        self._lot = trio.lowlevel.ParkingLot()
        self._on_arrival: Callable[[], None] | None = None
        self._failure: OSError | None = None

    def fail(self, error: OSError) -> None:
        """The device failed: the endpoint learns it from ``recv_batch``."""
        self._failure = error
        self.notify()

    def arrive(self, data: bytes, src: Address) -> None:
        self._inbox.append((data, src))

    def notify(self) -> None:
        if self._on_arrival is not None:
            self._on_arrival()
        else:
            self._lot.unpark_all()

    def send(self, data: bytes, addr: Address) -> bool:
        self.network.send(data, self.local, addr)
        return True  # a packet the device refuses is lost; TCP retransmits

    def recv_batch(self, limit: int) -> list[Arrival]:
        if self._failure is not None:
            raise self._failure  # the endpoint fails its connections with it
        inbox = self._inbox
        return [inbox.popleft() for _ in range(min(limit, len(inbox)))]

    async def wait_readable(self) -> None:
        while not self._inbox and self._failure is None:
            await self._lot.park()

    async def wait_writable(self) -> None:  # pragma: no cover - send never blocks
        await trio.lowlevel.checkpoint()

    def connect(self, addr: Address) -> bool:
        return False  # the kernel answers a closed port with RST; no ICMP needed

    def set_arrival_callback(self, callback: Callable[[], None] | None) -> bool:
        self._on_arrival = callback
        return True

    def max_datagram(self, addr: Address) -> int | None:
        # The endpoint takes segment_overhead() off this for the MSS: leave the
        # room TCP/IP headers and options need in the device's MTU instead.
        ip_header = 40 if ":" in self.local[0] else 20
        return self.network.device.mtu - ip_header - _TCP_OVERHEAD + segment_overhead()

    def take_too_big(self) -> list[Address]:
        return []

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            self.network.unbind(self)


class TunNetwork:
    """A TUN device shared by the transports of one host (see the module doc)."""

    def __init__(self, network: str, *, name: str = "emutcp%d", mtu: int = 1500) -> None:
        self.device = TunDevice(network, name=name, mtu=mtu)
        self.address = self.device.address  # emutcp's (.2)
        self.kernel_address = self.device.kernel_address  # the kernel's (.1)
        self.ports: dict[int, TunPortTransport] = {}
        self.stats: Counter[str] = Counter()
        self._ephemeral = itertools.cycle(range(49_152, 65_536))
        self._ident = itertools.count(1)
        self._reader_started = False

    @property
    def name(self) -> str:
        return self.device.name

    def open(self, local: Address) -> TunPortTransport:
        """A transport bound to ``local`` (the wildcard or ``.2``; port 0: any)."""
        ip, port = local
        if ip not in (self.address, "0.0.0.0", "::", ""):
            raise OSError(99, f"cannot bind {ip}: emutcp's TUN address is {self.address}")
        if port == 0:
            for _ in range(16_384):
                port = next(self._ephemeral)
                if port not in self.ports:
                    break
            else:  # pragma: no cover
                raise OSError(98, "no free ephemeral port")
        elif port in self.ports:
            raise OSError(98, f"address {self.address}:{port} is already in use")
        transport = TunPortTransport(self, (self.address, port))
        self.ports[port] = transport
        if not self._reader_started:
            self._reader_started = True
            trio.lowlevel.spawn_system_task(self._reader, name=f"emutcp-tun-{self.name}")
        return transport

    def unbind(self, transport: TunPortTransport) -> None:
        if self.ports.get(transport.local[1]) is transport:
            del self.ports[transport.local[1]]

    def send(self, datagram: bytes, src: Address, dst: Address) -> None:
        """An emutcp segment from ``src`` (ours) to ``dst``, as a TCP/IP packet."""
        try:
            seg = decode_segment(datagram)
        except MalformedSegment:  # pragma: no cover - our own encoder wrote it
            self.stats["unencodable"] += 1
            return
        if not self.device.write(encode_packet(seg, src, dst, ident=next(self._ident))):
            self.stats["write_dropped"] += 1

    async def _reader(self) -> None:
        device = self.device
        try:
            while not device.closed:
                await device.wait_readable()
                self.receive_packets(device.read_batch(_BATCH))
        except (OSError, trio.ClosedResourceError) as exc:
            if device.closed:
                return
            # The device went away under us (``ip link del``): every port fails
            # with a clear error instead of this system task crashing trio.
            error = OSError(getattr(exc, "errno", None), f"TUN device {self.name}: {exc}")
            self.stats["device_failed"] += 1
            for transport in list(self.ports.values()):
                transport.fail(error)

    def receive_packets(self, packets: list[bytes]) -> None:
        """Translate and queue a batch, then wake each transport that got some."""
        touched: dict[TunPortTransport, None] = {}
        for packet in packets:
            try:
                src, dst, seg = decode_packet(packet)
            except MalformedSegment:  # not TCP (IPv6 router solicitations, ...) or corrupt
                self.stats["not_tcp_or_malformed"] += 1
                continue
            if dst[0] != self.address:
                self.stats["not_ours"] += 1
                continue
            transport = self.ports.get(dst[1])
            if transport is None:
                reply = closed_port_reply(seg, dst[1])  # RFC 9293 3.10.7.1
                if reply is not None:
                    self.stats["closed_port_rst"] += 1
                    self.device.write(encode_packet(reply, dst, src, ident=next(self._ident)))
                continue
            transport.arrive(encode_segment(seg), src)
            touched[transport] = None
        for transport in touched:
            if not transport.closed:
                transport.notify()

    def factory(self) -> TransportFactory:
        """The host's transport factory; its ``address`` is emutcp's ``.2``."""

        def make(local: Address) -> TunPortTransport:
            return self.open(local)

        make.address = self.address  # type: ignore[attr-defined]
        make.network = self  # type: ignore[attr-defined]
        return make

    def close(self) -> None:
        """Remove the device (its address and route go with it)."""
        self.device.close()


def plugin(options: TransportOptions) -> TransportFactory:
    """The ``tun`` entry point: ``options.network`` (``--tun-net``) is required."""
    if not options.network:
        raise ValueError("--transport tun needs --tun-net, e.g. --tun-net 10.77.0.0/24")
    return TunNetwork(options.network, mtu=options.mtu or 1500).factory()
