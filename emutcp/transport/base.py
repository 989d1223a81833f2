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

Writing a transport (the contract)
----------------------------------
Implement every member below; the ones marked *optional capability* may
answer "not supported" with the trivial body shown.  A minimal in-memory
transport is about 40 lines: see ``examples/queue_transport.py`` and the
"Writing a transport" section of README.md.

``local`` (attribute or property)
    The ``(ip, port)`` this socket is bound to, never port 0 once built: the
    host registers the endpoint under ``local[1]``.  A factory asked for
    port 0 picks a free port (its own ephemeral range).
``closed``, ``junk``
    ``closed`` turns True in ``close()``.  ``junk`` counts datagrams dropped
    by the transport's own accept filter (0 if it has none); it is reported
    as "malformed" in ``Host.endpoint_stats()``.
``send(data, addr) -> bool``
    Hand one datagram to the network *without blocking*.  ``True``: sent, or
    lost to a soft error (unreachable, no buffer, too big: TCP retransmits
    and the loss is not an error).  ``False``: would block; the endpoint
    keeps ``data`` and calls ``send`` again after ``wait_writable()``.
``recv_batch(limit) -> list[(data, addr)]``
    Up to ``limit`` datagrams already received, *without blocking*, possibly
    none.  ``data`` is ``bytes`` (one whole datagram, as sent by the peer's
    ``send``) and ``addr`` the sender's ``(ip, port)``; ``data`` is ``None``
    only to report an ICMP port unreachable from ``addr`` (a connected
    transport).  The endpoint passes ``limit`` positionally (16,384).
``async wait_readable()``
    Return when ``recv_batch`` may have something (returning early is
    harmless: the endpoint then finds an empty batch).  It must be
    cancellable (the endpoint cancels it when a timer is due), so it waits
    on a trio primitive (``trio.lowlevel.wait_readable(fd)``, a
    ``ParkingLot``, an ``Event``), never in a blocking call.
``async wait_writable()``
    Return when ``send`` may succeed again; a transport whose ``send`` never
    returns ``False`` may just ``await trio.lowlevel.checkpoint()``.
``connect(addr) -> bool`` *(optional capability)*
    ``return False`` if unsupported.  If supported, afterwards ``local`` is
    the address in use and ICMP errors from ``addr`` are reported.
``set_arrival_callback(cb) -> bool`` *(optional capability)*
    ``return False`` if unsupported.  If it returns True, call ``cb()`` (in
    a trio task, never another thread) after queuing arrivals, instead of
    waking ``wait_readable``; ``cb`` runs the endpoint's input processing at
    once, so it must not be called from inside ``send``.
``max_datagram(addr) -> int | None`` *(optional capability)*
    ``return None`` if unknown.  Otherwise the largest datagram that crosses
    the path whole; segments are sized to fit.
``take_too_big() -> list[addr]`` *(optional capability)*
    ``return []`` if the transport never refuses a datagram for its size.
``close()``
    Release the resource; idempotent.  After it, no member is called again.

Threading and blocking
    Every member is called from the one trio thread running the host, from
    the endpoint's task or an application task; a transport needs no locks.
    A transport fed by another thread (a message bus client, say) hands
    arrivals over with ``trio.from_thread.run_sync`` or a trio token.  No
    synchronous member may block: a blocking ``send`` or ``recv_batch``
    stalls every connection of the host (timers included).

Errors
    ``send`` maps transient conditions to ``True`` (lost) or ``False``
    (would block) and raises only when the transport is unusable.  An
    exception raised by any member, an async member that fails, or a
    ``recv_batch`` item that is not ``(bytes | None, (str, int))`` is never
    fatal to trio: a malformed item is dropped, logged once and counted
    (``malformed`` in ``Host.endpoint_stats()``); an
    exception fails every connection of that endpoint with
    ``OSError(EIO, "transport <class> failed: ...")`` raised by the socket
    calls (the listener stops accepting), is logged once on the
    ``emutcp.endpoint`` logger, and the endpoint closes the transport.  A
    transport that stays unwritable (``send`` False, ``wait_writable`` never
    returning) does not stop the timers: its connections time out by their
    own rules (SYN retries, user timeout) with the usual errors.

Datagram contents
    The bytes are emutcp's segment encoding (``core/segment.py``) unless the
    transport translates: a transport may carry another wire format (real
    TCP/IP on a TUN device, see ``emutcp/tun.py``) as long as what it hands
    to ``recv_batch`` and receives in ``send`` is that encoding.

Building hosts over a transport: ``emutcp.Host(transport=factory)`` where
``factory(local) -> DatagramTransport`` opens one transport per bound port;
or register a named plugin (``registry.py``, entry-point group
``emutcp.transports``) and every CLI verb takes ``--transport NAME``.

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
