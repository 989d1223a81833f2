"""The async runtime the I/O shell runs on: trio or asyncio, picked per run.

Theory of operation
-------------------
emutcp has one I/O shell (endpoint, sockets, hosts, transports) for both
event loops.  Everything it needs from a loop is a handful of primitives,
collected here as a ``Runtime``: a clock, a parking lot, checkpoints, an
interruptible wait with a movable deadline (``Alarm``), background ("system")
tasks, a thread-safe ``call_soon``, socket readiness, the run's identity and
its cancellation exception.  ``current()`` answers the runtime of the running
loop (through ``sniffio``, which trio and asyncio both report to).

Why not AnyIO: the trio runtime below binds trio's own functions and classes
(``trio.lowlevel.ParkingLot``, ``checkpoint_if_cancelled``, ``CancelScope``)
so the trio face pays nothing for being shared, and AnyIO has no parking lot,
no system tasks and no finalizer-safe ``call_soon``, which the shell needs.
Under trio, virtual time (``trio.testing.MockClock``) works as before: the
clock is trio's.  Under asyncio the clock is ``loop.time()``.

Nothing here imports trio unless a trio run asks for it, so ``emutcp.aio``
under ``asyncio.run`` never loads trio.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import socket
import sys
import weakref
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any, Generic, Protocol, TypeVar

import sniffio

log = logging.getLogger("emutcp.runtime")
T = TypeVar("T")


class Lot(Protocol):
    """Tasks park until ``unpark_all`` (trio's ``ParkingLot`` interface)."""

    async def park(self) -> None: ...

    def unpark_all(self) -> object: ...

    def __len__(self) -> int: ...  # tasks parked (false when none)


class Alarm(Protocol):
    """One interruptible wait at a time: ``wait(fn, deadline)`` runs ``fn()``
    until it returns, the deadline passes or ``cancel()`` is called; the
    deadline may be moved earlier while waiting (``move``).  ``waiting`` is
    true during ``wait``."""

    waiting: bool

    async def wait(self, fn: Callable[[], Awaitable[None]], deadline: float) -> None: ...

    def move(self, deadline: float) -> None: ...

    def cancel(self) -> None: ...


class Runtime:
    """The primitives of one event-loop library (see the module docstring)."""

    name: str
    Lot: Callable[[], Lot]
    Alarm: Callable[[], Alarm]
    Event: Callable[[], Any]
    Cancelled: type[BaseException]
    current_time: Callable[[], float]
    run_id: Callable[[], object]
    checkpoint: Callable[[], Awaitable[None]]
    sleep_forever: Callable[[], Awaitable[None]]
    checkpoint_if_cancelled: Callable[[], Awaitable[None]]
    cancel_shielded_checkpoint: Callable[[], Awaitable[None]]
    wait_readable: Callable[[socket.socket], Awaitable[None]]
    wait_writable: Callable[[socket.socket], Awaitable[None]]
    # Wake every task waiting on a socket with ``ClosedResource`` (before it is
    # closed); None where the loop has no such call (asyncio here).
    notify_closing: Callable[[socket.socket], None] | None = None
    ClosedResource: type[BaseException] = OSError

    def spawn_system_task(self, fn: Callable[[], Coroutine[Any, Any, None]], name: str) -> None:
        raise NotImplementedError

    def run_clock(self) -> Callable[[], float]:
        """``current_time`` bound to the running loop's clock: valid for this run
        only, and cheaper per call (what an endpoint reads per datagram)."""
        return self.current_time

    def clock_advances(self) -> Callable[[], bool]:
        """For this run: whether its clock moves by itself now, so a deadline
        is sure to come (not a frozen test clock).  Unknown clocks: no."""
        return _never

    def soon_caller(self) -> Callable[[Callable[[], None]], None]:
        """A function that runs its argument soon on this run's loop, from any
        thread or a finalizer; dropped if the run has ended."""
        raise NotImplementedError

    async def getaddrinfo(self, host: str, family: int) -> list[Any]:
        raise NotImplementedError


def _always() -> bool:
    return True


def _never() -> bool:
    return False


# ---------------------------------------------------------------- trio


class _TrioAlarm:
    __slots__ = ("_cancel_scope", "_scope", "waiting")

    def __init__(self) -> None:
        import trio

        self._cancel_scope = trio.CancelScope
        self._scope: Any = None
        self.waiting = False

    async def wait(self, fn: Callable[[], Awaitable[None]], deadline: float) -> None:
        with self._cancel_scope(deadline=deadline) as scope:
            self._scope = scope
            self.waiting = True
            try:
                await fn()
            finally:
                self._scope = None
                self.waiting = False

    def move(self, deadline: float) -> None:
        scope = self._scope
        if scope is not None and deadline < scope.deadline:
            scope.deadline = deadline

    def cancel(self) -> None:
        if self._scope is not None:
            self._scope.cancel()


class _Trio(Runtime):
    name = "trio"

    def __init__(self) -> None:
        import trio

        self._trio = trio
        low = trio.lowlevel
        self.Lot = low.ParkingLot
        self.Alarm = _TrioAlarm
        self.Event = trio.Event
        self.Cancelled = trio.Cancelled
        self.current_time = trio.current_time
        self.run_id = low.current_trio_token
        self.checkpoint = low.checkpoint
        self.sleep_forever = trio.sleep_forever
        self.checkpoint_if_cancelled = low.checkpoint_if_cancelled
        self.cancel_shielded_checkpoint = low.cancel_shielded_checkpoint
        self.wait_readable = low.wait_readable
        self.wait_writable = low.wait_writable
        self.notify_closing = low.notify_closing
        self.ClosedResource = trio.ClosedResourceError

    def spawn_system_task(self, fn: Callable[[], Coroutine[Any, Any, None]], name: str) -> None:
        self._trio.lowlevel.spawn_system_task(fn, name=name)

    def run_clock(self) -> Callable[[], float]:
        clock: Callable[[], float] = self._trio.lowlevel.current_clock().current_time
        return clock

    def clock_advances(self) -> Callable[[], bool]:
        clock = self._trio.lowlevel.current_clock()
        # A MockClock exists only if trio.testing was imported (importing it
        # here would cost the first socket ~0.15 s).
        testing = sys.modules.get("trio.testing")
        if testing is not None and isinstance(clock, testing.MockClock):
            # Virtual time: it moves if it runs or jumps when all tasks sleep
            # (either may be changed during the run).
            return lambda: clock.rate > 0 or clock.autojump_threshold != math.inf
        kind = type(clock)
        if kind.__name__ == "SystemClock" and kind.__module__.startswith("trio."):
            return _always
        return _never

    def soon_caller(self) -> Callable[[Callable[[], None]], None]:
        token = self._trio.lowlevel.current_trio_token()
        finished = self._trio.RunFinishedError

        def call(f: Callable[[], None]) -> None:
            with contextlib.suppress(finished):
                token.run_sync_soon(f)

        return call

    async def getaddrinfo(self, host: str, family: int) -> list[Any]:
        return list(await self._trio.socket.getaddrinfo(host, None, family))


# ------------------------------------------------------------- asyncio


class _AsyncioLot:
    """trio's ``ParkingLot`` on asyncio futures."""

    __slots__ = ("_waiters",)

    def __init__(self) -> None:
        self._waiters: dict[asyncio.Future[None], None] = {}

    async def park(self) -> None:
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiters[fut] = None
        try:
            await fut
        finally:
            self._waiters.pop(fut, None)

    def __len__(self) -> int:
        return len(self._waiters)

    def unpark_all(self) -> None:
        waiters, self._waiters = self._waiters, {}
        for fut in waiters:
            if not fut.done():
                fut.set_result(None)


class _AsyncioAlarm:
    """A wait with a movable deadline: ``asyncio.timeout_at`` (Python 3.11)."""

    __slots__ = ("_timeout", "waiting")

    def __init__(self) -> None:
        self._timeout: asyncio.Timeout | None = None
        self.waiting = False

    async def wait(self, fn: Callable[[], Awaitable[None]], deadline: float) -> None:
        try:
            async with asyncio.timeout_at(None if deadline == math.inf else deadline) as timeout:
                self._timeout = timeout
                self.waiting = True
                try:
                    await fn()
                finally:
                    self._timeout = None
                    self.waiting = False
        except TimeoutError:
            pass

    def move(self, deadline: float) -> None:
        timeout = self._timeout
        if timeout is not None and not timeout.expired():  # an expired one cannot move
            when = timeout.when()
            if when is None or deadline < when:
                timeout.reschedule(deadline)

    def cancel(self) -> None:
        timeout = self._timeout
        if timeout is not None and not timeout.expired():
            timeout.reschedule(-math.inf)  # a time in the past: fires at once


async def _nothing() -> None:
    return None


async def _yield() -> None:
    await asyncio.sleep(0)


async def _sleep_forever() -> None:
    await asyncio.get_running_loop().create_future()


def _loop_time() -> float:
    return asyncio.get_running_loop().time()


async def _wait_fd(sock: socket.socket, readable: bool) -> None:
    loop = asyncio.get_running_loop()
    fut: asyncio.Future[None] = loop.create_future()
    fd = sock.fileno()

    def ready() -> None:
        if not fut.done():
            fut.set_result(None)

    (loop.add_reader if readable else loop.add_writer)(fd, ready)
    try:
        await fut
    finally:
        (loop.remove_reader if readable else loop.remove_writer)(fd)


async def _wait_readable(sock: socket.socket) -> None:
    await _wait_fd(sock, True)


async def _wait_writable(sock: socket.socket) -> None:
    await _wait_fd(sock, False)


class _Asyncio(Runtime):
    name = "asyncio"
    Lot = _AsyncioLot
    Alarm = _AsyncioAlarm
    Event = asyncio.Event
    Cancelled = asyncio.CancelledError
    # asyncio has no checkpoint that delivers a cancellation without yielding,
    # and its own calls (``StreamWriter.write``, a buffered ``read``) do not
    # yield when they need not: neither do these.
    checkpoint_if_cancelled = staticmethod(_nothing)
    cancel_shielded_checkpoint = staticmethod(_nothing)
    checkpoint = staticmethod(_yield)
    sleep_forever = staticmethod(_sleep_forever)
    current_time = staticmethod(_loop_time)
    run_id = staticmethod(asyncio.get_running_loop)
    wait_readable = staticmethod(_wait_readable)
    wait_writable = staticmethod(_wait_writable)

    def __init__(self) -> None:
        self._tasks: set[asyncio.Task[None]] = set()

    def run_clock(self) -> Callable[[], float]:
        return asyncio.get_running_loop().time

    def spawn_system_task(self, fn: Callable[[], Coroutine[Any, Any, None]], name: str) -> None:
        task = asyncio.get_running_loop().create_task(fn(), name=name)
        self._tasks.add(task)  # the loop holds tasks weakly
        task.add_done_callback(self._task_done)

    def _task_done(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("emutcp: system task %s failed", task.get_name(), exc_info=task.exception())

    def soon_caller(self) -> Callable[[Callable[[], None]], None]:
        loop = asyncio.get_running_loop()

        def call(f: Callable[[], None]) -> None:
            with contextlib.suppress(RuntimeError):  # the loop is closed
                loop.call_soon_threadsafe(f)

        return call

    async def getaddrinfo(self, host: str, family: int) -> list[Any]:
        return await asyncio.get_running_loop().getaddrinfo(host, None, family=family)


_RUNTIMES: dict[str, Runtime] = {}
_last: Runtime | None = None  # the runtime current() answered last


def current() -> Runtime:
    """The runtime of the running event loop (``RuntimeError`` outside one)."""
    try:
        name = sniffio.current_async_library()
    except sniffio.AsyncLibraryNotFoundError:
        # sniffio sees asyncio only inside a task; a callback (an asyncio
        # Transport's) runs on the loop outside any task.
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            raise RuntimeError(
                "emutcp must be used from inside trio.run() or asyncio.run()"
            ) from None
        name = "asyncio"
    rt = _RUNTIMES.get(name)
    if rt is None:
        if name == "trio":
            rt = _Trio()
        elif name == "asyncio":
            rt = _Asyncio()
        else:
            raise RuntimeError(f"emutcp runs on trio or asyncio, not {name}")
        _RUNTIMES[name] = rt
    global _last
    _last = rt
    return rt


def current_time() -> float:
    """The running loop's clock (trio's, virtual under a ``MockClock``).  Per
    datagram on the emulated network, so it first asks the loop seen last:
    each runtime's clock raises ``RuntimeError`` outside its own loop."""
    rt = _last
    if rt is not None:
        try:
            return rt.current_time()
        except RuntimeError:
            pass
    return current().current_time()


class RunLocal(Generic[T]):
    """One value per run of an event loop (trio's ``RunVar``, for both loops)."""

    def __init__(self) -> None:
        self._values: weakref.WeakKeyDictionary[Any, T] = weakref.WeakKeyDictionary()

    def get(self, make: Callable[[], T]) -> T:
        run = current().run_id()
        try:
            return self._values[run]
        except KeyError:
            value = self._values[run] = make()
            return value
