"""The scheduler seam: how the pure network model asks for time and callbacks.

Theory of operation
-------------------
The network model (``link.py``, ``qdisc.py``, ``topology.py``) reads no
clock and starts no tasks.  Whatever drives it hands in a ``Scheduler``:
``now()`` is the current time and ``call_at(when, fn)`` runs ``fn()`` at
``when`` (never before; callbacks due at the same time run in the order they
were scheduled).  The trio emulated network drives it through its delivery
timeline (``emulated.py``); a discrete-event engine can drive it directly.
``HeapScheduler`` is the smallest such engine: a heap run by ``run()``, for
tests and pure simulations.
"""

from __future__ import annotations

import heapq
import itertools
from collections.abc import Callable
from typing import Protocol, runtime_checkable


@runtime_checkable
class Scheduler(Protocol):
    def now(self) -> float: ...

    def call_at(self, when: float, fn: Callable[[], None]) -> None: ...


class TimelineScheduler:
    """A ``Scheduler`` over any clock and any ``schedule(when, callback)`` timeline
    (the trio shell hands in ``trio.current_time`` and its delivery timeline)."""

    def __init__(
        self,
        schedule: Callable[[float, Callable[[], None]], None],
        now: Callable[[], float],
    ) -> None:
        self.call_at = schedule
        self.now = now


def run_callback(fn: Callable[[], None]) -> None:
    """What a timeline of callbacks does with each due item."""
    fn()


class HeapScheduler:
    """A discrete-event loop: callbacks in (time, insertion) order."""

    def __init__(self, start: float = 0.0) -> None:
        self._now = start
        self._heap: list[tuple[float, int, Callable[[], None]]] = []
        self._counter = itertools.count()

    def now(self) -> float:
        return self._now

    def call_at(self, when: float, fn: Callable[[], None]) -> None:
        heapq.heappush(self._heap, (max(when, self._now), next(self._counter), fn))

    def __len__(self) -> int:
        return len(self._heap)

    def run(self, until: float | None = None) -> None:
        """Run callbacks until none are left (or the next is after ``until``)."""
        heap = self._heap
        while heap and (until is None or heap[0][0] <= until):
            when, _, fn = heapq.heappop(heap)
            self._now = when
            fn()
        if until is not None and until > self._now:
            self._now = until
