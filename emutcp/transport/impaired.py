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

import trio

from .emulated import Link, LinkProfile
from .timeline import Timeline


class ImpairedTransport:
    def __init__(self, inner, profile: LinkProfile, rng: random.Random) -> None:
        self.inner = inner
        self.link = Link("local", "remote", profile, rng)
        self._timeline = Timeline(self._send_now, name="emutcp-impaired-udp")

    @property
    def local(self):
        return self.inner.local

    @property
    def closed(self) -> bool:
        return self.inner.closed

    def connect(self, addr) -> None:
        self.inner.connect(addr)

    async def wait_readable(self) -> None:
        await self.inner.wait_readable()

    async def wait_writable(self) -> None:
        await self.inner.wait_writable()

    def recv_batch(self, limit: int = 256):
        return self.inner.recv_batch(limit)

    def send(self, data: bytes, addr) -> bool:
        for when, d in self.link.plan(data, trio.current_time()):
            self._timeline.schedule(when, (d, addr))
        return True

    def _send_now(self, item) -> None:
        d, addr = item
        if self.link.delivered(d) and not self.inner.closed:
            self.inner.send(d.payload, addr)

    def close(self) -> None:
        self.inner.close()
