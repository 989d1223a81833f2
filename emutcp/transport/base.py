"""The ``DatagramTransport`` protocol: what emutcp needs from a datagram socket.

Theory of operation
-------------------
Everything above ``transport/`` (the endpoint task, hosts, sockets) reaches a
network only through an object with these members, so any datagram carrier
can run emutcp: real UDP (``UdpTransport``), UDP with emulated impairments
(``ImpairedTransport``), a socket on the emulated network
(``EmulatedTransport``), or your own (a DTLS tunnel, a TUN device, a
message bus). Nothing here knows TCP: the bytes are opaque, and a filter
for junk, if any, is handed in by whoever builds the transport.

The endpoint drives a transport like this::

    while True:
        await transport.wait_readable()           # or the next timer is due
        for data, addr in transport.recv_batch(limit):
            ...                                   # data None: ICMP unreachable
        while not transport.send(data, addr):     # False: would block
            await transport.wait_writable()

Three members are capabilities a transport may lack; it says so in its answer
instead of being probed with ``getattr``:

* ``connect(addr)`` restricts the socket to one peer so the network's
  "port unreachable" reaches us (``recv_batch`` yields ``(None, addr)``);
  return ``False`` if the transport cannot.
* ``set_arrival_callback(cb)``: a transport that is itself driven by a task
  (the emulated network) may call ``cb()`` synchronously as datagrams arrive,
  saving two task switches per datagram; return ``False`` if it cannot.
* ``max_datagram(addr)``: the path's limit (MTU less headers), or ``None``;
  ``take_too_big()`` lists the peers a send was refused to for its size
  (an empty list from a transport without such limits).

ECN (RFC 3168) is an optional extension, ``EcnTransport``: the ECN field
travels beside the datagram, as QUIC carries it (RFC 9000 13.4).  After
``enable_ecn()`` returns True, ``send(data, addr, ecn)`` sets the field of
the outgoing datagram and ``recv_batch`` yields ``(data, addr, ecn)``
triples.  A transport without it (or answering False) carries none, and
everything above works as before, without ECN.

Batching is another optional extension, ``BatchTransport``: ``send_many``
takes all of a pass's ``(data, addr, ecn)`` datagrams at once, so a real UDP
socket can hand runs to one peer to the kernel as one GSO ``sendmsg``.  The
endpoint uses it when present and ``send`` one by one otherwise.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Protocol, runtime_checkable

Address = tuple[str, int]
# (data, source); data is None for an ICMP port-unreachable reported by source.
Arrival = tuple[bytes | None, Address]


@runtime_checkable
class DatagramTransport(Protocol):
    """One datagram socket bound to ``local``; see the module docstring."""

    @property
    def local(self) -> Address:
        """The bound address (after ``connect``, the address actually in use)."""
        ...

    @property
    def closed(self) -> bool: ...

    @property
    def junk(self) -> int:
        """Datagrams dropped by the transport's accept filter (0 without one)."""
        ...

    def send(self, data: bytes, addr: Address) -> bool:
        """Send one datagram; ``False`` if it would block (the caller retries after
        ``wait_writable``).  A datagram lost to a soft error counts as sent."""
        ...

    def recv_batch(self, limit: int) -> list[Arrival]:
        """Up to ``limit`` datagrams waiting, without blocking."""
        ...

    async def wait_readable(self) -> None:
        """Return when ``recv_batch`` may yield something."""
        ...

    async def wait_writable(self) -> None:
        """Return when ``send`` may succeed again."""
        ...

    def connect(self, addr: Address) -> bool:
        """Restrict to one peer if supported (ICMP errors then reach us)."""
        ...

    def set_arrival_callback(self, callback: Callable[[], None] | None) -> bool:
        """Call ``callback()`` on arrivals instead of waking ``wait_readable``, if
        supported."""
        ...

    def take_too_big(self) -> list[Address]:
        """Peers a datagram could not be sent to for its size since the last call
        (the path MTU fell: ``EMSGSIZE``); ``max_datagram`` has the new limit."""
        ...

    def max_datagram(self, addr: Address) -> int | None:
        """The largest datagram the path to ``addr`` carries whole, if known
        (emutcp sizes its segments to fit); None if the transport cannot tell."""
        ...

    def close(self) -> None: ...


# (data, source, ECN field): what an ECN-enabled transport's recv_batch yields.
EcnArrival = tuple[bytes | None, Address, int]
# The ECN field's values (RFC 3168 5).
NOT_ECT, ECT1, ECT0, CE = 0, 1, 2, 3


@runtime_checkable
class EcnTransport(DatagramTransport, Protocol):
    """A transport that can carry the ECN field (see the module docstring)."""

    def enable_ecn(self) -> bool:
        """Carry the ECN field from now on; False if this transport cannot."""
        ...

    def send(self, data: bytes, addr: Address, ecn: int = NOT_ECT) -> bool: ...


@runtime_checkable
class BatchTransport(DatagramTransport, Protocol):
    """A transport that takes a pass's datagrams at once (``UdpTransport``: runs
    to one peer leave as one UDP GSO ``sendmsg``)."""

    def send_many(self, items: Sequence[tuple[bytes, Address, int]]) -> int:
        """Send ``(data, addr, ecn)`` datagrams in order (``ecn`` ignored unless
        ECN is enabled); return how many went before the socket would block."""
        ...


# What a transport's optional junk filter looks like: it sees each datagram's
# bytes before they are copied out of the receive buffer.
AcceptFilter = Callable[[memoryview], bool]
