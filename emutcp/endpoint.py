"""The endpoint task: the only I/O loop, one per transport socket.

Theory of operation
-------------------
An ``Endpoint`` pairs one transport (a real or emulated UDP socket) with one
sans-IO ``Mux``.  Its task loops:

1. enter one wait (a cancel scope) whose deadline is the earliest timer of
   all its connections (a flush that arms an earlier timer moves the
   deadline, so no task per timer); inside it, each time the transport is
   readable:
2. drain the transport in a batch and feed every datagram to the mux (nothing
   a datagram contains can raise out of here: the mux drops and counts); over
   a batching (real UDP) transport through a ``core.coalesce.Coalescer``,
   which merges the batch's in-order data runs as Linux's GRO does;
3. fire due timers, then ``flush``: send everything the core queued (ACKs are
   coalesced because the whole batch was processed first) and wake the
   sockets whose connections reported events; then wait again in the same
   scope (entering a cancel scope with a deadline costs as much as a
   scheduler round), until the deadline passes: fire the timers, go to 1.

User calls run in the application's task: they change the core, then call
``flush`` directly, so data leaves without a hop through this loop (a
``recv`` flushes only when the core says an ACK is due: a window update, RFC
9293 3.8.6.2.2).  A blocked reader is unparked by the flush that processed
the arrival, and returns without a further scheduler round.  Over real UDP
under trio, one blocked reader at a time goes further and waits on the
socket itself (``serve_reader``, through ``UdpTransport.wait_readable_too``):
the arrival wakes it and the endpoint task in the same batch, the reader
serves the batch (this loop then leaves the socket to it), and its data is
there when it looks: one scheduler batch per arrival instead of two, as
for a plain UDP socket.  Before it waits, the reader serves what is queued
already (``serve_queued``: one ``FIONREAD``), as trio's socket calls try the
system call first.  Whatever else wakes the reader's socket (a timer's
RST, a close) interrupts that wait (``Socket.wake``).

Hand-back: once a reader has served an arrival and nothing else is parked
on the endpoint's sockets, this task stops waiting on the socket (it parks
on ``_handback``, still under its timer deadline), so a request/response
exchange costs no step of this task per arrival.  The socket goes back to
it when any call parks on one of the endpoint's sockets (``parking``), when
the reader leaves while others are parked, and in any case within
``HANDBACK_GRACE`` of the reader leaving: the wait's deadline moves there,
so an arrival waits in the kernel at most that long (a reader that is back
by then, the usual case, keeps the socket: this task wakes once, finds it
waiting, and leaves it the socket again).  Only on a clock that moves by
itself (not a frozen test clock, which would never bring that deadline).  A 1-byte echo
round with TCP_NODELAY is four flushes and four output passes over both ends
(``tests/test_echo_path.py``).  An
emulated transport goes one step further and has arrivals processed at once
in the network's delivery task (``set_arrival_callback``): in virtual time the
task switches, not the protocol, are what a simulation spends its time on.

The same loop serves trio and asyncio: it waits through the primitives of
``transport/runtime.py`` (``Alarm``: a wait whose deadline a user call can
move), picked when the endpoint is made.

Wakeups: the mux reports which connections and listeners had events; the
endpoint keeps its own map from those to the sockets that use them
(``attach``/``detach``) and calls ``Socket.wake()``.  The core holds no
reference to anything of the shell.

A transport is user code (a plugin): it may raise, or hand back items that
are not ``(bytes | None, (str, int))``.  Bad items are dropped and counted
in the transport's junk; an exception fails the endpoint
(``_transport_failed``): every connection gets ``OSError(EIO, "transport
... failed")``, the listener stops, the error is logged, and the endpoint
closes, instead of escaping the system task as a ``TrioInternalError``.

Lifetime: the task is a *system task* of the running loop (trio's
``spawn_system_task``, or an asyncio task the runtime keeps), so applications
need no nursery to use ``emutcp.socket()``.  It ends when no socket uses the
endpoint and the mux is idle (TIME-WAIT included: a closed socket's 4-tuple
stays reserved for 2*MSL, as in a kernel).  When the program's main task
returns, trio cancels system tasks (``asyncio.run`` cancels the tasks left):
connections still
closing (in TIME-WAIT, or with unsent data after ``close()``) are dropped
without further segments, like a host powered off.  Await
``Socket.wait_closed()`` / ``stream.wait_closed()`` to let a graceful close finish.
"""

