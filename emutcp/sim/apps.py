"""Sans-IO applications for the discrete-event engine.

Each application is a small object with ``start(sock)`` (the connection is
established: take over ``sock``) and ``wake(sock, events)`` (the core
reported ``events`` for it).  They make the same socket calls, in the same
order and sizes, as the trio code in ``lab/flows.py`` (a bulk sender writes
64 KiB chunks, a sink reads up to 1 MiB at a time), so both engines put the
same segments on the wire.  None of them blocks, sleeps or spawns anything:
what they wait for arrives as a ``wake``; timed behaviour (on/off) uses the
engine's ``schedule``.

* ``BulkSender``: keeps the send buffer full forever.
* ``Sink``: reads everything, counts bytes, notes the time of each milestone.
* ``FixedSender``: sends ``nbytes``, then (optionally) closes.
* ``RequestResponse`` / ``Responder``: a client sends a request of fixed
  size and waits for a response of fixed size, ``count`` times; the server
  answers each request.  Latencies are recorded.
* ``OnOff``: a bulk sender that alternates ``on`` seconds of sending with
  ``off`` seconds of silence (fixed, or exponential from a seeded RNG).
"""

from __future__ import annotations

import random
from collections.abc import Callable, Collection
from typing import Any

from ..core.events import Event
from .network import SimSocket

CHUNK = 65_536  # what lab/flows.py's bulk source writes per send_all
READ_SIZE = 1 << 20  # what its sink asks receive_some for

_WRITER_EVENTS = frozenset({Event.WRITABLE, Event.RESET, Event.TIMED_OUT, Event.CLOSED})
_READER_EVENTS = frozenset({Event.READABLE, Event.EOF, Event.RESET, Event.TIMED_OUT, Event.CLOSED})


class App:
    """Base: remembers its socket; subclasses react to wakes."""

    sock: SimSocket | None = None

    def start(self, sock: SimSocket) -> None:
        self.sock = sock
        sock.app = self
        self.on_start(sock)

    def on_start(self, sock: SimSocket) -> None:
        pass

    def wake(self, sock: SimSocket, events: Collection[Event]) -> None:
        pass


class BulkSender(App):
    """Always has data to send: the send buffer is refilled whenever it drains."""

    def __init__(self, chunk: int = CHUNK, limit: int | None = None) -> None:
        self._chunk = bytes(chunk)
        self._view = memoryview(b"")
        self.queued = 0
        self.limit = limit  # stop after this many bytes (FixedSender)
        self.failed: OSError | None = None
        self.paused = False

    def on_start(self, sock: SimSocket) -> None:
        self.fill(sock)

    def wake(self, sock: SimSocket, events: Collection[Event]) -> None:
        if not _WRITER_EVENTS.isdisjoint(events):
            self.fill(sock)

    def fill(self, sock: SimSocket) -> None:
        """Write until the send buffer is full (as trio's sendall loop does)."""
        if self.paused or self.failed is not None or sock.closed:
            return
        try:
            while True:
                if not self._view:
                    if self.limit is not None and self.queued >= self.limit:
                        self.done(sock)
                        return
                    size = len(self._chunk)
                    if self.limit is not None:
                        size = min(size, self.limit - self.queued)
                    self._view = memoryview(self._chunk)[:size]
                n = sock.send(self._view)
                if not n:
                    return
                self._view = self._view[n:]
                self.queued += n
        except OSError as exc:
            self.failed = exc

    def done(self, sock: SimSocket) -> None:
        pass


class FixedSender(BulkSender):
    """Sends ``nbytes`` and then closes (``close=True``) or stays open."""

    def __init__(self, nbytes: int, *, close: bool = True, chunk: int = CHUNK) -> None:
        super().__init__(chunk, limit=nbytes)
        self.close = close
        self.finished = False

    def done(self, sock: SimSocket) -> None:
        if not self.finished:
            self.finished = True
            if self.close:
                sock.close()


