"""The discrete-event engine: one event heap, one clock, no tasks.

Theory of operation
-------------------
An ``Engine`` holds a heap of ``[when, n, fn, args]`` entries and a clock.
``run(until)`` pops the earliest entry, moves the clock to its time and calls
``fn(*args)``.  Once every entry due at the current instant has run, it
drains the *ready* queue (``soon``): the work those events woke (an
application whose connection has news), which runs before the clock moves
on.  That is trio's order: the delivery task hands over every datagram due
at that instant, then the tasks it woke run, then the ``MockClock`` jumps.
Ties at one time are served in the order they were scheduled (``n``), so a
run is a pure function of its inputs.

The clock advances as trio's ``MockClock(autojump_threshold=0)`` does:
``t += when - t`` (repeated while ``t < when``, which floating point can
need), not ``t = when``.  The two differ in the last bit now and then; doing
the same arithmetic keeps the engine's times equal to the trio engine's, so
both can be compared byte for byte.

The engine implements the network model's scheduler protocol, ``now()`` and
``call_at(when, fn)`` (``Scheduler`` below, structurally the protocol of
``emutcp.transport.scheduler``), so routers, queues and links written against
that protocol run on it unchanged.  ``schedule`` returns a handle that
``cancel`` turns into a no-op: a cancelled entry is skipped without moving
the clock.
"""

from __future__ import annotations

import heapq
import itertools
from collections import deque
from collections.abc import Callable
from typing import Any, Protocol


class Scheduler(Protocol):
    """What a pure network model needs from whoever drives it."""

    def now(self) -> float: ...

    def call_at(self, when: float, fn: Callable[[], None]) -> None: ...


Entry = list[Any]  # [when, n, fn or None when cancelled, args]


class Engine:
    def __init__(self) -> None:
        self._heap: list[Entry] = []
        self._count = itertools.count()
        self._ready: deque[tuple[Callable[..., None], tuple[Any, ...]]] = deque()
        self._t = 0.0
        self._stopped = False
        self.events = 0  # events run, for the benchmarks

    # -------------------------------------------------- the scheduler protocol

    def now(self) -> float:
        return self._t

    def call_at(self, when: float, fn: Callable[[], None]) -> None:
        """Run ``fn()`` at ``when``: never before, and a time already past means
        now, after what is already due now (the protocol's contract)."""
        heapq.heappush(self._heap, [max(when, self._t), next(self._count), fn, ()])

    # --------------------------------------------------------------- extras

    def schedule(self, when: float, fn: Callable[..., None], *args: Any) -> Entry:
        """Call ``fn(*args)`` at ``when``; the returned handle can be ``cancel``led."""
        entry = [when, next(self._count), fn, args]
        heapq.heappush(self._heap, entry)
        return entry

    def schedule_args(self, when: float, fn: Callable[..., None], args: tuple[Any, ...]) -> None:
        """``schedule(when, fn, *args)`` without a handle (and without packing
        ``args`` again: the per-datagram form)."""
        heapq.heappush(self._heap, [when, next(self._count), fn, args])

    @staticmethod
    def cancel(entry: Entry) -> None:
        entry[2] = None

    def soon(self, fn: Callable[..., None], *args: Any) -> None:
        """Call ``fn(*args)`` after the current event, before the clock moves."""
        self._ready.append((fn, args))

    def stop(self) -> None:
        """End ``run`` after the current event."""
        self._stopped = True

    def pending(self) -> int:
        return len(self._heap)

    def run(self, until: float | None = None) -> float:
        """Run events until the heap is empty, ``stop()`` or the first event after
        ``until`` (the clock then stands at ``until``).  Returns the clock."""
        heap, ready = self._heap, self._ready
        pop = heapq.heappop
        popleft = ready.popleft
        self._stopped = False
        events = 0
        t = self._t
        while not self._stopped:
            if ready and (not heap or heap[0][0] > t):
                # Everything due at this instant has run: now the woken work.
                f, args = popleft()
                f(*args)
                continue
            if not heap:
                break
            entry = heap[0]
            when = entry[0]
            if until is not None and when > until:
                break
            pop(heap)
            fn = entry[2]
            if fn is None:
                continue  # cancelled: the clock does not visit it
            while t < when:  # MockClock's arithmetic (see the module docstring)
                t += when - t
            self._t = t
            events += 1
            fn(*entry[3])
        self.events += events
        if until is not None and not self._stopped and t < until:
            while t < until:
                t += until - t
            self._t = t
        return self._t
