"""A datagram socket on the emulated network.

``EmulatedTransport`` is the ``DatagramTransport`` of an emulated host: what
it sends goes to a ``transmit(src, dst, data)`` callable (the network, which
applies the link model and delivers later in virtual time); what the network
delivers waits in an inbox until the endpoint takes it, or is handed over at
once through the arrival callback.  It knows nothing of TCP or of hosts.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable

from . import runtime
from .base import Address, Arrival, EcnArrival

# transmit(src, dst, data, ecn): ecn is the datagram's ECN field (RFC 3168 5).
Transmit = Callable[[Address, Address, bytes, int], None]


class EmulatedTransport:
    def __init__(
        self,
        local: Address,
        *,
        transmit: Transmit,
        on_close: Callable[[EmulatedTransport], None] | None = None,
        path_limit: Callable[[Address, Address], int | None] | None = None,
    ) -> None:
        self.local = local
        self.closed = False
        self.junk = 0
        self._transmit = transmit
        self._on_close = on_close
        self._path_limit = path_limit
        # (data, src), or (data, src, ecn) once enable_ecn() was called.
        self._inbox: deque[Arrival | EcnArrival] = deque()
        self._ecn = False
        self._rt = runtime.current()
        self._lot = self._rt.Lot()
        self._on_arrival: Callable[[], None] | None = None

    def deliver(self, data: bytes, src: Address, ecn: int = 0) -> None:
        """The network hands over one datagram from ``src`` with its ECN field."""
        self._inbox.append((data, src, ecn) if self._ecn else (data, src))
        if self._on_arrival is not None:
            self._on_arrival()  # the endpoint processes it now, in the network's task
        else:
            self._lot.unpark_all()

    def set_arrival_callback(self, callback: Callable[[], None] | None) -> bool:
        # Processing arrivals synchronously saves two task switches per
        # datagram: in virtual time those are the simulation's main cost.
        self._on_arrival = callback
        return True

    def take_too_big(self) -> list[Address]:
        return []  # an oversized datagram is dropped by the link model, silently

    def max_datagram(self, addr: Address) -> int | None:
        return self._path_limit(self.local, addr) if self._path_limit is not None else None

    def connect(self, addr: Address) -> bool:
        return False  # the emulated network reports no ICMP errors

    async def wait_readable(self) -> None:
        while not self._inbox:
            await self._lot.park()

    async def wait_writable(self) -> None:  # pragma: no cover - send never blocks
        await self._rt.checkpoint()

    def enable_ecn(self) -> bool:
        """Carry the ECN field: ``send(..., ecn)`` sets it and ``recv_batch`` yields
        ``(data, addr, ecn)`` from now on (the network always carries it)."""
        self._ecn = True
        return True

    def recv_batch(self, limit: int = 256) -> list[Arrival]:
        inbox = self._inbox
        n = min(limit, len(inbox))
        return [inbox.popleft() for _ in range(n)]  # type: ignore[misc]  # or EcnArrival

    def send(self, data: bytes, addr: Address, ecn: int = 0) -> bool:
        self._transmit(self.local, addr, data, ecn)
        return True

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            if self._on_close is not None:
                self._on_close(self)
