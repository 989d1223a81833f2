"""A delivery timeline: call ``deliver(item)`` at each scheduled trio time.

One heap and one trio system task (started on first use in each trio run)
serve every datagram in flight; the task sleeps until the earliest entry and
moves its deadline earlier when an earlier entry arrives.  Used by the
emulated network, the impaired UDP transport and the relay, under the real
clock or a ``MockClock`` alike.
"""

from __future__ import annotations

import heapq
import itertools
import math
from collections.abc import Callable
from typing import Generic, TypeVar

import trio

T = TypeVar("T")


class Timeline(Generic[T]):
    def __init__(self, deliver: Callable[[T], None], *, name: str) -> None:
        self._deliver = deliver
        self._name = name
        self._heap: list[tuple[float, int, T]] = []
        self._counter = itertools.count()
        self._scope: trio.CancelScope | None = None
        self._running_in: object = None

    def __len__(self) -> int:
        return len(self._heap)

    def schedule(self, when: float, item: T) -> None:
        self._ensure_running()
        heapq.heappush(self._heap, (when, next(self._counter), item))
        scope = self._scope
        if scope is not None and when < scope.deadline:
            scope.deadline = when

    def _ensure_running(self) -> None:
        token = trio.lowlevel.current_trio_token()
        if self._running_in is token:
            return
        self._running_in = token
        self._heap.clear()
        trio.lowlevel.spawn_system_task(self._run, name=self._name)

    async def _run(self) -> None:
        heap = self._heap
        while True:
            with trio.CancelScope(deadline=heap[0][0] if heap else math.inf) as scope:
                self._scope = scope
                await trio.sleep_forever()
            self._scope = None
            now = trio.current_time()
            while heap and heap[0][0] <= now:
                self._deliver(heapq.heappop(heap)[2])
