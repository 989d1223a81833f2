"""Demultiplexing datagrams to connections: the sans-IO core of one transport socket.

Theory of operation
-------------------
A ``Mux`` serves one UDP socket (real or emulated) bound to ``local``.  Because
a TCP port *is* the UDP port here, a connection is identified by its peer's
transport address: ``connections[(peer_ip, peer_port)]``.  The segment's own
port fields are kept for traces and pcap, but demultiplexing uses the UDP
address, so emutcp works through NATs that rewrite UDP ports.

Inputs: ``receive_datagram(data, addr, now)``, ``receive_icmp_unreachable(addr,
now)``, ``handle_timer(now)`` and the user calls ``listen``, ``connect``,
``close_listener``; after a user call on a connection the shell calls
``touch(conn)``.  Outputs: ``datagrams_to_send(now)`` (encoded, ready for
``sendto``), ``get_timer()``, and ``wakeups`` (connections and listeners whose
waiters should re-check their condition, with the ``Event`` kinds they
reported, so the shell wakes only the waiters those kinds concern).

Timers: one heap of ``(deadline, n, conn)`` over all connections, with at
most one current entry per connection.  After output, a touched connection's
deadline gets a key ``(deadline, n)``: ``n`` is new only when the deadline
changed, so connections with equal deadlines fire in the order their
deadlines were set.  The key is pushed only if the connection has no entry
queued or its deadline moved earlier than the queued one (the queued entry is
then stale); a deadline that moved later (the common case: every ACK restarts
the retransmission timer) stays unpushed until the queued entry comes up,
which then re-queues the key.  An entry fires only if it is the connection's
current one, the connection is still here and its ``get_timer()`` still
equals the deadline.  So the heap holds about one entry per connection
instead of one per output pass.

Listener policy (``listen(backlog)``): a SYN creates an embryonic connection in
LISTEN that moves to SYN-RECEIVED; at most ``config.max_syn_backlog`` of those
exist at once and at most ``backlog`` established connections wait for
``accept``.  When the accept queue is full a new SYN is dropped silently, as
Linux does: the client retransmits its SYN and gets in once the application
catches up, instead of being refused for a momentary burst.  When the
half-open table is full (a SYN flood), SYNs are answered statelessly with SYN
cookies (syncookies.py), so real clients still get in.  A connection that
completes its handshake while the accept queue is full is reset (Linux's
``tcp_abort_on_overflow=1``), so the client learns at once rather than sending
into a connection nobody will accept.

Anti-amplification: until a passive peer completes the handshake its address
is unproven (it may be spoofed), so this mux sends it at most three times the
bytes it received from it; SYN+ACK retransmissions beyond that are dropped.

A segment for no connection gets the RST that RFC 9293 3.10.7.1 prescribes,
never a RST for a RST; at a listening port, one with none of SYN, ACK, RST is
dropped and counted instead (3.10.7.2); a datagram that does not decode is
dropped and counted.
TIME-WAIT connections stay in the table with their 4-tuple until 2*MSL ends.
"""

from __future__ import annotations

import errno
import heapq
import itertools
import random
from collections import Counter, deque
from collections.abc import Callable
from typing import Any, Final

from .config import Config
from .connection import Connection
from .events import Event, Transition
from .isn import IsnGenerator
from .segment import (
    ACK,
    RST,
    SYN,
    MalformedSegment,
    Options,
    Segment,
    decode_segment,
    encode_segment,
    looks_like_segment,
)
from .seq import seq_add, seq_gt
from .state import State
from .syncookies import SynCookies
from .tcb import DEFAULT_MSS, MAX_WINDOW_FIELD, Address, Tracer, wscale_for


def closed_port_reply(seg: Segment, local_port: int) -> Segment | None:
    """RFC 9293 3.10.7.1: the reply to a segment for a connection that does not exist."""
    if seg.flags & RST:
        return None  # never answer a RST
    if seg.flags & ACK:
        return Segment(local_port, seg.src_port, seg.ack, 0, RST, 0)  # <SEQ=SEG.ACK><CTL=RST>
    # <SEQ=0><ACK=SEG.SEQ+SEG.LEN><CTL=RST,ACK>
    return Segment(local_port, seg.src_port, 0, seq_add(seg.seq, seg.seg_len), RST | ACK, 0)


