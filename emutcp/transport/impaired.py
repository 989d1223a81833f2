"""Link impairments on a real UDP socket, inside one process.

``ImpairedTransport`` wraps a ``UdpTransport``: every outgoing datagram first
crosses a ``Link`` (the emulated network's impairment model: loss, bursts,
delay, jitter, reordering, duplication, corruption, rate and queue), then is
sent for real when its delivery time comes.  ``UdpHost(impair=profile)``
uses it for every socket of the host; ``emutcp relay`` applies the same model
between two real hosts.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from typing import TYPE_CHECKING

from . import runtime
from .base import Address, Arrival, DatagramTransport
from .link import Delivery, Link, LinkProfile
from .timeline import Timeline

if TYPE_CHECKING:
    from .registry import TransportFactory, TransportOptions


class ImpairedTransport:
    """A ``DatagramTransport`` whose sends cross a ``Link`` before ``inner`` sends them."""

    def __init__(self, inner: DatagramTransport, profile: LinkProfile, rng: random.Random) -> None:
        self.inner = inner
        self.link = Link("local", "remote", profile, rng)
        self._timeline = Timeline(self._send_now, name="emutcp-impaired-udp")

    @property
    def local(self) -> Address:
        return self.inner.local

    @property
    def closed(self) -> bool:
        return self.inner.closed

    @property
    def junk(self) -> int:
        return self.inner.junk

    def connect(self, addr: Address) -> bool:
        return self.inner.connect(addr)

    def set_arrival_callback(self, callback: Callable[[], None] | None) -> bool:
        return self.inner.set_arrival_callback(callback)

    def take_too_big(self) -> list[Address]:
        return self.inner.take_too_big()

    def max_datagram(self, addr: Address) -> int | None:
        limits = [m for m in (self.inner.max_datagram(addr), self.link.profile.mtu) if m]
        return min(limits) if limits else None

    async def wait_readable(self) -> None:
        await self.inner.wait_readable()

    async def wait_writable(self) -> None:
        await self.inner.wait_writable()

    def recv_batch(self, limit: int = 256) -> list[Arrival]:
        return self.inner.recv_batch(limit)

    def send(self, data: bytes, addr: Address) -> bool:
        for when, d in self.link.plan(data, runtime.current_time()):
            self._timeline.schedule(when, (d, addr))
        return True

    def _send_now(self, item: tuple[Delivery, Address]) -> None:
        d, addr = item
        if self.link.delivered(d) and not self.inner.closed:
            self.inner.send(d.payload, addr)

    def close(self) -> None:
        self.inner.close()


def plugin(options: TransportOptions) -> TransportFactory:
    """The ``impaired`` entry point: real UDP whose sends cross the link model
    (``options.impair``; no impairment if None), seeded by ``options.rng``."""
    from .udp import UdpTransport

    profile = options.impair or LinkProfile()
    rng = options.rng or random.Random()

    def factory(local: Address) -> DatagramTransport:
        inner = UdpTransport(local, accept=options.accept)
        return ImpairedTransport(inner, profile, random.Random(rng.random()))

    return factory
