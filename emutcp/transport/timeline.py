"""A delivery timeline: call ``deliver(item)`` at each scheduled time.

One heap and one system task (started on first use in each trio or asyncio
run) serve every datagram in flight; the task sleeps until the earliest entry
and moves its deadline earlier when an earlier entry arrives.  Used by the
emulated network, the impaired UDP transport and the relay, under the real
clock or a ``MockClock`` alike.
"""

from __future__ import annotations

import heapq
import itertools
import math
from collections.abc import Callable
from typing import Generic, TypeVar

from . import runtime

T = TypeVar("T")


class Timeline(Generic[T]):
    def __init__(self, deliver: Callable[[T], None], *, name: str) -> None:
        self._deliver = deliver
        self._name = name
        self._heap: list[tuple[float, int, T]] = []
        self._counter = itertools.count()
        self._rt: runtime.Runtime | None = None
        self._alarm: runtime.Alarm | None = None
        self._running_in: object = None

    def __len__(self) -> int:
        return len(self._heap)

    def schedule(self, when: float, item: T) -> None:
        alarm = self._ensure_running()
        heapq.heappush(self._heap, (when, next(self._counter), item))
        alarm.move(when)

    def _ensure_running(self) -> runtime.Alarm:
        rt = self._rt
        try:  # per datagram: a plain try, not a context manager
            run = rt.run_id() if rt is not None else None
        except RuntimeError:  # that loop is not running: a new run
            run = None
        if run is not None and run is self._running_in and self._alarm is not None:
            return self._alarm
        rt = self._rt = runtime.current()
        self._running_in = rt.run_id()
        self._heap.clear()
        alarm = self._alarm = rt.Alarm()
        rt.spawn_system_task(lambda: self._run(rt, alarm), name=self._name)
        return alarm

    async def _run(self, rt: runtime.Runtime, alarm: runtime.Alarm) -> None:
        heap = self._heap
        while True:  # the alarm ends each wait
            await alarm.wait(rt.sleep_forever, heap[0][0] if heap else math.inf)
            now = rt.current_time()
            while heap and heap[0][0] <= now:
                self._deliver(heapq.heappop(heap)[2])
