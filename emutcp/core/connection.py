"""One TCP connection (the TCB of RFC 9293 3.3.1) as a sans-IO state machine.

Theory of operation
-------------------
A ``Connection`` owns no socket and reads no clock.  The shell drives it with

* user calls: ``open_active``, ``send``, ``receive``, ``shutdown_write``,
  ``close``, ``abort`` (RFC 9293 3.10.1-3.10.6);
* ``receive_segment(seg, now)``: one decoded segment from the peer
  (SEGMENT ARRIVES, RFC 9293 3.10.7), and ``receive_icmp_unreachable(now)``;
* ``handle_timer(now)``: call when ``now >= get_timer()``.

and collects the results with ``segments_to_send(now)`` (everything the
connection wants on the wire now, ACKs coalesced), ``events_to_report()`` and
``get_timer()`` (the earliest deadline of its timer table, or ``None``).

Sending is "pull" style, as in smoltcp: input handlers only change state and
set flags (``_ack_now``, ``snd_nxt`` rewound for a retransmission, ...);
``segments_to_send`` then looks at the state and emits SYN, data, FIN and
pure ACKs as the windows (``snd_wnd``, ``cwnd``), Nagle and SWS avoidance allow.
The send buffer keeps every unacknowledged byte, so a retransmission just
re-reads it: RTO recovery rewinds ``snd_nxt`` to ``snd_una`` (go-back-N, as
RFC 5681 3.1 and RFC 6298 5.4 prescribe), fast retransmit resends one segment.

``snd_max`` is the highest sequence number sent plus one; it plays the role of
the RFC's SND.NXT in the acceptability checks because ``snd_nxt`` itself moves
back after a timeout.

Every state change passes through ``_set_state``, which records a
``Transition(time, old, new, cause)``, traces it and raises events.
"""

from __future__ import annotations

import errno
from collections import deque
from collections.abc import Callable

from .buffers import ReceiveBuffer, SendBuffer
from .config import Config
from .congestion import make_controller
from .events import Event, MetricsSample, SegmentRecord, TcpInfo, Transition
from .rtt import RttEstimator
from .sack import Scoreboard, sack_blocks
from .segment import ACK, FIN, NO_OPTIONS, PSH, RST, SYN, Options, Segment
from .seq import SEQ_MASK, seq_add, seq_diff, seq_ge, seq_gt, seq_in_window, seq_le, seq_lt
from .state import READ_CLOSED, SYNCHRONIZED, State, check_user_call

S = State
Address = tuple[str, int]
# tracer(record, local, remote): record is a Transition or a SegmentRecord.
Tracer = Callable[[object, Address, Address | None], None]

DEFAULT_MSS = 536  # RFC 9293 3.7.1: assumed when the peer sends no MSS option
_MAX_WINDOW_FIELD = 65_535

# Timer names (one table per connection; DESIGN.md point 3).
RTX, PERSIST, DELACK, TIME_WAIT_TIMER, USER, KEEPALIVE = (
    "retransmission",
    "persist",
    "delayed-ack",
    "time-wait",
    "user-timeout",
    "keepalive",
)


def _wscale_for(buffer: int) -> int:
    shift = 0
    while (buffer >> shift) > _MAX_WINDOW_FIELD and shift < 14:
        shift += 1
    return shift