def closed_port_answer(datagram: bytes, local_port: int) -> bytes | None:
    """The encoded reply to ``datagram`` arriving at ``local_port`` where no socket
    exists at all (``closed_port_reply``), or None: nothing to answer, or the
    datagram is not a segment."""
    try:
        seg = decode_segment(datagram)
    except MalformedSegment:
        return None
    reply = closed_port_reply(seg, local_port)
    return None if reply is None else encode_segment(reply)


# What a listener reports: a connection ready to accept, or that it closed.
_CONNECTION_READY: Final = frozenset({Event.ESTABLISHED})
_LISTENER_CLOSED: Final = frozenset({Event.CLOSED})
# The common wakeups report one kind or two (READABLE and WRITABLE after a
# request/response segment): their sets, built once.
_ONE_KIND: Final = {kind: frozenset((kind,)) for kind in Event}
_TWO_KINDS: Final = {(a, b): frozenset((a, b)) for a in Event for b in Event}
# Bound once: compiled code then loads a static instead of a module attribute per call.
_heappush: Final = heapq.heappush
_NEVER: Final = float("inf")
_heappop: Final = heapq.heappop
_heapify: Final = heapq.heapify


class Listener:
    """A passive-open socket: LISTEN state, half-open set and accept queue."""

    def __init__(self, *, backlog: int, now: float, local: Address, tracer: Tracer | None) -> None:
        self.local = local
        self.backlog = max(1, backlog)
        self.state = State.LISTEN
        self.transitions = [Transition(now, State.CLOSED, State.LISTEN, "listen")]
        if tracer is not None:
            tracer(self.transitions[0], local, None)
        self.accept_queue: deque[Connection] = deque()
        self.half_open: set[Connection] = set()

    def close(self, now: float, tracer: Tracer | None) -> None:
        self.state = State.CLOSED
        t = Transition(now, State.LISTEN, State.CLOSED, "close")
        self.transitions.append(t)
        if tracer is not None:
            tracer(t, self.local, None)


