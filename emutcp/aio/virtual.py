"""Virtual time for asyncio: ``run_virtual(main())`` as trio's autojumping ``MockClock``.

Theory of operation
-------------------
An asyncio loop sleeps in ``selector.select(timeout)``, where ``timeout`` is
the time to its earliest timer.  ``VirtualTimeLoop`` keeps its own clock
(``time()``, starting at 0) and wraps the selector: ``select`` first polls
the real file descriptors without blocking; if nothing is ready and the loop
would sleep until a timer, the clock jumps to that timer instead of waiting.
So a program whose only waits are timers (the emulated network, TCP's
retransmission and TIME-WAIT timers, ``asyncio.sleep``) runs as fast as the
CPU allows, and the same seed gives the same run (asyncio runs ready
callbacks in FIFO order).  Real sockets still work; with nothing scheduled at
all, the loop blocks on them as usual.
"""

from __future__ import annotations

import asyncio
import selectors
from collections.abc import Coroutine
from typing import Any, TypeVar

T = TypeVar("T")


class _JumpingSelector(selectors.DefaultSelector):
    """Polls; when the loop would sleep until a timer, moves the clock there."""

    def __init__(self) -> None:
        super().__init__()
        self.clock = 0.0

    def select(self, timeout: float | None = None) -> list[Any]:
        events = super().select(0)
        if events or (timeout is not None and timeout <= 0):
            return events
        if timeout is None:  # no timer at all: wait for the real descriptors
            return super().select(None)
        self.clock += timeout  # sleep until the earliest timer: jump there
        return []


class VirtualTimeLoop(asyncio.SelectorEventLoop):
    """An asyncio event loop on a virtual, autojumping clock (see the module)."""

    def __init__(self) -> None:
        self._jumping = _JumpingSelector()
        super().__init__(self._jumping)

    def time(self) -> float:
        return self._jumping.clock


def run_virtual(main: Coroutine[Any, Any, T]) -> T:
    """``asyncio.run(main)`` in virtual time (``VirtualTimeLoop``)."""
    with asyncio.Runner(loop_factory=VirtualTimeLoop) as runner:
        return runner.run(main)