from __future__ import annotations

import errno
import logging
import math
import weakref
from collections import deque
from collections.abc import Callable, Collection
from typing import TYPE_CHECKING, Any, Protocol

from .core.coalesce import Coalescer
from .core.events import Event
from .core.mux import Mux
from .core.segment import plausible_segment, segment_overhead
from .core.state import State
from .transport import runtime
from .transport.base import Address, BatchTransport, DatagramTransport, EcnTransport
from .transport.udp import UdpTransport

if TYPE_CHECKING:
    from .host import Host

log = logging.getLogger("emutcp.endpoint")
# Datagrams taken from the transport per pass: large, so a flood of junk is
# drained before the kernel drops real segments queued behind it.
BATCH_LIMIT = 16_384
# How long a socket a reader left may go unwatched before the endpoint task
# takes it back (a reader that comes back sooner, as in request/response,
# keeps it): the most an arrival then waits.  Any call that parks on one of
# the endpoint's sockets takes it back at once.
HANDBACK_GRACE = 0.005


class Wakeable(Protocol):
    """What the endpoint wakes: a socket whose waiters re-check their condition."""

    def wake(self, events: Collection[Event] | None = None) -> None: ...


class Endpoint:
    handback_grace = HANDBACK_GRACE

    def __init__(self, host: Host, transport: DatagramTransport, mux: Mux) -> None:
        self.host = host
        self.transport = transport
        self.mux = mux
        self.users = 0
        self.closed = False
        self.internal_errors = 0
        # The loop's primitives (trio or asyncio), fixed for this endpoint's life.
        rt = self.runtime = runtime.current()
        # This run's clock (the endpoint lives in one run): read per datagram.
        self.clock = self._now = rt.run_clock()
        self._alarm = rt.Alarm()  # the wait for datagrams or the next timer
        self._pending: deque[tuple[bytes, Address] | tuple[bytes, Address, int]] = deque()
        self._closed_event = rt.Event()
        self.malformed_arrivals = 0  # recv_batch items that were not (bytes, (str, int))
        self.failure: OSError | None = None  # set once the transport has failed
        # Connection or listener -> a weak reference to its socket, so that a
        # socket the application dropped without close() can be collected (and
        # reset).  A plain dict of refs, not a WeakValueDictionary: flush looks
        # a socket up per wakeup, and that one's get() runs in Python.
        self._waiters: dict[object, weakref.ref[Wakeable]] = {}
        self._call_soon = rt.soon_caller()
        # RFC 3168 / RFC 9000 13.4: the ECN field rides beside each datagram when
        # ECN is configured and the transport can carry it.
        self._ecn = bool(
            mux.config.ecn and isinstance(transport, EcnTransport) and transport.enable_ecn()
        )
        # All of a pass's datagrams in one call: runs to one peer become one
        # UDP GSO sendmsg (transport/udp.py).
        self._send_many = transport.send_many if isinstance(transport, BatchTransport) else None
        self._triples = self._ecn or self._send_many is not None  # (data, addr, ecn) out
        # A batching (real UDP) transport's arrivals come in batches worth merging
        # as Linux's GRO does (core/coalesce.py); never the emulated network's.
        self.coalescer = Coalescer(mux) if self._send_many is not None else None
        # Our own UDP transport hands back well-formed arrivals: no per-item checks.
        self._trusted = type(transport) is UdpTransport
        if self.coalescer is not None and self._trusted:
            # Its junk filter, when it is the core's, checked every arrival's CRC:
            # the coalescer need not hash the datagrams again.
            self.coalescer.crc_checked = transport.accept is plausible_segment  # type: ignore[attr-defined]
        self.flushes = 0  # output flushes (user calls and service passes), for tests
        self._served_out = False  # _serve returned by itself (not cut by the deadline)
        # A reader blocked in recv may wait on the socket itself (serve_reader):
        # over our own UDP transport, on a loop that can interrupt that wait.
        self._udp = transport if type(transport) is UdpTransport else None
        self._reader_path = self._udp is not None and self._udp.can_wait_twice()
        # One service pass: drain the transport, feed the core, fire timers, flush.
        self._service: Callable[[float], None] = (
            self._service_udp
            if self._udp is not None and self.coalescer is not None
            else self._service_any
        )
        self.waiting_reader: object | None = None  # the socket whose reader waits there now
        self.readers_served = 0  # arrivals a waiting reader served itself (tests, benchmarks)
        self._reader_served = False  # ... during the endpoint task's current wait
        # Hand-back: while a reader serves the socket, this endpoint's task waits
        # off it (on _handback) and is not woken by every arrival.
        self._handback = rt.Lot()
        self.off_socket = False  # the task waits on _handback, not the socket
        self._grace_armed = False  # the current wait ends within the grace
        # Only a clock that moves by itself brings the grace's deadline (a
        # frozen test clock never would): else the task keeps the socket.
        self._clock_advances = rt.clock_advances()
        self._parked = 0  # calls parked on this endpoint's sockets (Socket._wait_on)
        transport.set_arrival_callback(self._service_now)

    @property
    def local(self) -> Address:
        return self.transport.local

    def attach(self, tcb: object, socket: Wakeable) -> None:
        """Wake ``socket`` whenever the core reports events for ``tcb`` (a
        connection or listener of this endpoint's mux)."""
        waiters = self._waiters

        def collected(ref: weakref.ref[Wakeable]) -> None:
            if waiters.get(tcb) is ref:  # (not a later socket's)
                del waiters[tcb]

        waiters[tcb] = weakref.ref(socket, collected)

    def detach(self, tcb: object) -> None:
        self._waiters.pop(tcb, None)

    def _waiter(self, tcb: object) -> Wakeable | None:
        ref = self._waiters.get(tcb)
        return None if ref is None else ref()

    def start(self) -> None:
        self.runtime.spawn_system_task(self._run, name=f"emutcp-endpoint-{self.local}")

    def acquire(self) -> None:
        self.users += 1

    def release(self) -> None:
        self.users -= 1
        self._maybe_close()

    async def _run(self) -> None:
        try:
            while not self.closed:
                if self._pending and not await self._drain_pending_until_timer():
                    self._service(self._now())  # a timer fell due first
                    continue
                deadline = self.mux.get_timer()
                self._served_out = False
                self._grace_armed = False
                await self._alarm.wait(self._serve, math.inf if deadline is None else deadline)
                if self.closed:
                    break
                if not self._served_out:
                    self._service(self._now())  # a timer is due (or the wait was cut short)
        except Exception as exc:  # only the transport raises here (the core's are caught)
            self._transport_failed(exc)
        finally:
            if not self.closed:
                # Cancelled with connections alive: the run is ending (the
                # program returned, Ctrl-C, SIGTERM).  A kernel would finish the
                # close after the process; nobody will here, so tell each peer
                # at once (RST) instead of leaving it to time out.
                self.abort_all("process exiting")
            self._shutdown()

    async def _serve(self) -> None:
        """Serve arrivals as they come, inside one wait whose deadline is the
        earliest timer (each flush moves it earlier as timers are armed): one
        cancel scope per timer, not per datagram.  Returns when datagrams are
        left to send (the caller drains them) or the endpoint closed."""
        wait_readable = self.transport.wait_readable
        leave = False
        while True:
            if (leave or self.waiting_reader is not None) and self._clock_advances():
                # A reader waits on the socket, or served the last arrival and
                # nobody else waits on this endpoint: leave the socket to it
                # (module docstring, "hand-back").
                leave = False
                if self.waiting_reader is None:
                    self._arm_grace()
                self.off_socket = True
                try:
                    await self._handback.park()
                finally:
                    self.off_socket = False
                if self.closed:
                    break
                continue
            self._reader_served = False
            await wait_readable()
            if self.closed:
                break
            if self.waiting_reader is not None or self._reader_served:
                # The reader waiting on the socket was woken by the same arrival:
                # it serves it (or, earlier in this batch, has).
                leave = not self._parked
                continue
            self._service(self._now())
            if self._pending or self.closed:
                break
        self._served_out = True

    def _arm_grace(self) -> None:
        """End the current wait within the grace (once per wait: a deadline
        already set is earlier than any set later would be)."""
        if not self._grace_armed:
            self._grace_armed = True
            self._alarm.move(self._now() + self.handback_grace)

    def parking(self) -> None:
        """A call on one of this endpoint's sockets is about to park: arrivals
        must be served while it waits, by a reader waiting on the socket or
        else by this endpoint's task (taken back from the reader now)."""
        self._parked += 1
        if self.off_socket and self.waiting_reader is None:
            self._handback.unpark_all()

    def unparked(self) -> None:
        self._parked -= 1

    def serves_reader(self) -> bool:
        """Whether a blocked reader may wait on the socket itself now."""
        return (
            self._reader_path
            and self.waiting_reader is None
            and not self.closed
            and not self.transport.closed
        )

    async def serve_reader(self, socket: Wakeable) -> bool:
        """Block ``socket``'s reader until an arrival, which it then serves here
        (see the module docstring), or until ``interrupt_reader``.  False, at
        once and without a checkpoint, if the transport has no descriptor to
        spare for it: the reader must park instead."""
        assert self._udp is not None
        self.waiting_reader = socket
        try:
            readable = await self._udp.wait_readable_too()
        finally:
            self.waiting_reader = None
            if self.off_socket:
                # Nobody watches the socket now.  Others parked: the endpoint
                # task takes it back at once; else within the grace (this
                # reader, back long before in request/response, keeps it).
                if self._parked or not self._clock_advances():
                    self._handback.unpark_all()
                else:
                    self._arm_grace()
        if readable is None:
            return False
        if readable:
            self.readers_served += 1
            self._reader_served = True
            self._service_now()
        return True

    def serve_queued(self) -> bool:
        """Serve what is queued on the socket now, if anything: a reader about
        to wait tries this first, as trio's socket calls try the system call
        before waiting (the answer is often there already).  True if it
        served; False at once if nothing is queued."""
        udp = self._udp
        if udp is None or self.closed or not udp.has_queued():
            return False
        self.readers_served += 1
        self._reader_served = True
        self._service_now()
        return True

    def interrupt_reader(self, socket: Wakeable) -> None:
        """``socket`` has news its reader must see: end its ``serve_reader`` wait."""
        if self.waiting_reader is socket and self._udp is not None:
            self._udp.interrupt_second_wait()

    def _service_now(self) -> None:
        if not self.closed:
            try:
                self._service(self._now())
            except Exception as exc:  # raised in the transport's own task: keep it there
                self._transport_failed(exc)

    def _service_any(self, now: float) -> None:
        """A service pass over any transport: its arrivals are checked one by
        one (a plugin may hand back anything), then ``_after_batch``."""
        mux = self.mux
        ecn = self._ecn
        coalescer = self.coalescer
        receive = mux.receive_datagram if coalescer is None else coalescer.datagram
        unreachable = (
            mux.receive_icmp_unreachable if coalescer is None else coalescer.icmp_unreachable
        )
        for item in self.transport.recv_batch(BATCH_LIMIT):
            try:
                data, addr = item[:2] if ecn else item
                if not (
                    (data is None or type(data) is bytes)
                    and type(addr) is tuple
                    and len(addr) == 2
                    and isinstance(addr[0], str)
                    and type(addr[1]) is int
                    and (not ecn or type(item[2]) is int)  # type: ignore[misc]
                ):
                    raise TypeError
            except (TypeError, ValueError, IndexError):
                self._malformed_arrival(item)
                continue
            try:
                if data is None:
                    unreachable(addr, now)
                elif ecn:  # an EcnTransport's arrivals are (data, addr, ecn)
                    receive(data, addr, now, item[2])  # type: ignore[misc]
                else:
                    receive(data, addr, now)
            except Exception:  # a core bug must not take the endpoint down
                self.internal_errors += 1
                log.exception("emutcp: error processing a datagram from %s", addr)
        self._after_batch(now)

    def _service_udp(self, now: float) -> None:
        """A service pass over our own UDP transport: its arrivals are
        well-formed (no checks per item) and go through the coalescer."""
        coalescer = self.coalescer
        assert coalescer is not None and self._udp is not None
        ecn = self._ecn
        for item in self._udp.recv_batch(BATCH_LIMIT):
            try:
                if item[0] is None:
                    coalescer.icmp_unreachable(item[1], now)
                elif ecn:  # (data, addr, ecn)
                    coalescer.datagram(item[0], item[1], now, item[2])  # type: ignore[misc]
                else:
                    coalescer.datagram(item[0], item[1], now)
            except Exception:  # a core bug must not take the endpoint down
                self.internal_errors += 1
                log.exception("emutcp: error processing a datagram from %s", item[1])
        self._after_batch(now)

    def _after_batch(self, now: float) -> None:
        """The end of a service pass: the coalescer's last run, due timers, flush."""
        coalescer = self.coalescer
        mux = self.mux
        if coalescer is not None:
            try:
                coalescer.finish(now)  # the batch's last run
            except Exception:
                self.internal_errors += 1
                log.exception("emutcp: error processing a merged segment")
        heap = mux.timer_heap
        if heap and heap[0][0] <= now:  # (a call's cost saved when none is due)
            try:
                mux.handle_timer(now)
            except Exception:
                self.internal_errors += 1
                log.exception("emutcp: error in timer processing")
        self.flush(now)

    def flush(self, now: float | None = None) -> None:
        """Send what the core queued, wake waiters, re-arm the timer."""
        if now is None:
            now = self._now()
        self.flushes += 1
        mux = self.mux
        try:
            datagrams = (
                mux.datagrams_to_send_ecn(now) if self._triples else mux.datagrams_to_send(now)
            )
        except Exception:
            self.internal_errors += 1
            log.exception("emutcp: error producing segments")
            datagrams = []
        if self.failure is not None:
            return  # the transport failed: nothing can be sent any more
        if datagrams and not self._send(datagrams, now):
            return  # the transport failed while sending
        wakeups = mux.take_wakeups()
        if wakeups:
            # Straight from the receive path to the blocked calls: the socket
            # unparks its readers/writers; they run in the scheduler's next batch.
            waiters = self._waiters
            for tcb, events in wakeups:
                ref = waiters.get(tcb)
                socket = None if ref is None else ref()
                if socket is not None:
                    socket.wake(events)
        alarm = self._alarm
        if alarm.waiting:
            if self._pending:
                alarm.cancel()  # go and wait for writability
            else:
                # Only a deadline earlier than the wait's own moves it (a later
                # one ends the wait early, and _run asks get_timer() again).
                deadline = mux.take_new_deadline()
                if deadline is not None:
                    alarm.move(deadline)
        if self.users <= 0:
            self._maybe_close()

    def _send(self, datagrams: list[Any], now: float) -> bool:
        """Send an output pass's datagrams, queueing what the transport will not
        take now; False if the transport failed."""
        pending = self._pending
        try:
            send_many = self._send_many
            udp = self._udp
            if udp is not None and len(datagrams) == 1 and not pending:
                # A request, a response, an ACK: (data, addr, ecn), no run to look for.
                if not udp.send(*datagrams[0]):
                    pending.append(datagrams[0])
            elif send_many is not None and not pending:
                sent = send_many(datagrams)
                if sent < len(datagrams):
                    pending.extend(datagrams[sent:])
            else:
                send = self.transport.send
                for item in datagrams:
                    if pending or not send(*item):
                        pending.append(item)
            # Only a send can find the path too narrow: asked after each
            # (here, and in _drain_pending), not on the passes that send nothing.
            too_big = self.transport.take_too_big()
        except Exception as exc:  # a user call flushes: it must not get the transport's error
            self._transport_failed(exc)
            return False
        if too_big:
            self._path_mtu_fell(too_big, now)
        return True

    def _malformed_arrival(self, item: object) -> None:
        """``recv_batch`` returned something that is not ``(data, (ip, port))``."""
        if not self.malformed_arrivals:
            log.error(
                "emutcp: transport %s returned a malformed arrival %.80r "
                "(expected (bytes | None, (str, int))); dropped",
                type(self.transport).__name__,
                item,
            )
        self.malformed_arrivals += 1

    def _transport_failed(self, exc: Exception) -> None:
        """The transport raised: fail every connection with a clear ``OSError``
        (raised by the socket calls), stop the listener and close."""
        if self.failure is not None:
            return
        name = type(self.transport).__name__
        self.failure = OSError(errno.EIO, f"transport {name} failed: {exc!r}")
        log.error("emutcp: transport %s failed; its connections are closed", name, exc_info=exc)
        try:
            now = self._now()
            for conn in list(self.mux.connections.values()):
                if conn.state is not State.CLOSED:
                    if conn.error is None:
                        conn.error = self.failure
                    conn.abort(now, "transport failed")
                    self.mux.touch(conn)
            self.mux.close_listener(now)
            self.mux.datagrams_to_send(now)  # the RSTs cannot go; this retires the TCBs
            for tcb, events in self.mux.take_wakeups():
                socket = self._waiter(tcb)
                if socket is not None:
                    socket.wake(events)
            for owner in list(self._waiters):
                socket = self._waiter(owner)
                if socket is not None:
                    socket.wake(None)  # accept() and anyone else re-check (and see the failure)
        except Exception:
            self.internal_errors += 1
            log.exception("emutcp: error closing connections after a transport failure")
        self._pending.clear()
        self.closed = True
        self._alarm.cancel()

    def _path_mtu_fell(self, peers: list[Address], now: float) -> None:
        """Sends were refused for their size: size segments to the new path MTU
        and resend what was dropped (RFC 8201 / RFC 1191)."""
        for peer in set(peers):
            limit = self.transport.max_datagram(peer)
            if limit is not None:
                self.mux.path_mss_lowered(peer, limit - segment_overhead(), now)
        self.flush(now)

    async def _drain_pending_until_timer(self) -> bool:
        """Drain queued datagrams; False if a timer fell due first.  A transport
        that stays unwritable must not stop retransmissions and timeouts (the
        connections then fail by their own rules instead of hanging)."""
        deadline = self.mux.get_timer()
        await self._alarm.wait(self._drain_pending, math.inf if deadline is None else deadline)
        return not self._pending

    async def _drain_pending(self) -> None:
        while self._pending and not self.closed:
            await self.transport.wait_writable()
            if self._send_many is not None:  # its items are (data, addr, ecn)
                items = list(self._pending)
                for _ in range(self._send_many(items)):  # type: ignore[arg-type]
                    self._pending.popleft()
            else:
                while self._pending and self.transport.send(*self._pending[0]):
                    self._pending.popleft()
            too_big = self.transport.take_too_big()  # (as flush does after its sends)
            if too_big:
                self._path_mtu_fell(too_big, self._now())

    def call_soon(self, fn: Callable[[], None]) -> None:
        """Run ``fn`` on this endpoint's loop at the next safe point (from a
        finalizer or another thread); dropped if that run has ended."""
        self._call_soon(fn)

    def abort_all(self, why: str) -> None:
        """Reset every live connection now and send the RSTs (best effort: the
        transport must not block).  TIME-WAIT entries have nothing to say."""
        try:
            now = self._now()
            for conn in list(self.mux.connections.values()):
                if conn.state is not State.TIME_WAIT and conn.state is not State.CLOSED:
                    conn.abort(now, f"{why}: sent RST")
                    self.mux.touch(conn)
            for data, addr in self.mux.datagrams_to_send(now):
                if not self.transport.send(data, addr):
                    break  # the socket buffer is full: what is left is lost
        except Exception:  # never let a last goodbye raise during shutdown
            self.internal_errors += 1
            log.exception("emutcp: error resetting connections at exit")

    def kill(self) -> None:
        """Vanish without a word, as when the host crashes: no FIN, no RST."""
        self.closed = True
        self._alarm.cancel()
        self._pending.clear()
        self._shutdown()

    def _maybe_close(self) -> None:
        if not self.closed and self.users <= 0 and self.mux.idle and not self._pending:
            self.closed = True
            self._alarm.cancel()
            self._shutdown()

    def _shutdown(self) -> None:
        self.closed = True
        try:
            self.transport.close()
        except Exception:  # a failing transport must not fail the shutdown
            log.exception("emutcp: error closing transport %s", type(self.transport).__name__)
        self.host.endpoint_closed(self)
        self._closed_event.set()

    async def wait_closed(self) -> None:
        await self._closed_event.wait()