class Sink(App):
    """Reads everything; ``received`` bytes so far, ``eof_at`` when the peer closed.
    ``on_bytes(total, now)`` (if given) runs after each read; ``expect`` bytes
    read sets ``done_at``."""

    def __init__(
        self,
        expect: int | None = None,
        on_bytes: Callable[[int, float], None] | None = None,
        close_at_eof: bool = False,
    ) -> None:
        self.received = 0
        self.expect = expect
        self.done_at: float | None = None
        self.eof_at: float | None = None
        self.on_bytes = on_bytes
        self.close_at_eof = close_at_eof

    def on_start(self, sock: SimSocket) -> None:
        self.drain(sock)

    def wake(self, sock: SimSocket, events: Collection[Event]) -> None:
        if not _READER_EVENTS.isdisjoint(events):
            self.drain(sock)

    def drain(self, sock: SimSocket) -> None:
        while not sock.closed:
            data = sock.recv(READ_SIZE)
            if not data:
                break
            self.received += len(data)
            now = sock.now()
            if self.on_bytes is not None:
                self.on_bytes(self.received, now)
            if self.expect is not None and self.done_at is None and self.received >= self.expect:
                self.done_at = now
        if sock.at_eof and self.eof_at is None and not sock.closed:
            self.eof_at = sock.now()
            if self.close_at_eof:
                sock.close()


class RequestResponse(App):
    """The client: ``count`` requests of ``request`` bytes, each answered by
    ``response`` bytes; ``latencies`` from sending a request to the last byte
    of its response.  Closes when done."""

    def __init__(self, request: int, response: int, count: int) -> None:
        self.request, self.response, self.count = request, response, count
        self.latencies: list[float] = []
        self._got = 0
        self._sent_at = 0.0
        self._pending = memoryview(b"")

    def on_start(self, sock: SimSocket) -> None:
        self._ask(sock)

    def _ask(self, sock: SimSocket) -> None:
        self._sent_at = sock.now()
        self._got = 0
        self._pending = memoryview(bytes(self.request))
        self._push(sock)

    def _push(self, sock: SimSocket) -> None:
        while self._pending:
            n = sock.send(self._pending)
            if not n:
                return
            self._pending = self._pending[n:]

    def wake(self, sock: SimSocket, events: Collection[Event]) -> None:
        if sock.closed:
            return
        if self._pending:
            self._push(sock)
        while data := sock.recv(READ_SIZE):
            self._got += len(data)
            if self._got >= self.response:
                self.latencies.append(sock.now() - self._sent_at)
                if len(self.latencies) >= self.count:
                    sock.close()
                    return
                self._ask(sock)


class Responder(App):
    """The server side of ``RequestResponse``: answers every ``request`` bytes
    read with ``response`` bytes; closes when the client does."""

    def __init__(self, request: int, response: int) -> None:
        self.request, self.response = request, response
        self._got = 0
        self._pending = memoryview(b"")
        self.answered = 0

    def on_start(self, sock: SimSocket) -> None:
        self.wake(sock, (Event.READABLE,))

    def wake(self, sock: SimSocket, events: Collection[Event]) -> None:
        if sock.closed:
            return
        self._push(sock)
        while data := sock.recv(READ_SIZE):
            self._got += len(data)
            while self._got >= self.request:
                self._got -= self.request
                self.answered += 1
                self._pending = memoryview(bytes(self._pending) + bytes(self.response))
            self._push(sock)
        if sock.at_eof and not self._pending:
            sock.close()

    def _push(self, sock: SimSocket) -> None:
        while self._pending:
            n = sock.send(self._pending)
            if not n:
                return
            self._pending = self._pending[n:]


class OnOff(BulkSender):
    """A bulk sender that is on for ``on`` seconds, then off for ``off`` seconds,
    and so on; with ``rng`` each period is drawn from an exponential
    distribution of that mean (the classic on/off source)."""

    def __init__(self, on: float, off: float, *, rng: random.Random | None = None) -> None:
        super().__init__()
        self.on, self.off, self.rng = on, off, rng
        self.periods = 0

    def _period(self, mean: float) -> float:
        return self.rng.expovariate(1 / mean) if self.rng is not None else mean

    def on_start(self, sock: SimSocket) -> None:
        self._switch(sock, True)

    def _switch(self, sock: SimSocket, on: bool) -> None:
        if sock.closed:
            return
        self.paused = not on
        if on:
            self.periods += 1
            self.fill(sock)
        engine: Any = sock.endpoint.engine
        engine.schedule(
            sock.now() + self._period(self.on if on else self.off), self._switch, sock, not on
        )