class Connection:
    def __init__(
        self,
        *,
        local: Address,
        remote: Address,
        config: Config,
        iss: int,
        now: float,
        tracer: Tracer | None = None,
        passive: bool = False,
    ) -> None:
        self.local = local
        self.remote = remote
        self.config = config
        self.tracer = tracer
        self.passive = passive
        self.state = S.LISTEN if passive else S.CLOSED
        self.transitions: list[Transition] = []
        self.created_at = now
        self.error: OSError | None = None
        self._events: list[Event] = []
        self._out: list[Segment] = []
        self._out_reasons: list[str] = []
        self.owner: object = None  # opaque slot for the shell (its socket object)

        # Send sequence space (RFC 9293 3.3.1).
        self.iss = iss & SEQ_MASK
        self.snd_una = self.iss
        self.snd_nxt = self.iss
        self.snd_max = self.iss
        self.snd_wnd = 0
        self.snd_wl1 = 0
        self.snd_wl2 = 0
        self.max_snd_wnd = 0
        self.snd_mss = min(DEFAULT_MSS, config.mss)
        self.snd_wscale = 0
        # Receive sequence space.
        self.irs = 0
        self.rcv_nxt = 0
        self.rcv_adv = 0  # right edge of the window we advertised; never moves left
        self.rcv_wscale = _wscale_for(config.recv_buffer) if config.window_scaling else 0
        self._peer_sent_wscale = False

        self.send_buf = SendBuffer(config.send_buffer)
        self.recv_buf = ReceiveBuffer(config.recv_buffer)
        self._syn_acked = False
        self._fin_queued = False  # user shut down the write side
        self._fin_sent = False
        self._fin_acked = False
        self._peer_fin_offset: int | None = None  # stream offset of the peer's FIN
        self.peer_fin_received = False
        self.read_shutdown = False  # SHUT_RD: discard what arrives
        self.user_closed = False  # close() called: nobody will read again

        self.timers: dict[str, float] = {}
        self.rtt = RttEstimator(
            initial_rto=config.initial_rto, rto_min=config.rto_min, rto_max=config.rto_max
        )
        self._timed_seq: int | None = None
        self._timed_at = 0.0
        self._retries = 0
        self._persist_backoff = 0
        self._persist_unanswered = 0
        self._keepalive_probes = 0
        self._sws_override = False
        self.cc = make_controller(
            config.congestion, mss=self.snd_mss, initial_window=config.initial_window
        )
        self._dupacks = 0
        self._in_recovery = False
        # SACK (RFC 2018 / 6675) and timestamps (RFC 7323), negotiated on the SYN.
        self.sack_ok = False
        self.ts_ok = False
        self.ts_recent = 0
        self._last_ack_sent = 0
        self._clock = now  # the latest ``now`` seen; stamps TSval on output
        self._ts_epoch = int(now * 1000) & SEQ_MASK  # TSval at the last timeout (or start)
        self.scoreboard = Scoreboard()
        self._high_rxt = 0  # HighRxt as a stream offset (RFC 6675)
        # cwnd/ssthresh/srtt samples over time, for plots: (time, cwnd, ssthresh, srtt),
        # one per ACK that moves the window or recovery event; the newest 65,536 kept.
        self.history: deque[tuple[float, int, int, float | None]] = deque(maxlen=65_536)
        self.delivery_rate = 0.0  # bytes/s over the last round trip or more
        self._rate_mark = (now, 0)
        self._recover = self.iss
        self._ack_now = False
        self._ack_reason = "ACK"
        self._unacked_bytes = 0  # in-order bytes received since our last ACK
        self._challenge_window = (0.0, 0)  # (second it started, challenge ACKs sent)
        self._last_oow_ack = -1e9  # when we last answered an out-of-window pure ACK
        self._rtx_cause = ""

        self.stats = dict.fromkeys(
            (
                "bytes_sent",
                "bytes_acked",
                "bytes_received",
                "segments_sent",
                "segments_received",
                "retransmits",
                "rto_expirations",
                "fast_retransmits",
                "sack_retransmits",
                "rto_retransmits",
                "dropped_segments",
                "paws_rejected",
                "oow_acks_suppressed",
                "challenge_acks",
            ),
            0,
        )

    # ------------------------------------------------------------------ helpers

    def __repr__(self) -> str:
        return f"<Connection {self.local} <-> {self.remote} {self.state}>"

    def _set_state(self, new: State, cause: str, now: float) -> None:
        """The one funnel for state changes: record, trace, raise events."""
        old = self.state
        if old is new:
            return
        self.state = new
        t = Transition(now, old, new, cause)
        self.transitions.append(t)
        if self.tracer is not None:
            self.tracer(t, self.local, self.remote)
        if new is S.ESTABLISHED:
            self._events.append(Event.ESTABLISHED)
            self.arm_keepalive(now)
        elif new is S.TIME_WAIT:
            # RFC 9293 3.10.7.4: TIME-WAIT lasts 2 MSL; nothing else is pending.
            self.timers = {TIME_WAIT_TIMER: now + 2 * self.config.msl}
        elif new is S.CLOSED:
            self.timers.clear()
            self._events.append(Event.CLOSED)
        if new is not S.ESTABLISHED and new is not S.CLOSED:
            self._events.append(Event.STATE)

    def _fail(self, error: OSError, event: Event, cause: str, now: float) -> None:
        self.error = error
        self._events.append(event)
        self._set_state(S.CLOSED, cause, now)

    def _seq_of(self, offset: int) -> int:
        """Sequence number of send-stream byte ``offset`` (data starts at ISS+1)."""
        return (self.iss + 1 + offset) & SEQ_MASK

    def _send_offset(self, seq: int) -> int:
        return self.send_buf.base + seq_diff(seq, self._seq_of(self.send_buf.base))

    @property
    def _fin_seq(self) -> int:
        return self._seq_of(self.send_buf.end)

    @property
    def flight_size(self) -> int:
        """Bytes sent and not yet acknowledged (RFC 5681 FlightSize)."""
        return seq_diff(self.snd_max, self.snd_una)

    @property
    def rcv_wnd(self) -> int:
        return max(0, seq_diff(self.rcv_adv, self.rcv_nxt))

    def _start_timer(self, name: str, deadline: float) -> None:
        self.timers[name] = deadline

    def _stop_timer(self, name: str) -> None:
        self.timers.pop(name, None)

    def _request_ack(self, reason: str) -> None:
        self._ack_now = True
        self._ack_reason = reason

    # --------------------------------------------------------------- user calls

    def open_active(self, now: float) -> None:
        """RFC 9293 3.10.1 OPEN (active): send SYN, enter SYN-SENT."""
        check_user_call("connect", self.state)
        self._set_state(S.SYN_SENT, "connect: sent SYN", now)
        if self.config.user_timeout:
            self._start_timer(USER, now + self.config.user_timeout)

    def send(self, data, now: float) -> int:
        """RFC 9293 3.10.2 SEND: queue as much of ``data`` as the buffer holds."""
        if self.error is not None:
            raise self.error
        check_user_call("send", self.state)
        n = self.send_buf.append(data)
        if n and self.config.user_timeout and USER not in self.timers:
            self._start_timer(USER, now + self.config.user_timeout)
        return n

    def receive(self, max_bytes: int, now: float) -> bytes:
        """RFC 9293 3.10.3 RECEIVE: in-order bytes, b"" if none are buffered."""
        data = self.recv_buf.read(max_bytes)
        if data and self.state in SYNCHRONIZED:
            self._maybe_window_update()
        return data

    @property
    def readable_bytes(self) -> int:
        return len(self.recv_buf)

    @property
    def at_eof(self) -> bool:
        """The peer's FIN arrived and every byte before it has been read."""
        return self.peer_fin_received and not self.recv_buf

    def shutdown_write(self, now: float) -> None:
        """RFC 9293 3.10.4 CLOSE: no more data from us; send FIN after the queue."""
        check_user_call("shutdown", self.state)
        st = self.state
        if st in (S.LISTEN, S.SYN_SENT):
            self._set_state(S.CLOSED, f"close in {st}: TCB deleted", now)
            return
        self._fin_queued = True
        pending = len(self.send_buf) - seq_diff(self.snd_nxt, self._seq_of(self.send_buf.base))
        how = "sent FIN" if pending <= 0 else f"FIN queued after {pending} bytes"
        if st is S.SYN_RCVD:
            if self.send_buf:
                return  # RFC 9293 3.10.4: queue the close until ESTABLISHED
            self._set_state(S.FIN_WAIT_1, f"close: {how}", now)
        elif st is S.ESTABLISHED:
            self._set_state(S.FIN_WAIT_1, f"shutdown: {how}", now)
        elif st is S.CLOSE_WAIT:
            self._set_state(S.LAST_ACK, f"shutdown: {how}", now)

    def close(self, now: float) -> None:
        """The application is done with the connection (socket close()).

        Like Linux (and RFC 2525 2.17), unread received data turns the close
        into an abort with RST, so the peer learns its data was not consumed.
        """
        self.user_closed = True
        if self.state is S.CLOSED:
            return
        if self.recv_buf or (self.state in SYNCHRONIZED and self.recv_buf.ooo_bytes):
            self.abort(now, "close with unread data: sent RST")
            return
        if self.state in (S.LISTEN, S.SYN_SENT, S.SYN_RCVD, S.ESTABLISHED, S.CLOSE_WAIT):
            if self.state is S.SYN_RCVD and self.send_buf:
                self._fin_queued = True
                return
            self.shutdown_write(now)

    def abort(self, now: float, cause: str = "abort: sent RST") -> None:
        """RFC 9293 3.10.5 ABORT: RST the peer (in synchronized states) and drop the TCB."""
        self._clock = now
        if self.state in (
            S.SYN_RCVD,
            S.ESTABLISHED,
            S.FIN_WAIT_1,
            S.FIN_WAIT_2,
            S.CLOSE_WAIT,
        ):
            self._emit(RST, self.snd_max, b"", "RST: " + cause.split(": ")[0], with_ack=False)
        self._events.append(Event.RESET)
        self._set_state(S.CLOSED, cause, now)

    # ------------------------------------------------------------ segment input

    def receive_segment(self, seg: Segment, now: float) -> None:
        """SEGMENT ARRIVES (RFC 9293 3.10.7)."""
        self.stats["segments_received"] += 1
        self._clock = now
        self._trace_segment("in", seg, "", now)
        st = self.state
        if st is S.CLOSED:
            return  # the mux answers for closed connections (3.10.7.1)
        if st is S.LISTEN:
            self._segment_in_listen(seg, now)
        elif st is S.SYN_SENT:
            self._segment_in_syn_sent(seg, now)
        else:
            self._segment_in_other(seg, now)

    def receive_icmp_unreachable(self, now: float) -> None:
        """ICMP port unreachable from the peer's host (RFC 1122 4.2.3.9, as Linux):
        a hard error while connecting, a soft error (ignored) once synchronized."""
        if self.state in (S.SYN_SENT, S.SYN_RCVD) and not self.passive:
            err = ConnectionRefusedError(
                errno.ECONNREFUSED,
                f"connection refused: nothing listens on {self.remote[0]}:{self.remote[1]}",
            )
            self._fail(err, Event.RESET, "ICMP port unreachable", now)

    def open_from_cookie(
        self, seg: Segment, mss: int, wscale: int | None, sack: bool, now: float
    ) -> None:
        """Become ESTABLISHED from a valid SYN-cookie ACK (see syncookies.py).  Our
        ISS is the cookie; the handshake happened without us keeping any state."""
        self.irs = seq_add(seg.seq, -1)
        self.rcv_nxt = seg.seq
        self.rcv_adv = seq_add(self.rcv_nxt, min(self.config.recv_buffer, _MAX_WINDOW_FIELD))
        self.snd_mss = min(mss, self.config.mss)
        self.cc.mss = self.snd_mss
        self.cc.cwnd = self.config.initial_window * self.snd_mss
        if wscale is not None and self.config.window_scaling:
            self._peer_sent_wscale = True
            self.snd_wscale = wscale
        else:
            self.snd_wscale = self.rcv_wscale = 0
        self.sack_ok = self.config.sack and sack
        self._syn_acked = True
        self.snd_una = self.snd_nxt = self.snd_max = seq_add(self.iss, 1)
        self.snd_wnd = self.max_snd_wnd = seg.window << self.snd_wscale
        self.snd_wl1, self.snd_wl2 = seg.seq, seg.ack
        self._set_state(S.SYN_RCVD, "recv SYN: sent SYN+ACK (SYN cookie, no state kept)", now)
        self._set_state(S.ESTABLISHED, "recv ACK: SYN cookie valid", now)

    def _segment_in_listen(self, seg: Segment, now: float) -> None:
        """RFC 9293 3.10.7.2: the mux created us in LISTEN for this SYN."""
        f = seg.flags
        if f & RST:
            return  # first: an incoming RST is ignored
        if f & ACK:
            # second: any ACK is bad in LISTEN: <SEQ=SEG.ACK><CTL=RST>
            self._emit(RST, seg.ack, b"", "RST: ACK in LISTEN", with_ack=False)
            return
        if not f & SYN:
            return  # fourth: drop
        # third: SYN.  Payload on a SYN is not ACKed, so the peer will resend it.
        self.irs = seg.seq
        self.rcv_nxt = seq_add(seg.seq, 1)
        self._take_syn_options(seg)
        self.snd_wnd = seg.window  # RFC 7323 2.2: the SYN's window is never scaled
        self.max_snd_wnd = self.snd_wnd
        self.snd_wl1, self.snd_wl2 = seg.seq, 0
        self._set_state(S.SYN_RCVD, "recv SYN: sent SYN+ACK", now)

    def _segment_in_syn_sent(self, seg: Segment, now: float) -> None:
        """RFC 9293 3.10.7.3."""
        f = seg.flags
        acceptable_ack = False
        if f & ACK:
            # first: an ACK outside (ISS, SND.NXT] is answered with RST unless it is one.
            if seq_le(seg.ack, self.iss) or seq_gt(seg.ack, self.snd_max):
                if not f & RST:
                    self._emit(RST, seg.ack, b"", "RST: bad ACK in SYN-SENT", with_ack=False)
                self.stats["dropped_segments"] += 1
                return
            acceptable_ack = True
        if f & RST:
            # second: RST with an acceptable ACK means the peer refused us.
            if acceptable_ack:
                err = ConnectionRefusedError(
                    errno.ECONNREFUSED,
                    f"connection refused by {self.remote[0]}:{self.remote[1]} (RST)",
                )
                self._fail(err, Event.RESET, "recv RST: connection refused", now)
            return
        if not f & SYN:
            return  # fifth: neither SYN nor RST
        # fourth: SYN.
        self.irs = seg.seq
        self.rcv_nxt = seq_add(seg.seq, 1)
        self.rcv_adv = seq_add(self.rcv_nxt, min(self.config.recv_buffer, _MAX_WINDOW_FIELD))
        self._take_syn_options(seg)
        self.snd_wnd = seg.window
        self.max_snd_wnd = self.snd_wnd
        self.snd_wl1, self.snd_wl2 = seg.seq, seg.ack
        if acceptable_ack:
            self._ack_advance(seg.ack, now)
            self._set_state(S.ESTABLISHED, "recv SYN+ACK: sent ACK", now)
            self._request_ack("ACK of SYN")
            if seg.payload or f & FIN:
                self._process_text_and_fin(seg, now)  # sixth step onwards
        else:
            # Simultaneous open (RFC 9293 3.5, figure 7).
            self.snd_nxt = self.iss  # resend our SYN, now as SYN+ACK
            self._set_state(S.SYN_RCVD, "recv SYN (simultaneous open): sent SYN+ACK", now)

    def _take_syn_options(self, seg: Segment) -> None:
        o = seg.options
        self.snd_mss = min(o.mss or DEFAULT_MSS, self.config.mss)  # RFC 9293 3.7.1
        self.cc.mss = self.snd_mss
        self.cc.cwnd = self.config.initial_window * self.snd_mss
        if o.wscale is not None and self.config.window_scaling:
            self._peer_sent_wscale = True
            self.snd_wscale = o.wscale  # RFC 7323 2.2
        else:
            self.snd_wscale = 0
            self.rcv_wscale = 0
        self.sack_ok = self.config.sack and o.sack_permitted  # RFC 2018 2
        self.ts_ok = self.config.timestamps and o.timestamps is not None  # RFC 7323 3.2
        if self.ts_ok:
            self.ts_recent = o.timestamps[0]

    def _acceptable(self, seg: Segment) -> bool:
        """RFC 9293 3.10.7.4 first: the four-case acceptability test."""
        seg_len = seg.seg_len
        wnd = self.rcv_wnd
        if seg_len == 0:
            if wnd == 0:
                return seg.seq == self.rcv_nxt
            return seq_in_window(seg.seq, self.rcv_nxt, wnd)
        if wnd == 0:
            return False
        return seq_in_window(seg.seq, self.rcv_nxt, wnd) or seq_in_window(
            seq_add(seg.seq, seg_len - 1), self.rcv_nxt, wnd
        )

    def _segment_in_other(self, seg: Segment, now: float) -> None:
        """RFC 9293 3.10.7.4: SYN-RECEIVED and the synchronized states."""
        f = seg.flags
        st = self.state

        if st is S.SYN_RCVD and f & SYN and not f & ACK and seg.seq == self.irs:
            # A retransmitted SYN: our SYN+ACK was lost; send it again (as Linux).
            self.snd_nxt = self.iss
            return
        if (
            st is S.SYN_RCVD
            and f & SYN
            and f & ACK
            and not f & RST
            and seg.seq == self.irs
            and seq_lt(self.snd_una, seg.ack)
            and seq_le(seg.ack, self.snd_max)
        ):
            # Simultaneous open (RFC 9293 3.5 figure 7 line 5): the peer's SYN+ACK
            # acknowledges our SYN; its SYN is old news, so treat it as the ACK.
            self.snd_wnd = seg.window << self.snd_wscale
            self.snd_wl1, self.snd_wl2 = seg.seq, seg.ack
            self._ack_advance(seg.ack, now)
            self._set_state(S.ESTABLISHED, "recv SYN+ACK (simultaneous open): sent ACK", now)
            self._request_ack("ACK of SYN")
            return

        # RFC 7323 5.3 R1 (PAWS): an old timestamp marks an old duplicate.
        ts = seg.options.timestamps
        if self.ts_ok and ts is not None and not f & RST and seq_lt(ts[0], self.ts_recent):
            self.stats["paws_rejected"] += 1
            self._request_ack("ACK (PAWS: old timestamp)")
            return

        # first: sequence number check.
        if not self._acceptable(seg):
            # A zero window still accepts the ACK of a segment at RCV.NXT (3.10.7.4).
            zero_window_ok = self.rcv_wnd == 0 and seg.seq == self.rcv_nxt
            if not zero_window_ok:
                self.stats["dropped_segments"] += 1
                if not f & RST:
                    self._out_of_window_ack(seg, now, "ACK of unacceptable segment")
                if st is S.TIME_WAIT and f & FIN and seq_lt(seg.seq, self.rcv_nxt):
                    # A retransmitted FIN: ACK again and restart 2 MSL (3.10.7.4 eighth).
                    self._start_timer(TIME_WAIT_TIMER, now + 2 * self.config.msl)
                return

        # RFC 7323 4.3: remember the peer's TSval to echo (Last.ACK.sent rule).
        if (
            self.ts_ok
            and ts is not None
            and seq_le(seg.seq, self._last_ack_sent)
            and seq_ge(ts[0], self.ts_recent)
        ):
            self.ts_recent = ts[0]

        # second: RST.
        if f & RST:
            self._segment_rst(seg, now)
            return
        if KEEPALIVE in self.timers:
            self.arm_keepalive(now)  # the peer is alive

        # fourth: SYN in a synchronized state or SYN-RECEIVED (RFC 5961 4.2).
        if f & SYN:
            if st is S.SYN_RCVD and self.passive:
                # RFC 9293: "return to LISTEN"; the mux drops this embryonic TCB.
                self._fail(
                    ConnectionResetError(errno.ECONNRESET, "new SYN in SYN-RECEIVED"),
                    Event.RESET,
                    "recv SYN in SYN-RECEIVED: back to LISTEN",
                    now,
                )
                return
            self._challenge_ack(now, "challenge ACK (SYN)")
            return

        # fifth: ACK.
        if not f & ACK:
            self.stats["dropped_segments"] += 1
            return
        if not self._segment_ack(seg, now):
            return

        # sixth/seventh/eighth: text and FIN.
        self._process_text_and_fin(seg, now)
        if self.state is S.FIN_WAIT_1 and self._fin_acked:
            # Our FIN was acknowledged by a FIN+ACK whose FIN is not in order yet.
            self._set_state(S.FIN_WAIT_2, "recv ACK of FIN", now)

    def _segment_rst(self, seg: Segment, now: float) -> None:
        st = self.state
        if st is S.TIME_WAIT:
            # RFC 1337 (TIME-WAIT assassination): ignore RST in TIME-WAIT.
            self.stats["dropped_segments"] += 1
            return
        if seg.seq != self.rcv_nxt:
            # RFC 5961 3.2: in window but not exact: challenge ACK, keep the connection.
            self._challenge_ack(now, "challenge ACK (RST)")
            return
        if st is S.SYN_RCVD:
            if self.passive:
                cause = "recv RST: back to LISTEN"
                err = ConnectionResetError(errno.ECONNRESET, "reset before accept")
            else:
                cause = "recv RST: connection refused"
                err = ConnectionRefusedError(errno.ECONNREFUSED, "connection refused (RST)")
            self._fail(err, Event.RESET, cause, now)
        elif st in (S.CLOSING, S.LAST_ACK):
            self._fail(
                ConnectionResetError(errno.ECONNRESET, "connection reset by peer"),
                Event.RESET,
                "recv RST",
                now,
            )
        else:
            self.recv_buf.discard_all()  # RFC 9293: flush queues
            self._fail(
                ConnectionResetError(
                    errno.ECONNRESET,
                    f"connection reset by peer {self.remote[0]}:{self.remote[1]}",
                ),
                Event.RESET,
                "recv RST: connection reset",
                now,
            )

    def _out_of_window_ack(self, seg: Segment, now: float, reason: str) -> None:
        """Answer an unacceptable segment with an ACK (RFC 9293 3.10.7.4), but
        rate-limit the answers to pure ACKs: two peers that disagree on sequence
        numbers (a desynchronizing man in the middle) would otherwise ACK each
        other's ACKs forever.  Segments carrying data or SYN/FIN are always
        answered; they are not part of such a loop (Linux's tcp_oow_rate_limited)."""
        if seg.seg_len == 0 and now - self._last_oow_ack < self.config.invalid_ack_interval:
            self.stats["oow_acks_suppressed"] += 1
            return
        if seg.seg_len == 0:
            self._last_oow_ack = now
        self._request_ack(reason)

    def _challenge_ack(self, now: float, reason: str) -> None:
        """RFC 5961 7: challenge ACKs, rate-limited per connection."""
        second, sent = self._challenge_window
        if now - second >= 1.0:
            second, sent = now, 0
        if sent < self.config.challenge_ack_limit:
            sent += 1
            self.stats["challenge_acks"] += 1
            self._request_ack(reason)
        self._challenge_window = (second, sent)

    def _segment_ack(self, seg: Segment, now: float) -> bool:
        """RFC 9293 3.10.7.4 fifth; returns False if the segment is to be dropped."""
        st = self.state
        ack = seg.ack
        if st is S.SYN_RCVD:
            if seq_lt(self.snd_una, ack) and seq_le(ack, self.snd_max):
                self.snd_wnd = seg.window << self.snd_wscale
                self.max_snd_wnd = max(self.max_snd_wnd, self.snd_wnd)
                self.snd_wl1, self.snd_wl2 = seg.seq, ack
                self._ack_advance(ack, now)
                if self._fin_queued and not self.send_buf:
                    self._set_state(S.FIN_WAIT_1, "recv ACK; close queued: sent FIN", now)
                else:
                    self._set_state(S.ESTABLISHED, "recv ACK of SYN", now)
                    if self._fin_queued:
                        self._set_state(S.FIN_WAIT_1, "close queued in SYN-RECEIVED: FIN", now)
                st = self.state
            else:
                self._emit(RST, ack, b"", "RST: bad ACK in SYN-RECEIVED", with_ack=False)
                return False
        if st is S.TIME_WAIT:
            # Only a retransmitted FIN can arrive (ACKed in the FIN step).
            if seg.flags & FIN:
                self._process_fin(now)
            return False

        # RFC 5961 5.2: SND.UNA - MAX.SND.WND <= SEG.ACK <= SND.NXT, else drop (+ACK).
        if seq_gt(ack, self.snd_max):
            self.stats["dropped_segments"] += 1
            self._out_of_window_ack(seg, now, "ACK of unsent data")
            return False
        if seq_lt(ack, seq_add(self.snd_una, -max(self.max_snd_wnd, 1))):
            self.stats["dropped_segments"] += 1
            self._challenge_ack(now, "challenge ACK (old ACK)")
            return False

        if self.sack_ok and seg.options.sack_blocks:
            self._update_scoreboard(seg.options.sack_blocks)
        if seq_gt(ack, self.snd_una):
            self._ack_advance(ack, now, seg)
        elif ack == self.snd_una:
            self._maybe_duplicate_ack(seg, now)

        self._persist_unanswered = 0  # the peer answers: keep probing patiently
        # Window update (RFC 9293 3.10.7.4, SND.WL1/SND.WL2 rule).  A closed window
        # also reopens on any acceptable segment offering one: otherwise one forged
        # in-window ACK with a zero window and a future SEQ would freeze us for good,
        # every genuine probe answer "older" by SND.WL1.  At worst a stale segment
        # reopens it and the next probe answer closes it again.
        reopen = self.snd_wnd == 0 and seg.window > 0 and ack == self.snd_una
        if (
            seq_lt(self.snd_wl1, seg.seq)
            or (self.snd_wl1 == seg.seq and seq_le(self.snd_wl2, ack))
            or reopen
        ):
            old_wnd = self.snd_wnd
            self.snd_wnd = seg.window << self.snd_wscale
            self.max_snd_wnd = max(self.max_snd_wnd, self.snd_wnd)
            self.snd_wl1, self.snd_wl2 = seg.seq, ack
            if self.snd_wnd and not old_wnd:
                self._stop_timer(PERSIST)
                self._persist_backoff = 0

        if (
            self._fin_sent
            and not self._fin_acked
            and seq_ge(self.snd_una, seq_add(self._fin_seq, 1))
        ):
            self._fin_acked = True
            if st is S.FIN_WAIT_1 and not seg.flags & FIN:
                self._set_state(S.FIN_WAIT_2, "recv ACK of FIN", now)
            elif st is S.CLOSING:
                self._set_state(S.TIME_WAIT, "recv ACK of FIN", now)
                return False
            elif st is S.LAST_ACK:
                self._set_state(S.CLOSED, "recv ACK of FIN", now)
                return False
        return True

    def _update_scoreboard(self, blocks) -> None:
        """RFC 2018 / 6675: record SACKed ranges that lie inside the outstanding data."""
        una, high = self.send_buf.base, min(self._send_offset(self.snd_max), self.send_buf.end)
        for left, right in blocks:
            start, end = self._send_offset(left), self._send_offset(right)
            if una <= start < end <= high:  # D-SACKs and nonsense are ignored
                self.scoreboard.add(start, end)

    def _ack_advance(self, ack: int, now: float, seg: Segment | None = None) -> None:
        """New data (or our SYN/FIN) acknowledged: SND.UNA moves to ``ack``."""
        acked = seq_diff(ack, self.snd_una)
        if not self._syn_acked and seq_gt(ack, self.iss):
            self._syn_acked = True
            acked -= 1
        data_acked = self.send_buf.acknowledge(self._send_offset(ack))
        self.scoreboard.advance(self.send_buf.base)
        self.snd_una = ack
        if seq_lt(self.snd_nxt, ack):
            self.snd_nxt = ack
        self._retries = 0
        self._persist_backoff = 0
        self.stats["bytes_acked"] += data_acked
        if data_acked:
            self._events.append(Event.WRITABLE)
        ts = seg.options.timestamps if seg is not None and self.ts_ok else None
        if ts is not None and ts[1] and seq_ge(ts[1], self._ts_epoch):
            # RFC 7323 4.1 RTTM: the echoed TSval times the ACKed segment, even a
            # retransmitted one.  Echoes older than our last timeout are skipped: a
            # duplicate of data the peer already had is answered with its old
            # TS.Recent, which would inflate the sample by the whole backoff.
            self.rtt.sample(((self._tsval(now) - ts[1]) & SEQ_MASK) / 1000)
            self._timed_seq = None
        elif self._timed_seq is not None and seq_gt(ack, self._timed_seq):
            # RFC 6298 2.2/2.3, one timed segment; Karn: never a retransmission.
            self.rtt.sample(now - self._timed_at)
            self._timed_seq = None
        # Congestion control and loss recovery (RFC 5681 3.2, RFC 6582 3.2, RFC 6675 5).
        if self._in_recovery and self.sack_ok:
            if seq_ge(ack, self._recover):
                self._in_recovery = False  # RFC 6675 5: recovery ends at RecoveryPoint
                self.cc.cwnd = max(self.cc.ssthresh, 2 * self.snd_mss)
        elif self._in_recovery:
            if seq_ge(ack, self._recover):
                self._in_recovery = False  # full ACK: deflate (RFC 6582 3.2 step 3)
                self.cc.cwnd = max(
                    min(self.cc.ssthresh, self.flight_size + self.snd_mss), self.snd_mss
                )
            else:
                # Partial ACK: retransmit the next hole, deflate (RFC 6582 3.2 step 4).
                self._retransmit_first(now, "fast retransmit (partial ACK)")
                self.cc.cwnd = max(self.cc.cwnd - acked + self.snd_mss, self.snd_mss)
        elif acked > 0:
            self.cc.on_ack(acked, now, self.rtt.srtt)
        self._dupacks = 0
        self._sample_history(now)
        # RFC 6298 5.2 / 5.3: stop the timer when all is acked, else restart it.
        if self.snd_una == self.snd_max:
            self._stop_timer(RTX)
        else:
            self._start_timer(RTX, now + self.rtt.rto)
        if self.config.user_timeout:
            # RFC 9293 3.8.3 USER TIMEOUT: restarted by progress, stopped when
            # nothing is left to deliver (queued data counts, as on Linux).
            if self.send_buf or (self._fin_queued and not self._fin_acked):
                self._start_timer(USER, now + self.config.user_timeout)
            else:
                self._stop_timer(USER)

    def _maybe_duplicate_ack(self, seg: Segment, now: float) -> None:
        """RFC 5681 2 (definition of a duplicate ACK) and 3.2 (fast retransmit)."""
        if (
            seg.payload
            or seg.flags & (SYN | FIN)
            or self.snd_max == self.snd_una
            or (seg.window << self.snd_wscale) != self.snd_wnd
        ):
            return
        self._dupacks += 1
        fresh_episode = seq_ge(self.snd_una, self._recover) or self._recover == self.iss
        threshold = (self.config.dupthresh - 1) * self.snd_mss
        if self.sack_ok:
            lost = self.scoreboard.lost_boundary(threshold)
            if (
                not self._in_recovery
                and fresh_episode
                and (
                    self._dupacks >= self.config.dupthresh
                    or (lost is not None and lost > self.send_buf.base)
                )
            ):
                # RFC 6675 5 step 4: enter loss recovery; pipe will pace retransmissions.
                self._in_recovery = True
                self._recover = self.snd_max
                self.cc.on_loss(self.flight_size, now)
                self._high_rxt = self.send_buf.base
                self.stats["fast_retransmits"] += 1
                self._retransmit_first(now, "fast retransmit (SACK recovery)")
                self._high_rxt = self.send_buf.base + self.snd_mss
                self._sample_history(now)
            return
        if self._in_recovery:
            self.cc.cwnd += self.snd_mss  # RFC 5681 3.2 step 4: inflate
        elif self._dupacks == self.config.dupthresh and fresh_episode:
            # RFC 6582 3.2 step 2: enter fast recovery, remember the highest sent.
            self._in_recovery = True
            self._recover = self.snd_max
            self.cc.on_loss(self.flight_size, now)
            self.stats["fast_retransmits"] += 1
            self._retransmit_first(now, "fast retransmit (3 duplicate ACKs)")
            self.cc.cwnd = self.cc.ssthresh + 3 * self.snd_mss  # RFC 5681 3.2 step 3
            self._sample_history(now)

    def _retransmit_first(self, now: float, reason: str) -> None:
        """Resend one segment at SND.UNA without moving SND.NXT."""
        off = self.send_buf.base
        n = min(self.snd_mss, self.send_buf.end - off, seq_diff(self.snd_max, self.snd_una))
        flags = ACK
        if n <= 0:
            if self._fin_sent and not self._fin_acked:
                self._emit(ACK | FIN, self._fin_seq, b"", reason)
                self.stats["retransmits"] += 1
            return
        payload = self.send_buf.peek(off, n)
        if self._fin_sent and off + n == self.send_buf.end and n < self.snd_mss:
            flags |= FIN
        if off + n == self.send_buf.end:
            flags |= PSH
        self._emit(flags, self.snd_una, payload, reason)
        self.stats["retransmits"] += 1
        self._timed_seq = None  # Karn's rule
        self._start_timer(RTX, now + self.rtt.rto)

    def _process_text_and_fin(self, seg: Segment, now: float) -> None:
        """RFC 9293 3.10.7.4 seventh (segment text) and eighth (FIN)."""
        st = self.state
        accepts_text = st in (S.ESTABLISHED, S.FIN_WAIT_1, S.FIN_WAIT_2)
        data_seq = seq_add(seg.seq, 1) if seg.flags & SYN else seg.seq
        payload = seg.payload
        fin = bool(seg.flags & FIN)
        if payload and accepts_text:
            if self.user_closed:
                # Data after close(): nobody will read it.  Linux answers RST
                # (RFC 2525 2.17) so the sender stops; so do we.
                self.abort(now, "data after close: sent RST")
                return
            # Trim to the window: the front below RCV.NXT, the tail beyond the edge.
            front = seq_diff(self.rcv_nxt, data_seq)
            if front > 0:
                payload = payload[front:]
                data_seq = self.rcv_nxt
            room = seq_diff(seq_add(self.rcv_nxt, self.rcv_wnd), data_seq)
            if len(payload) > room:
                payload = payload[: max(room, 0)]
                fin = False  # the FIN lies beyond the window
                if not payload:
                    self._request_ack("ACK (window full)")
            offset = self.recv_buf.nxt + seq_diff(data_seq, self.rcv_nxt)
            if payload:
                if self.read_shutdown:
                    # SHUT_RD: acknowledge and discard, like Linux.
                    if offset == self.recv_buf.nxt:
                        self.recv_buf.nxt += len(payload)
                        self.rcv_nxt = seq_add(self.rcv_nxt, len(payload))
                        self.rcv_adv = seq_add(self.rcv_adv, len(payload))
                    self._request_ack("ACK")
                else:
                    had_gap = bool(self.recv_buf.ooo_bytes)
                    advanced = self.recv_buf.insert(offset, payload)
                    if advanced:
                        self.rcv_nxt = seq_add(self.rcv_nxt, advanced)
                        self.stats["bytes_received"] += advanced
                        self._events.append(Event.READABLE)
                        self._unacked_bytes += advanced
                        if had_gap:
                            self._request_ack("ACK (gap filled)")  # RFC 5681 4.2
                        elif self._unacked_bytes >= 2 * self.config.mss:
                            self._request_ack("ACK (every second segment)")  # RFC 9293 3.8.6.3
                        elif DELACK not in self.timers:
                            self._start_timer(DELACK, now + self.config.delayed_ack)
                    else:
                        # Out of order or duplicate: one ACK per segment, at once and
                        # not coalesced, so the sender can count them (RFC 5681 4.2).
                        self._emit(ACK, self.snd_nxt, b"", "duplicate ACK")
            if fin:
                self._peer_fin_offset = offset + len(payload)
        elif fin and st in (S.ESTABLISHED, S.FIN_WAIT_1, S.FIN_WAIT_2, S.SYN_RCVD):
            self._peer_fin_offset = self.recv_buf.nxt + seq_diff(data_seq, self.rcv_nxt)
        elif fin:
            # CLOSE-WAIT, CLOSING, LAST-ACK: a retransmitted FIN; re-ACK it.
            self._request_ack("ACK of retransmitted FIN")
        if self._peer_fin_offset is not None and self._peer_fin_offset == self.recv_buf.nxt:
            if not self.peer_fin_received:
                self._process_fin(now)
        elif self._peer_fin_offset is not None and not self.peer_fin_received:
            self._request_ack("duplicate ACK")

    def _process_fin(self, now: float) -> None:
        """RFC 9293 3.10.7.4 eighth: the FIN is in order."""
        st = self.state
        if st is S.TIME_WAIT:
            self._request_ack("ACK of retransmitted FIN")
            self._start_timer(TIME_WAIT_TIMER, now + 2 * self.config.msl)
            return
        self.peer_fin_received = True
        self.rcv_nxt = seq_add(self.rcv_nxt, 1)
        self._stop_timer(DELACK)
        self._request_ack("ACK of FIN")
        self._events.append(Event.EOF)
        if st in (S.SYN_RCVD, S.ESTABLISHED):
            self._set_state(S.CLOSE_WAIT, "recv FIN: sent ACK", now)
        elif st is S.FIN_WAIT_1:
            if self._fin_acked:
                self._set_state(S.TIME_WAIT, "recv FIN+ACK: sent ACK", now)
            else:
                self._set_state(S.CLOSING, "recv FIN (simultaneous close): sent ACK", now)
        elif st is S.FIN_WAIT_2:
            self._set_state(S.TIME_WAIT, "recv FIN: sent ACK", now)

    def _maybe_window_update(self) -> None:
        """Receiver SWS avoidance (RFC 9293 3.8.6.2.2): announce a reopened window
        only when it grew by min(buffer/2, MSS) and was at most half open."""
        if self.peer_fin_received:
            return
        cap = self.config.recv_buffer
        grow = seq_diff(seq_add(self.rcv_nxt, self.recv_buf.free_space()), self.rcv_adv)
        if grow >= min(cap // 2, self.config.mss) and self.rcv_wnd < cap // 2:
            self._request_ack("window update")

    # ----------------------------------------------------------------- timers

    def get_timer(self) -> float | None:
        return min(self.timers.values()) if self.timers else None

    def active_timer(self) -> str | None:
        if not self.timers:
            return None
        return min(self.timers, key=self.timers.__getitem__)

    def handle_timer(self, now: float) -> None:
        self._clock = now
        for name, deadline in sorted(self.timers.items(), key=lambda kv: kv[1]):
            if deadline > now or self.timers.get(name) != deadline:
                continue
            del self.timers[name]
            if name == RTX:
                self._on_retransmission_timeout(now)
            elif name == PERSIST:
                self._on_persist_timeout(now)
            elif name == DELACK:
                self._request_ack("delayed ACK")
            elif name == TIME_WAIT_TIMER:
                self._set_state(S.CLOSED, "2MSL timer expired", now)
            elif name == USER and (
                self.send_buf
                or self.snd_una != self.snd_max
                or self.state in (S.SYN_SENT, S.SYN_RCVD)
            ):
                self._timeout(now, f"user timeout ({self.config.user_timeout:g} s)")
            elif name == KEEPALIVE:
                self._on_keepalive_timeout(now)
            if self.state is S.CLOSED:
                return

    def arm_keepalive(self, now: float) -> None:
        """(Re)start keep-alive timing from ``now`` if enabled (RFC 9293 3.8.4)."""
        self._keepalive_probes = 0
        if self.config.keepalive and self.state in (S.ESTABLISHED, S.CLOSE_WAIT, S.FIN_WAIT_2):
            self._start_timer(KEEPALIVE, now + self.config.keepalive_idle)
        else:
            self._stop_timer(KEEPALIVE)

    def _on_keepalive_timeout(self, now: float) -> None:
        """RFC 1122 4.2.3.6: after idle time, probe; only an unanswered series kills."""
        if self.state not in (S.ESTABLISHED, S.CLOSE_WAIT, S.FIN_WAIT_2):
            return
        if self.snd_una != self.snd_max or self.send_buf:
            # Not idle: the retransmission timer watches the peer; look again later.
            self._start_timer(KEEPALIVE, now + self.config.keepalive_idle)
            return
        if self._keepalive_probes >= self.config.keepalive_count:
            self._timeout(now, f"keep-alive: {self._keepalive_probes} probes unanswered")
            return
        self._keepalive_probes += 1
        # SND.NXT-1 with no data: the peer must answer with an ACK (RFC 1122 4.2.3.6).
        self._emit(ACK, seq_add(self.snd_una, -1), b"", f"keepalive #{self._keepalive_probes}")
        self._start_timer(KEEPALIVE, now + self.config.keepalive_interval)

    def _timeout(self, now: float, why: str) -> None:
        """RFC 9293 3.8.3 (R2) / 3.10.8: give up; the user sees TimeoutError."""
        err = TimeoutError(errno.ETIMEDOUT, f"connection timed out: {why}")
        self._fail(err, Event.TIMED_OUT, f"timeout: {why}", now)

    def _on_retransmission_timeout(self, now: float) -> None:
        """RFC 6298 5.4-5.7 and RFC 5681 3.1 on RTO expiry."""
        self._retries += 1
        self.stats["rto_expirations"] += 1
        if not self._syn_acked:
            if self._retries > self.config.syn_retries:
                self._timeout(now, f"no answer to SYN after {self.config.syn_retries} retries")
                return
            self.snd_nxt = self.iss  # resend SYN (or SYN+ACK)
        else:
            if self._retries > self.config.max_retries:
                self._timeout(now, f"{self.config.max_retries} retransmissions unanswered")
                return
            self.cc.on_rto(self.flight_size, now)
            self._in_recovery = False
            self._recover = self.snd_max  # RFC 6582 4 (avoid false fast retransmits)
            self._high_rxt = self.send_buf.base
            self._sample_history(now)
            self._dupacks = 0
            self.snd_nxt = self.snd_una  # go-back-N
        self._timed_seq = None  # Karn
        self._ts_epoch = self._tsval(now)
        self.rtt.backoff()  # RFC 6298 5.5
        self._rtx_cause = f"retransmission (RTO #{self._retries})"

    def _on_persist_timeout(self, now: float) -> None:
        if self.snd_wnd > 0:
            # The SWS override timeout: send what the small window allows.
            self._sws_override = True
            return
        self._zero_window_probe(now)

    def _zero_window_probe(self, now: float) -> None:
        """RFC 9293 3.8.6.1 zero-window probe.  Like Linux we probe with an
        old sequence number (SND.UNA-1) and no data: the receiver must answer
        with an ACK carrying its current window, and no byte is ever sent twice."""
        self._persist_backoff += 1
        self._persist_unanswered += 1
        if self._persist_unanswered > self.config.max_retries:
            # Probes unanswered: the peer is gone (RFC 9293 3.8.6.1 allows closing
            # only then; Linux counts them against tcp_retries2 the same way).
            self._timeout(now, f"{self.config.max_retries} zero-window probes unanswered")
            return
        self._emit(ACK, seq_add(self.snd_una, -1), b"", "zero-window probe")
        delay = min(self.config.rto_max, self.rtt.rto * (1 << min(self._persist_backoff, 16)))
        self._start_timer(PERSIST, now + delay)

    # ---------------------------------------------------------------- output

    def _window_field(self) -> int:
        """Advertise the free receive space (never shrinking the right edge)."""
        free = self.config.recv_buffer if self.read_shutdown else self.recv_buf.free_space()
        right = seq_add(self.rcv_nxt, free)
        cap = self.config.recv_buffer
        grow = seq_diff(right, self.rcv_adv)
        # Receiver SWS avoidance (RFC 9293 3.8.6.2.2).
        if grow >= min(cap // 2, self.config.mss) or (self.rcv_wnd == 0 and grow > 0):
            self.rcv_adv = right
        field = min(self.rcv_wnd >> self.rcv_wscale, _MAX_WINDOW_FIELD)
        return field

    def _emit(
        self, flags: int, seq: int, payload: bytes, reason: str, *, with_ack: bool = True
    ) -> None:
        if (with_ack and self.state is not S.SYN_SENT) or flags & ACK:
            flags |= ACK
            ack = self.rcv_nxt
            window = self._window_field()
        else:
            ack = 0
            window = 0 if flags & RST else min(self.config.recv_buffer, _MAX_WINDOW_FIELD)
        options = NO_OPTIONS
        if flags & SYN:
            window = min(self.config.recv_buffer, _MAX_WINDOW_FIELD)  # RFC 7323 2.2
            self.rcv_adv = seq_add(self.rcv_nxt, window)
            # On a SYN+ACK, offer only what the peer's SYN offered (RFC 7323, RFC 2018).
            answering = self.passive or self.state is S.SYN_RCVD
            send_ws = self.config.window_scaling and (not answering or self._peer_sent_wscale)
            send_sack = self.config.sack and (not answering or self.sack_ok)
            send_ts = self.config.timestamps and (not answering or self.ts_ok)
            options = Options(
                mss=self.config.mss,
                wscale=self.rcv_wscale if send_ws else None,
                sack_permitted=send_sack,
                timestamps=(self._tsval(self._clock), self.ts_recent if answering else 0)
                if send_ts
                else None,
            )
        elif not flags & RST and (self.ts_ok or self.sack_ok):
            blocks = ()
            if self.sack_ok and flags & ACK and self.recv_buf.ooo_bytes:
                blocks = self._sack_blocks()
            ts = (self._tsval(self._clock), self.ts_recent) if self.ts_ok else None
            if ts is not None or blocks:
                options = Options(sack_blocks=blocks, timestamps=ts)
        if flags & ACK:
            self._last_ack_sent = ack
        seg = Segment(self.local[1], self.remote[1], seq, ack, flags, window, options, payload)
        self._out.append(seg)
        self._out_reasons.append(reason)
        if flags & ACK:
            self._ack_now = False
            self._unacked_bytes = 0
            self._stop_timer(DELACK)

    def _tsval(self, now: float) -> int:
        """RFC 7323 5.4: a millisecond timestamp clock."""
        return int(now * 1000) & SEQ_MASK

    def _sack_blocks(self) -> tuple[tuple[int, int], ...]:
        """RFC 2018 4: the blocks we hold beyond RCV.NXT, the newest first."""
        base_off, base_seq = self.recv_buf.nxt, self.rcv_nxt
        limit = 3 if self.ts_ok else 4  # what fits in 40 option bytes on real TCP
        return tuple(
            (seq_add(base_seq, s - base_off), seq_add(base_seq, e - base_off))
            for s, e in sack_blocks(
                self.recv_buf.out_of_order_ranges(), self.recv_buf.last_ooo, limit
            )
        )

    def _sample_history(self, now: float) -> None:
        self.history.append((now, self.cc.cwnd, self.cc.ssthresh, self.rtt.srtt))
        if self.tracer is not None:
            sample = MetricsSample(
                now, self.cc.cwnd, self.cc.ssthresh, self.rtt.srtt, self.rtt.rto, self.flight_size
            )
            self.tracer(sample, self.local, self.remote)
        t0, b0 = self._rate_mark
        if now - t0 >= (self.rtt.srtt or 0.1):
            acked = self.stats["bytes_acked"]
            self.delivery_rate = (acked - b0) / (now - t0)
            self._rate_mark = (now, acked)

    def segments_to_send(self, now: float) -> list[Segment]:
        """Everything this connection wants on the wire now (pull-style output)."""
        self._clock = now
        st = self.state
        if st not in (S.CLOSED, S.LISTEN, S.TIME_WAIT):
            self._output_syn(now)
            if self._syn_acked and st in SYNCHRONIZED:
                self._output_data(now)
        if self._ack_now and st not in (S.CLOSED, S.LISTEN, S.SYN_SENT):
            self._emit(
                ACK, self.snd_nxt if st is not S.TIME_WAIT else self.snd_max, b"", self._ack_reason
            )
        self._ack_now = False
        out, reasons = self._out, self._out_reasons
        self._out, self._out_reasons = [], []
        for seg, reason in zip(out, reasons, strict=True):
            self.stats["segments_sent"] += 1
            self._trace_segment("out", seg, reason, now)
        return out

    def _output_syn(self, now: float) -> None:
        if self._syn_acked or self.snd_nxt != self.iss:
            return
        st = self.state
        if st is S.SYN_SENT:
            flags, reason = SYN, "SYN"
        elif st in (S.SYN_RCVD, S.FIN_WAIT_1):
            flags, reason = SYN | ACK, "SYN+ACK"
        else:
            return
        if self._rtx_cause:
            reason = f"{reason} {self._rtx_cause}"
            self.stats["retransmits"] += 1
            self._rtx_cause = ""
        elif self._timed_seq is None:
            self._timed_seq, self._timed_at = self.iss, now
        self._emit(flags, self.iss, b"", reason, with_ack=bool(flags & ACK))
        self.snd_nxt = seq_add(self.iss, 1)
        if seq_gt(self.snd_nxt, self.snd_max):
            self.snd_max = self.snd_nxt
        if RTX not in self.timers:
            self._start_timer(RTX, now + self.rtt.rto)

    def _output_data(self, now: float) -> None:
        """Send new data, retransmissions after RTO, and our FIN (RFC 9293 3.7.4,
        3.8.6.2.1 sender SWS avoidance, RFC 5681 window = min(cwnd, rwnd))."""
        mss = self.snd_mss
        buf = self.send_buf
        nodelay = self.config.nodelay
        sack_recovery = self._in_recovery and self.sack_ok
        if sack_recovery:
            cwnd_room = self._sack_retransmit(now)
        else:
            cwnd = self.cc.cwnd
            if self.config.limited_transmit and not self._in_recovery and self._dupacks:
                cwnd += min(self._dupacks, 2) * mss  # RFC 3042: two new segments
            in_flight = seq_diff(self.snd_nxt, self.snd_una)
            if self.scoreboard:  # SACKed bytes are not in the network (RFC 6675 5.1)
                in_flight -= self.scoreboard.sacked_bytes(buf.base, self._send_offset(self.snd_nxt))
            cwnd_room = cwnd - in_flight
        while True:
            off = self._send_offset(self.snd_nxt)
            if seq_lt(self.snd_nxt, self.snd_max) and self.scoreboard:
                sacked = self.scoreboard.is_sacked(off)
                if sacked is not None:
                    # Go-back-N after a timeout skips what the peer SACKed (RFC 6675 5.1).
                    self.snd_nxt = self._seq_of(min(sacked[1], buf.end))
                    continue
            unsent = buf.end - off
            usable = min(self.snd_wnd - seq_diff(self.snd_nxt, self.snd_una), cwnd_room)
            fin_pending = self._fin_queued and not (
                self._fin_sent and seq_gt(self.snd_nxt, self._fin_seq)
            )
            if unsent <= 0:
                if fin_pending and off == buf.end:
                    self._send_fin_only(now)
                break
            if usable <= 0:
                if (
                    self.snd_wnd == 0
                    and self.snd_una == self.snd_max
                    and PERSIST not in self.timers
                ):
                    self._start_timer(PERSIST, now + self.rtt.rto)  # RFC 9293 3.8.6.1
                break
            n = min(unsent, usable, mss)
            retransmission = seq_lt(self.snd_nxt, self.snd_max)
            if retransmission and self.scoreboard:
                stop = self.scoreboard.next_sacked_start(off)
                if stop is not None:
                    n = min(n, stop - off)
            if n < mss and not retransmission:
                # Nagle (RFC 9293 3.7.4) and sender SWS avoidance (3.8.6.2.1): send a
                # short segment only if it is all we have and nothing is in flight
                # (or Nagle is off), or if it is at least half the peer's max window.
                all_of_it = n == unsent
                idle = self.snd_una == self.snd_max
                if not (
                    (all_of_it and (idle or nodelay or self._fin_queued))
                    or n >= self.max_snd_wnd // 2 > 0
                    or self._sws_override
                ):
                    if idle and n < mss and PERSIST not in self.timers:
                        # Only a sliver of window and nothing in flight to clock us:
                        # arm the override timeout (RFC 9293 3.8.6.2.1).
                        self._start_timer(PERSIST, now + self.rtt.rto)
                    break
                self._sws_override = False
            payload = buf.peek(off, n)
            flags = ACK
            if off + n == buf.end:
                flags |= PSH
                if self._fin_queued:
                    flags |= FIN
            seq = self.snd_nxt
            if retransmission:
                reason = self._rtx_cause or "retransmission"
                self.stats["retransmits"] += 1
                if self._rtx_cause:
                    self.stats["rto_retransmits"] += 1
            else:
                reason = "data"
                self.stats["bytes_sent"] += n
                if self._timed_seq is None:
                    self._timed_seq, self._timed_at = seq, now
            self._emit(flags, seq, payload, reason)
            cwnd_room -= n
            self.snd_nxt = seq_add(seq, n + (1 if flags & FIN else 0))
            if flags & FIN:
                self._fin_sent = True
            if seq_gt(self.snd_nxt, self.snd_max):
                self.snd_max = self.snd_nxt
            if RTX not in self.timers:
                self._start_timer(RTX, now + self.rtt.rto)  # RFC 6298 5.1
            if flags & FIN:
                break
        if not seq_lt(self.snd_nxt, self.snd_max):
            self._rtx_cause = ""

    def _sack_retransmit(self, now: float) -> int:
        """RFC 6675 5 step (C): while pipe leaves room for a segment, resend the next
        lost hole (NextSeg rule 1).  Returns the room left for new data."""
        mss = self.snd_mss
        buf = self.send_buf
        threshold = (self.config.dupthresh - 1) * mss
        high = min(self._send_offset(self.snd_max), buf.end)
        while True:
            pipe = self.scoreboard.pipe(buf.base, high, self._high_rxt, threshold)
            room = self.cc.cwnd - pipe
            if room < mss:
                return room
            hole = self.scoreboard.next_lost_hole(buf.base, self._high_rxt, threshold, mss)
            if hole is None:
                return room
            off, n = hole
            flags = ACK | (PSH if off + n == buf.end else 0)
            self._emit(flags, self._seq_of(off), buf.peek(off, n), "SACK recovery retransmission")
            self.stats["retransmits"] += 1
            self.stats["sack_retransmits"] += 1
            self._timed_seq = None  # Karn's rule
            self._high_rxt = off + n

    def _send_fin_only(self, now: float) -> None:
        retransmission = self._fin_sent
        reason = (self._rtx_cause or "retransmission") + " FIN" if retransmission else "FIN"
        if retransmission:
            self.stats["retransmits"] += 1
        self._emit(ACK | FIN, self._fin_seq, b"", reason)
        self._fin_sent = True
        self.snd_nxt = seq_add(self._fin_seq, 1)
        if seq_gt(self.snd_nxt, self.snd_max):
            self.snd_max = self.snd_nxt
        if RTX not in self.timers:
            self._start_timer(RTX, now + self.rtt.rto)

    # ------------------------------------------------------------ reporting

    def events_to_report(self) -> list[Event]:
        ev, self._events = self._events, []
        return ev

    def _trace_segment(self, direction: str, seg: Segment, reason: str, now: float) -> None:
        if self.tracer is None:
            return
        if direction == "out":
            rel_seq, rel_ack = seq_diff(seg.seq, self.iss), seq_diff(seg.ack, self.irs)
        else:
            rel_seq, rel_ack = seq_diff(seg.seq, self.irs), seq_diff(seg.ack, self.iss)
        if not seg.flags & ACK:
            rel_ack = 0
        shift = self.rcv_wscale if direction == "out" else self.snd_wscale
        window = seg.window if seg.flags & SYN else seg.window << shift
        if self.state in (S.LISTEN, S.SYN_SENT) and direction == "in" and seg.flags & SYN:
            rel_seq = 0
        self.tracer(
            SegmentRecord(
                now,
                direction,
                self.local,
                self.remote,
                seg.flag_names(),
                rel_seq,
                rel_ack,
                window,
                len(seg.payload),
                reason,
                seg,
            ),
            self.local,
            self.remote,
        )

    def info(self) -> TcpInfo:
        return TcpInfo(
            state=self.state,
            local=self.local,
            remote=self.remote,
            mss=self.snd_mss,
            srtt=self.rtt.srtt,
            rttvar=self.rtt.rttvar,
            rto=self.rtt.rto,
            cwnd=self.cc.cwnd,
            ssthresh=self.cc.ssthresh,
            snd_una=self.snd_una,
            snd_nxt=self.snd_nxt,
            snd_wnd=self.snd_wnd,
            rcv_nxt=self.rcv_nxt,
            rcv_wnd=self.rcv_wnd,
            bytes_in_flight=self.flight_size,
            bytes_sent=self.stats["bytes_sent"],
            bytes_acked=self.stats["bytes_acked"],
            bytes_received=self.stats["bytes_received"],
            segments_sent=self.stats["segments_sent"],
            segments_received=self.stats["segments_received"],
            retransmits=self.stats["retransmits"],
            rto_expirations=self.stats["rto_expirations"],
            fast_retransmits=self.stats["fast_retransmits"],
            sack_retransmits=self.stats["sack_retransmits"],
            rto_retransmits=self.stats["rto_retransmits"],
            delivery_rate=self.delivery_rate,
            sacked_bytes=self.scoreboard.sacked_bytes(),
            sack=self.sack_ok,
            timestamps=self.ts_ok,
            congestion=self.cc.name,
            recv_queue=len(self.recv_buf),
            send_queue=len(self.send_buf),
            dropped_segments=self.stats["dropped_segments"],
            active_timer=self.active_timer(),
        )


__all__ = ["READ_CLOSED", "Connection"]