class Mux:
    def __init__(
        self,
        *,
        local: Address,
        config: Config,
        rng: random.Random,
        isn: IsnGenerator | None = None,
        tracer: Tracer | None = None,
        host_connections: Callable[[], int] | None = None,
        evict_elsewhere: Callable[[], bool] | None = None,
    ) -> None:
        self.local = local
        self.config = config
        self.rng = rng
        self.isn = isn or IsnGenerator(rng)
        self.cookies = SynCookies(rng)
        self.tracer = tracer
        # All connections of the host this mux belongs to (for the host-wide limit).
        self._host_connections = host_connections or (lambda: len(self.connections))
        self._evict_elsewhere = evict_elsewhere or (lambda: False)
        # Anti-amplification: bytes in/out per not-yet-validated (half-open) peer.
        self._unvalidated: dict[Connection, list[int]] = {}
        self.connections: dict[Address, Connection] = {}
        self.listener: Listener | None = None
        self.stats: Counter[str] = Counter()
        # (connection or listener, the events it reported): whose waiters to wake.
        self.wakeups: list[tuple[Connection | Listener, frozenset[Event]]] = []
        self._out: list[tuple[bytes, Address, int]] = []
        self._dirty: dict[Connection, None] = {}  # insertion-ordered set
        self._spare: dict[Connection, None] = {}  # _collect swaps it with _dirty
        self._heap: list[tuple[float, int, Connection]] = []
        # The same heap, for a shell to look before it calls handle_timer: no
        # timer is due while it is empty or its first deadline is in the
        # future (entries may be stale, so due ones may fire nothing).
        self.timer_heap: Final = self._heap
        self._tiebreak = itertools.count()
        # Per connection: its timer's key (deadline, n), and the key of its one
        # current heap entry (module docstring, "Timers").
        self._timer_key: dict[Connection, tuple[float, int]] = {}
        self._queued: dict[Connection, tuple[float, int]] = {}
        # The earliest deadline queued since get_timer() last answered: all a
        # caller already waiting for that answer must move its wait to.
        self._new_deadline = _NEVER
        # How outgoing segments become datagrams.  A simulator that carries
        # Segment objects (emutcp.sim) swaps in a wrapper holding the segment
        # and its wire size, so nobody decodes msgpack; anything with len() will do
        # (typed Any so a mypyc-compiled mux does not insist on bytes).
        self.encode: Callable[[Segment], Any] = encode_segment

    # -------------------------------------------------------------- user side

    def listen(self, backlog: int, now: float) -> Listener:
        if self.listener is not None and self.listener.state is State.LISTEN:
            self.listener.backlog = max(1, backlog)  # listen() again adjusts the backlog
            return self.listener
        self.listener = Listener(backlog=backlog, now=now, local=self.local, tracer=self.tracer)
        return self.listener

    def close_listener(self, now: float) -> None:
        """Stop listening; reset connections nobody accepted (as Linux does)."""
        lst = self.listener
        if lst is None:
            return
        self.listener = None
        lst.close(now, self.tracer)
        for conn in [*lst.accept_queue, *lst.half_open]:
            conn.abort(now, "listener closed: sent RST")
            self.touch(conn)
        lst.accept_queue.clear()
        lst.half_open.clear()
        self.wakeups.append((lst, _LISTENER_CLOSED))

    def connect(self, remote: Address, now: float, config: Config | None = None) -> Connection:
        """Create the connection for an active open (the caller then opens it)."""
        existing = self.connections.get(remote)
        if existing is not None:
            if existing.state is not State.TIME_WAIT:
                raise OSError(
                    errno.EADDRINUSE,
                    f"{self.local} already has a connection to {remote} ({existing.state})",
                )
            del self.connections[remote]
        self._check_capacity()
        conn = self._new_connection(remote, now, config or self.config, passive=False)
        conn.open_active(now)
        self.touch(conn)
        return conn

    def _check_capacity(self) -> bool:
        """Make room for one more connection; TIME-WAIT entries are evicted first."""
        if self._host_connections() < self.config.max_connections:
            return True
        if self.evict_time_wait() or self._evict_elsewhere():
            return True
        raise OSError(
            errno.EMFILE,
            f"too many connections: this host's limit is {self.config.max_connections} "
            "(Config.max_connections)",
        )

    def evict_time_wait(self) -> bool:
        """Drop one TIME-WAIT entry to make room (RFC 9293 allows reuse; Linux too)."""
        for addr, conn in self.connections.items():
            if conn.state is State.TIME_WAIT:
                del self.connections[addr]
                self.stats["time_wait_evicted"] += 1
                return True
        return False

    def _new_connection(
        self, remote: Address, now: float, config: Config, passive: bool
    ) -> Connection:
        conn = Connection(
            local=self.local,
            remote=remote,
            config=config,
            iss=self.isn.isn(self.local, remote, now),
            now=now,
            tracer=self.tracer,
            passive=passive,
        )
        self.connections[remote] = conn
        return conn

    def touch(self, conn: Connection) -> None:
        """Mark ``conn`` for output and timer re-arming (after a user call)."""
        self._dirty[conn] = None

    @property
    def idle(self) -> bool:
        """Nothing left to serve: no listener and no connection."""
        return self.listener is None and not self.connections

    # ----------------------------------------------------------- network side

    def receive_datagram(self, data: bytes, addr: Address, now: float, ecn: int = 0) -> None:
        """One datagram from ``addr``; ``ecn`` is its ECN field (RFC 3168 5)."""
        if not looks_like_segment(data):
            self.stats["malformed"] += 1  # the cheap filter: most junk stops here
            return
        try:
            seg = decode_segment(data, max_payload=self.config.mss)
        except MalformedSegment:
            self.stats["malformed"] += 1
            return
        self.receive_segment(seg, len(data), addr, now, ecn)

    def receive_segment(
        self, seg: Segment, size: int, addr: Address, now: float, ecn: int = 0, count: int = 1
    ) -> None:
        """A decoded segment of ``size`` wire bytes from ``addr`` (a simulator
        that carries Segment objects enters here, skipping the codec); ``count``
        wire segments merged into one (coalesce.py, as Linux's GRO)."""
        if len(seg.payload) > self.config.mss * count:
            self.stats["malformed"] += 1  # what decode_segment's max_payload refuses
            return
        self.stats["segments_in"] += count
        conn = self.connections.get(addr)
        if (
            conn is not None
            and conn.state is State.TIME_WAIT
            and self._reopens_time_wait(seg, conn)
        ):
            del self.connections[addr]
            conn = None
        if conn is not None:
            if self._unvalidated:
                budget = self._unvalidated.get(conn)
                if budget is not None:
                    budget[0] += size
            if ecn:  # the ECN field rides with the segment for traces and pcap
                # (seg.replace(ecn=ecn), without its keyword dict: every data
                # segment of an ECN connection comes here)
                seg = Segment(
                    seg.src_port,
                    seg.dst_port,
                    seg.seq,
                    seg.ack,
                    seg.flags,
                    seg.window,
                    seg.options,
                    seg.payload,
                    ecn,
                )
            conn.receive_segment(seg, now, ecn)
            self._dirty[conn] = None  # touch(conn)
            lst = self.listener
            if lst is not None and conn in lst.half_open and conn.state is not State.SYN_RCVD:
                # Handshake done: queue it for accept now, so a RST later in this
                # same batch finds it there (accept() then returns it and recv
                # reports the reset, as on Linux) instead of losing it.
                self._leave_half_open(lst, conn, now)
            return
        lst = self.listener
        if lst is not None and seg.flags & (SYN | ACK | RST) == SYN:
            self._syn_for_listener(lst, seg, addr, now, size)
            return
        if (
            lst is not None
            and seg.flags & (SYN | ACK | RST) == ACK
            and self._redeem_cookie(lst, seg, addr, now)
        ):
            return
        if lst is not None and seg.flags & RST:
            return  # 3.10.7.2: RST in LISTEN is ignored
        if lst is not None and not seg.flags & (SYN | ACK | RST):
            # RFC 9293 3.10.7.2 fourth, other text or control (a bare FIN, data): drop.
            self.stats["dropped_in_listen"] += 1
            return
        self.stats["no_connection"] += 1
        self._reply_closed(seg, addr)

    def _reopens_time_wait(self, seg: Segment, conn: Connection) -> bool:
        """RFC 9293 3.10.7.4 / RFC 6191: a new SYN with a higher sequence number
        may reopen a 4-tuple still in TIME-WAIT (Linux does this too)."""
        return (
            self.listener is not None
            and seg.flags & (SYN | ACK | RST) == SYN
            and seq_gt(seg.seq, conn.rcv_nxt)
        )

    def _syn_for_listener(
        self, lst: Listener, seg: Segment, addr: Address, now: float, size: int
    ) -> None:
        if len(lst.accept_queue) >= lst.backlog:
            self.stats["syn_dropped_queue_full"] += 1  # see the module docstring
            return
        if len(lst.half_open) >= self.config.max_syn_backlog:
            self._send_cookie(seg, addr, now)  # RFC 4987 3.6: answer without state
            return
        try:
            self._check_capacity()
        except OSError:
            self.stats["syn_dropped_table_full"] += 1
            return
        conn = self._new_connection(addr, now, self.config, passive=True)
        lst.half_open.add(conn)
        self._unvalidated[conn] = [size, 0]
        conn.receive_segment(seg, now)
        self.touch(conn)

    def _send_cookie(self, seg: Segment, addr: Address, now: float) -> None:
        o = seg.options
        ws = o.wscale if self.config.window_scaling else None
        sack = o.sack_permitted and self.config.sack
        cookie = self.cookies.make(
            self.local, addr, seg.seq, mss=o.mss or DEFAULT_MSS, wscale=ws, sack=sack, now=now
        )
        our_ws = None if ws is None else wscale_for(self.config.recv_window_ceiling)
        reply = Segment(
            self.local[1],
            seg.src_port,
            cookie,
            seq_add(seg.seq, 1),
            SYN | ACK,
            min(self.config.recv_buffer, MAX_WINDOW_FIELD),
            Options(mss=self.config.mss, wscale=our_ws, sack_permitted=sack),
        )
        self.stats["syn_cookies_sent"] += 1
        self._out.append((self.encode(reply), addr, 0))

    def _redeem_cookie(self, lst: Listener, seg: Segment, addr: Address, now: float) -> bool:
        """An ACK from a stranger may complete a SYN-cookie handshake."""
        if not self.stats["syn_cookies_sent"]:
            return False
        client_isn, cookie = seq_add(seg.seq, -1), seq_add(seg.ack, -1)
        opts = self.cookies.check(self.local, addr, client_isn, cookie, now)
        if opts is None:
            self.stats["syn_cookies_rejected"] += 1
            return False
        if len(lst.accept_queue) >= lst.backlog:
            return False
        try:
            self._check_capacity()
        except OSError:
            return False
        conn = Connection(
            local=self.local,
            remote=addr,
            config=self.config,
            iss=cookie,
            now=now,
            tracer=self.tracer,
            passive=True,
        )
        self.connections[addr] = conn
        conn.open_from_cookie(seg, *opts, now)
        conn.receive_segment(seg, now)  # the ACK may carry data
        self.stats["syn_cookies_accepted"] += 1
        conn.events_to_report()
        lst.accept_queue.append(conn)
        self.wakeups.append((lst, _CONNECTION_READY))
        self.touch(conn)
        return True

    def _reply_closed(self, seg: Segment, addr: Address) -> None:
        reply = closed_port_reply(seg, self.local[1])
        if reply is not None:
            self.stats["rst_sent"] += 1
            self._out.append((self.encode(reply), addr, 0))

    def path_mss_lowered(self, addr: Address, mss: int, now: float) -> None:
        """The path to ``addr`` now carries segments of at most ``mss`` bytes."""
        conn = self.connections.get(addr)
        if conn is not None:
            conn.path_mss_lowered(mss, now)
            self.touch(conn)

    def receive_icmp_unreachable(self, addr: Address, now: float) -> None:
        conn = self.connections.get(addr)
        if conn is not None:
            conn.receive_icmp_unreachable(now)
            self.touch(conn)

    # ------------------------------------------------------------------ timers

    def get_timer(self) -> float | None:
        """The earliest deadline of any connection (None: no timer armed)."""
        self._new_deadline = _NEVER
        heap = self._heap
        while heap:
            deadline, n, conn = heap[0]
            if self._queued.get(conn) == (deadline, n):
                if self.connections.get(conn.remote) is conn and conn.get_timer() == deadline:
                    return deadline
                _heappop(heap)
                self._requeue(conn, deadline)
            else:
                _heappop(heap)  # stale: a later entry replaced it
        return None

    def take_new_deadline(self) -> float | None:
        """The earliest deadline queued since the last ``get_timer()`` or call
        of this (None: none).  A wait entered with ``get_timer()``'s answer
        stays correct if it moves to this whenever it is earlier: deadlines that
        moved later leave their old, earlier entry, so such a wait may end
        early (``handle_timer`` then finds nothing due), never late.  Cheaper
        after every output pass than ``get_timer()``, which validates the heap."""
        deadline = self._new_deadline
        if deadline == _NEVER:
            return None
        self._new_deadline = _NEVER
        return deadline

    def handle_timer(self, now: float) -> None:
        heap = self._heap
        queued = self._queued
        while heap and heap[0][0] <= now:
            deadline, n, conn = _heappop(heap)
            if queued.get(conn) != (deadline, n):
                continue  # stale: a later entry replaced it
            if self.connections.get(conn.remote) is conn and conn.get_timer() == deadline:
                del queued[conn]
                conn.handle_timer(now)
                self.touch(conn)  # _after_output queues its next deadline
            else:
                self._requeue(conn, deadline)

    def _requeue(self, conn: Connection, deadline: float) -> None:
        """``conn``'s current entry (at ``deadline``) came up without firing: queue
        its key again if its deadline moved later, else forget it."""
        del self._queued[conn]
        key = self._timer_key.get(conn)
        if key is None or self.connections.get(conn.remote) is not conn:
            self._timer_key.pop(conn, None)
            return
        if key[0] > deadline:
            # The key keeps its n: among equal deadlines it fires in the order
            # it would have with one entry pushed per output pass.
            _heappush(self._heap, (key[0], key[1], conn))
            self._queued[conn] = key
        # (a deadline that moved earlier was queued after the output pass that moved it)

    # ------------------------------------------------------------------ output

    def datagrams_to_send(self, now: float) -> list[tuple[bytes, Address]]:
        return self._collect(now, with_ecn=False)

    def datagrams_to_send_ecn(self, now: float) -> list[tuple[bytes, Address, int]]:
        """As ``datagrams_to_send``, with each datagram's ECN field (ECT(0) on new
        data of an ECN connection, RFC 3168 6.1.4)."""
        return self._collect(now, with_ecn=True)

    def _collect(self, now: float, *, with_ecn: bool) -> list[Any]:
        """Every connection marked dirty produces its output (the one pass behind
        both ``datagrams_to_send`` forms; pairs without ``with_ecn``)."""
        out: list[Any] = self._out
        if not with_ecn and out:
            out = [(data, addr) for data, addr, _ in out]
        self._out = []
        encode = self.encode
        # The codec's own encoder is called directly: compiled, a native call
        # instead of a call through the Python-level wrapper.
        native = encode is encode_segment
        while self._dirty:
            # Swap in the spare set (no copy, no allocation per pass): what the
            # connections mark dirty meanwhile goes to the next round.
            dirty = self._dirty
            spare = self._spare
            if spare is dirty or spare:  # (only after an exception left them so)
                spare = {}
            self._dirty = spare
            for conn in dirty:
                budget = self._unvalidated.get(conn) if self._unvalidated else None
                for seg in conn.segments_to_send(now):
                    data = encode_segment(seg) if native else encode(seg)
                    if budget is not None:
                        # Anti-amplification: an unvalidated peer gets at most 3x
                        # the bytes it sent us (its address may be spoofed).
                        if budget[1] + len(data) > 3 * budget[0]:
                            self.stats["amplification_limited"] += 1
                            continue
                        budget[1] += len(data)
                    out.append((data, conn.remote, seg.ecn) if with_ecn else (data, conn.remote))
                self._after_output(conn, now)
            dirty.clear()
            self._spare = dirty
        return out

    def _after_output(self, conn: Connection, now: float) -> None:
        events = conn.events_to_report()
        if self._unvalidated and conn.state is not State.SYN_RCVD:
            self._unvalidated.pop(conn, None)  # handshake done (or dead): validated
        lst = self.listener
        if lst is not None and conn in lst.half_open:
            if conn.state is not State.SYN_RCVD:
                self._leave_half_open(lst, conn, now)
        elif events:
            n = len(events)
            if n == 1:
                kinds = _ONE_KIND[events[0]]
            elif n == 2:
                kinds = _TWO_KINDS[events[0], events[1]]
            else:
                kinds = frozenset(events)
            self.wakeups.append((conn, kinds))
        if conn.state is State.CLOSED:
            if self.connections.get(conn.remote) is conn:
                del self.connections[conn.remote]
            self._timer_key.pop(conn, None)  # its queued entry, if any, goes stale
            return
        deadline = conn.get_timer()
        if deadline is None:
            self._timer_key.pop(conn, None)
            return
        key = self._timer_key.get(conn)
        if key is None or key[0] != deadline:
            key = self._timer_key[conn] = (deadline, next(self._tiebreak))
        queued = self._queued.get(conn)
        if queued is None or deadline < queued[0]:
            heap = self._heap
            if len(heap) > 2 * len(self._queued) + 64:
                # Stale entries left by deadlines that kept moving earlier: drop them.
                heap[:] = [(q[0], q[1], c) for c, q in self._queued.items()]
                _heapify(heap)
            _heappush(heap, (deadline, key[1], conn))
            self._queued[conn] = key
            if deadline < self._new_deadline:
                self._new_deadline = deadline

    def _leave_half_open(self, lst: Listener, conn: Connection, now: float) -> None:
        """``conn`` finished its handshake, or died in it (RFC 9293: back to
        LISTEN): out of the half-open set, and into the accept queue if alive."""
        lst.half_open.discard(conn)
        if conn.state is State.CLOSED:
            return
        if len(lst.accept_queue) >= lst.backlog:
            conn.abort(now, "accept queue full: sent RST")
            self.stats["accept_queue_overflow"] += 1
            self._dirty[conn] = None
        else:
            lst.accept_queue.append(conn)
            self.wakeups.append((lst, _CONNECTION_READY))

    def take_wakeups(self) -> list[tuple[Connection | Listener, frozenset[Event]]]:
        w, self.wakeups = self.wakeups, []
        return w

    def accept(self) -> Connection | None:
        """Pop the oldest established connection, or None if there is none."""
        lst = self.listener
        while lst is not None and lst.accept_queue:
            conn = lst.accept_queue.popleft()
            # A connection reset after its handshake is still handed out (as
            # Linux does): the application's first recv reports the reset.
            if conn.state is not State.CLOSED or conn.error is not None:
                return conn
        return None


__all__ = ["Event", "Listener", "Mux", "closed_port_answer", "closed_port_reply"]
