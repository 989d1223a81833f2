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

The class is layered (see tcb.py): ``Tcb`` holds the variables, ``Output``
(output.py) builds and sends segments "pull" style, and ``LossRecovery``
(recovery.py) decides about duplicate ACKs, fast retransmit, SACK and the
congestion side of a timeout.  This module is the event processing: the user
calls, the steps of SEGMENT ARRIVES in the RFC's order, and the timers,
dispatched by ``Timer`` from one table.

Every state change passes through ``_set_state``, which checks the pair
against ``state.TRANSITIONS``, records a ``Transition(time, old, new,
cause)``, traces it and raises events.
"""

from __future__ import annotations

import errno
from collections.abc import Callable
from typing import Final

from .autotune import send_buffer_size
from .buffers import SendBuffer
from .congestion import AckSample
from .events import Event, TcpInfo, Transition
from .frto import GO_BACK, NEW_DATA
from .output import Output
from .plpmtud import BASE_DATAGRAM, MtuSearch
from .recovery import is_duplicate_ack
from .segment import ACK, CWR, ECE, FIN, PSH, RST, SYN, Options, Segment, segment_overhead
from .seq import (
    SEQ_HALF,
    SEQ_MASK,
    seq_add,
    seq_diff,
    seq_ge,
    seq_gt,
    seq_in_window,
    seq_le,
    seq_lt,
)
from .state import SYNCHRONIZED, TRANSITIONS, State, check_user_call
from .tcb import DEFAULT_MSS, MAX_WINDOW_FIELD, Address, Timer, Tracer

__all__ = ["ICMP_UNREACHABLE_LIMIT", "Address", "Connection", "Timer", "Tracer"]

# ICMP port unreachables, with no acceptable segment between them, that reset a
# synchronized connection (RFC 1122 4.2.3.9).
ICMP_UNREACHABLE_LIMIT: Final = 3
# RTO once data flows after the SYN (or SYN+ACK) had to be retransmitted (RFC 6298 5.7).
RTO_AFTER_SYN_TIMEOUT: Final = 3.0
# PLPMTUD black-hole detection: this many timeouts in a row of full-sized
# segments drop the MSS to the base size (RFC 8899 4.3; Linux waits for
# tcp_retries1 = 3 with tcp_mtu_probing).
BLACK_HOLE_RTOS: Final = 2
# The smallest MSS we send with, whatever the peer announces (Linux tcp_min_snd_mss).
MIN_SND_MSS: Final = 48


class Connection(Output):
    # ------------------------------------------------------------------ helpers

    def _set_state(self, new: State, cause: str, now: float) -> None:
        """The one funnel for state changes: check, record, trace, raise events."""
        old = self.state
        if old is new:
            return
        if (old, new) not in TRANSITIONS:
            raise AssertionError(f"illegal state transition {old} -> {new} ({cause})")
        self.state = new
        t = Transition(now, old, new, cause)
        self.transitions.append(t)
        if self.tracer is not None:
            self.tracer(t, self.local, self.remote)
        if new is State.ESTABLISHED:
            self._events.append(Event.ESTABLISHED)
            self.arm_keepalive(now)
        elif new is State.TIME_WAIT:
            # RFC 9293 3.10.7.4: TIME-WAIT lasts 2 MSL; nothing else is pending.
            self.timers = {Timer.TIME_WAIT: now + 2 * self.config.msl}
        elif new is State.CLOSED:
            self.timers.clear()
            self._events.append(Event.CLOSED)
        if new is not State.ESTABLISHED and new is not State.CLOSED:
            self._events.append(Event.STATE)

    def _fail(self, error: OSError, event: Event, cause: str, now: float) -> None:
        self.error = error
        self._events.append(event)
        self._set_state(State.CLOSED, cause, now)

    # --------------------------------------------------------------- user calls

    def open_active(self, now: float) -> None:
        """RFC 9293 3.10.1 OPEN (active): send SYN, enter SYN-SENT."""
        check_user_call("connect", self.state)
        self._set_state(State.SYN_SENT, "connect: sent SYN", now)
        if self.config.user_timeout:
            self._start_timer(Timer.USER_TIMEOUT, now + self.config.user_timeout)

    def send(self, data: bytes | bytearray | memoryview, now: float) -> int:
        """RFC 9293 3.10.2 SEND: queue as much of ``data`` as the buffer holds."""
        if self.error is not None:
            raise self.error
        check_user_call("send", self.state)
        n = self.send_buf.append(data)
        if n and self.config.user_timeout and Timer.USER_TIMEOUT not in self.timers:
            self._start_timer(Timer.USER_TIMEOUT, now + self.config.user_timeout)
        return n

    def receive(self, max_bytes: int, now: float) -> bytes:
        """RFC 9293 3.10.3 RECEIVE: in-order bytes, b"" if none are buffered."""
        data = self.recv_buf.read(max_bytes)
        if data and self.state in SYNCHRONIZED:
            # Receive-buffer autotuning (autotune.py, Linux tcp_rcv_space_adjust).
            self.recv_buf.capacity = self.rcv_tune.read(
                len(data), now, self.recv_buf.capacity, self.config.mss, self.rtt.srtt
            )
            self._maybe_window_update()
        return data

    @property
    def ack_due(self) -> bool:
        """An ACK waits to be sent (after ``receive``: a window update).  Reading
        changes nothing else the output path looks at, so a shell may skip the
        output pass after a ``receive`` that leaves this False."""
        return self._ack_now

    def shutdown_write(self, now: float) -> None:
        """RFC 9293 3.10.4 CLOSE: no more data from us; send FIN after the queue."""
        check_user_call("shutdown", self.state)
        st = self.state
        if st in (State.LISTEN, State.SYN_SENT):
            self._set_state(State.CLOSED, f"close in {st}: TCB deleted", now)
            return
        self._fin_queued = True
        if self.config.user_timeout and Timer.USER_TIMEOUT not in self.timers:
            # RFC 9293 3.8.3: the FIN is data to deliver, as on Linux.
            self._start_timer(Timer.USER_TIMEOUT, now + self.config.user_timeout)
        pending = len(self.send_buf) - seq_diff(self.snd_nxt, self._seq_of(self.send_buf.base))
        how = "sent FIN" if pending <= 0 else f"FIN queued after {pending} bytes"
        if st is State.SYN_RCVD:
            if self.send_buf:
                return  # RFC 9293 3.10.4: queue the close until ESTABLISHED
            self._set_state(State.FIN_WAIT_1, f"close: {how}", now)
        elif st is State.ESTABLISHED:
            self._set_state(State.FIN_WAIT_1, f"shutdown: {how}", now)
        elif st is State.CLOSE_WAIT:
            self._set_state(State.LAST_ACK, f"shutdown: {how}", now)

    def close(self, now: float) -> None:
        """The application is done with the connection (socket close()).

        Like Linux (and RFC 2525 2.17), unread received data turns the close
        into an abort with RST, so the peer learns its data was not consumed.
        """
        self.user_closed = True
        if self.state is State.CLOSED:
            return
        if self.recv_buf or (self.state in SYNCHRONIZED and self.recv_buf.ooo_bytes):
            self.abort(now, "close with unread data: sent RST")
            return
        if self.state in (
            State.LISTEN,
            State.SYN_SENT,
            State.SYN_RCVD,
            State.ESTABLISHED,
            State.CLOSE_WAIT,
        ):
            if self.state is State.SYN_RCVD and self.send_buf:
                self._fin_queued = True
                return
            self.shutdown_write(now)

    def abort(self, now: float, cause: str = "abort: sent RST") -> None:
        """RFC 9293 3.10.5 ABORT: RST the peer (in synchronized states) and drop the TCB."""
        self._clock = now
        if self.state in (
            State.SYN_RCVD,
            State.ESTABLISHED,
            State.FIN_WAIT_1,
            State.FIN_WAIT_2,
            State.CLOSE_WAIT,
        ):
            self._emit(RST, self.snd_max, b"", "RST: " + cause.split(": ")[0], with_ack=False)
        self._events.append(Event.RESET)
        self._set_state(State.CLOSED, cause, now)

    # ------------------------------------------------------------ segment input

    def receive_segment(self, seg: Segment, now: float, ecn: int = 0) -> None:
        """SEGMENT ARRIVES (RFC 9293 3.10.7); ``ecn``: its datagram's ECN field."""
        self.stats.segments_received += 1
        if ecn or seg.flags & CWR:
            self.ecn.arrived(seg.flags, ecn)  # RFC 3168 6.1.3
        self._clock = now
        if self.tracer is not None:
            self._trace_segment("in", seg, "", now)
        st = self.state
        if st is State.ESTABLISHED and self._header_predicted(seg, now):
            return
        if st is State.CLOSED:
            return  # the mux answers for closed connections (3.10.7.1)
        if st is State.LISTEN:
            self._segment_in_listen(seg, now)
        elif st is State.SYN_SENT:
            self._segment_in_syn_sent(seg, now)
        else:
            self._segment_in_other(seg, now)

    def _header_predicted(self, seg: Segment, now: float) -> bool:
        """Header prediction (Van Jacobson's fast path; Linux tcp_rcv_established):
        in ESTABLISHED, a segment with ACK (and PSH) alone, exactly at RCV.NXT, no
        SACK blocks, a timestamp PAWS accepts and a nonzero window is, in the
        common case, either the next in-order data (acknowledging nothing new,
        or advancing SND.UNA as a request/response exchange does) or a pure ACK
        advancing SND.UNA.  Such a segment passes every test of RFC
        9293 3.10.7.4 first to fifth, so this takes only the steps that act on
        it, in the RFC's order; anything else returns False for the full path."""
        seq = seg.seq
        if seg.flags & ~PSH != ACK or seq != self.rcv_nxt or self._peer_fin_offset is not None:
            return False
        options = seg.options
        ts = options.timestamps
        ts_ok = self.ts_ok
        if options.sack_blocks or (
            ts_ok and ts is not None and ((ts[0] - self.ts_recent) & SEQ_MASK) >= SEQ_HALF
        ):
            return False  # SACK blocks, or PAWS would reject it (seq_lt(TSval, TS.Recent))
        ack, payload = seg.ack, seg.payload
        wnd = seg.window << self.snd_wscale
        if not (wnd and self.snd_wnd):
            return False  # zero windows: the persist logic of the full path
        snd_una = self.snd_una
        recv_buf = self.recv_buf
        # seq_lt(SND.UNA, SEG.ACK) and seq_le(SEG.ACK, SND.MAX), inlined
        d = (ack - self.snd_max) & SEQ_MASK
        advances = ((snd_una - ack) & SEQ_MASK) >= SEQ_HALF and not 0 < d < SEQ_HALF
        if payload:
            # In-order data inside the window (3.10.7.4 first) that acknowledges
            # nothing new or advances SND.UNA: a bulk receiver's segments, and
            # both directions of a request/response exchange (as Linux's fast path).
            d = (self.rcv_adv - seq) & SEQ_MASK  # rcv_wnd (SEG.SEQ is RCV.NXT), inlined
            if (
                (ack != snd_una and not advances)
                or len(payload) > (0 if d >= SEQ_HALF else d)
                or recv_buf.ooo_bytes
                or self.user_closed
            ):
                return False
        elif not advances:
            return False  # a pure ACK must advance SND.UNA (else: duplicate ACK logic)
        self._icmp_unreachable = 0
        if Timer.KEEPALIVE in self.timers:
            self.arm_keepalive(now)
        if (  # fifth: the ACK is acceptable; _update_ts_recent, inlined
            ts_ok
            and ts is not None
            and not 0 < ((seq - self._last_ack_sent) & SEQ_MASK) < SEQ_HALF  # seq_le
        ):
            self.ts_recent = ts[0]  # (seq_ge(TSval, TS.Recent) held: PAWS passed above)
        prior_samples = self.rtt.samples
        if ack != snd_una:
            self._ack_advance(ack, now, seg)
        # What the full path does after every ACK: RACK-TLP/PRR, then the
        # controller's delivery-rate sample.
        self._after_ack(now, seg)
        if self.cc_samples and self.snd_una != snd_una:
            rtt = self.rtt.recent[-1] if self.rtt.samples != prior_samples else None
            self._congestion_sample(seg, seq_diff(self.snd_una, snd_una), rtt, now)
        self._persist_unanswered = 0
        wl1 = self.snd_wl1
        if ((wl1 - seq) & SEQ_MASK) >= SEQ_HALF or (  # seq_lt(SND.WL1, SEG.SEQ)
            wl1 == seq and not 0 < ((self.snd_wl2 - ack) & SEQ_MASK) < SEQ_HALF  # seq_le
        ):
            # SND.WL1/SND.WL2 rule: _update_send_window(wnd, seq, ack), inlined.
            self.snd_wnd = wnd
            if wnd > self.max_snd_wnd:
                self.max_snd_wnd = wnd
            self.snd_wl1, self.snd_wl2 = seq, ack
        if payload:
            if self.state is not State.ESTABLISHED or self.read_shutdown or recv_buf.ooo_bytes:
                self._process_text_and_fin(seg, now)  # seventh: the text
            else:
                self._in_order_text(seg, ts, now)
        return True

    def _in_order_text(self, seg: Segment, ts: tuple[int, int] | None, now: float) -> None:
        """``_process_text_and_fin`` for what header prediction accepted: data
        exactly at RCV.NXT, inside the window, no FIN, nothing held out of order
        (RFC 9293 3.10.7.4 seventh; the ACK policy of RFC 9293 3.8.6.3)."""
        payload = seg.payload
        n = len(payload)
        if self.ts_ok and ts is not None and ts[1]:
            # The receiver's RTT from the echoed timestamp (RFC 7323 4.2), for autotuning.
            self.rcv_tune.rtt_sample(((int(now * 1000) - ts[1]) & SEQ_MASK) / 1000)
        self.recv_buf.insert(self.recv_buf.nxt, payload)  # in order: it all advances
        self.rcv_nxt = (self.rcv_nxt + n) & SEQ_MASK
        self.stats.bytes_received += n
        self._events.append(Event.READABLE)
        self._unacked_bytes += n
        if self._unacked_bytes >= 2 * self.config.mss:
            self._ack_now = True  # RFC 9293 3.8.6.3 (_request_ack, inlined)
            self._ack_reason = "ACK (every second segment)"
        elif Timer.DELAYED_ACK not in self.timers:
            self._start_timer(Timer.DELAYED_ACK, now + self.config.delayed_ack)

    def path_mss_lowered(self, mss: int, now: float) -> None:
        """The path refused a segment for its size (RFC 1191 / RFC 8201: the path
        MTU fell): send at most ``mss`` bytes from now on, and resend at once what
        was dropped, without treating it as congestion (Linux's
        tcp_simple_retransmit)."""
        mss = max(mss, MIN_SND_MSS)
        if self.mtu_search is not None:
            self.mtu_search.lowered(mss)
        if mss >= self.snd_mss:
            return
        self._mtu_probe = None  # it went out too big: the go-back below resends it
        self.snd_mss = mss
        self.cc.mss = mss
        if self.snd_una != self.snd_max:
            self.snd_nxt = self.snd_una  # go back: the oversized segments are gone

    # ----------------------------------------------------------- PLPMTUD

    def _mtu_probe_acked(self, ack: int, now: float) -> None:
        """SND.UNA moved: a probe wholly ACKed raises the MSS (RFC 4821 7.6.1)."""
        probe = self._mtu_probe
        assert probe is not None and self.mtu_search is not None
        if not seq_ge(ack, probe.end if not probe.lost else seq_add(probe.start, 1)):
            return
        self._mtu_probe = None
        if not probe.lost and self.stats.retransmits == probe.retransmits:
            # (A retransmission since may have carried its bytes: no proof then.)
            self.snd_mss = self.cc.mss = self.mtu_search.acked(probe.size, now)

    def _mtu_probe_lost(self, seg: Segment, now: float) -> bool:
        """A duplicate ACK (or SACK) at the probe's start while it is the first
        unacknowledged segment: the probe was lost, most likely for its size.
        Resend its bytes at the MSS that works, leave cwnd alone, and swallow the
        duplicate ACKs of the data sent behind it until those bytes are ACKed
        (RFC 4821 7.5; Linux's tcp_mtup_probe_failed + tcp_simple_retransmit)."""
        probe = self._mtu_probe
        assert probe is not None and self.mtu_search is not None
        start = probe.start
        if seg.ack != start or self.snd_una != start or seg.payload or seg.flags & (SYN | FIN):
            return False
        if not probe.lost:
            probe.lost = True
            self.stats.mtu_probes_lost += 1
            self.mtu_search.lost(probe.size, now)
            self._resend_at_mss(start, probe.end, "retransmission (PLPMTUD probe lost)")
        return True

    def _mtu_on_timeout(self, now: float) -> None:
        """RTO: a probe at SND.UNA counts as lost; repeated timeouts of full-sized
        segments mean a black hole: fall back to the base size (RFC 8899 4.3)."""
        assert self.mtu_search is not None
        probe = self._mtu_probe
        if probe is not None:
            self._mtu_probe = None
            if probe.start == self.snd_una and not probe.lost:
                self.stats.mtu_probes_lost += 1
                self.mtu_search.lost(probe.size, now)
                return
        if self._retries == BLACK_HOLE_RTOS and self.snd_mss > self.mtu_search.base:
            self.stats.mtu_black_holes += 1
            self.snd_mss = self.cc.mss = self.mtu_search.black_hole(now)

    def receive_icmp_unreachable(self, now: float) -> None:
        """ICMP port unreachable from the peer's host.  RFC 1122 4.2.3.9 makes it a
        hard error: while connecting it refuses the connection at once; once
        synchronized, ``ICMP_UNREACHABLE_LIMIT`` of them with no acceptable
        segment in between reset it (one alone may be forged or stale)."""
        err: OSError
        if self.state in (State.SYN_SENT, State.SYN_RCVD) and not self.passive:
            err = ConnectionRefusedError(
                errno.ECONNREFUSED,
                f"connection refused: {self.remote[0]} answered ICMP port unreachable "
                f"(no UDP socket on port {self.remote[1]}; no TCP RST was sent)",
            )
            self._fail(err, Event.RESET, "ICMP port unreachable: no UDP socket there", now)
        elif self.state in SYNCHRONIZED and self.state is not State.TIME_WAIT:
            # RFC 1122 4.2.3.9: port unreachable is a hard error; counted against spoofing.
            self._icmp_unreachable += 1
            if self._icmp_unreachable >= ICMP_UNREACHABLE_LIMIT:
                # Unlike a RST, nobody asked to discard: what arrived is still read first.
                err = ConnectionResetError(
                    errno.ECONNRESET,
                    f"connection reset: {self.remote[0]}:{self.remote[1]} port unreachable "
                    f"({self._icmp_unreachable} ICMP errors, the peer is gone)",
                )
                self._fail(err, Event.RESET, "ICMP port unreachable", now)

    def open_from_cookie(
        self, seg: Segment, mss: int, wscale: int | None, sack: bool, now: float
    ) -> None:
        """Become ESTABLISHED from a valid SYN-cookie ACK (see syncookies.py).  Our
        ISS is the cookie; the handshake happened without us keeping any state."""
        self.irs = seq_add(seg.seq, -1)
        self.rcv_nxt = seg.seq
        self.rcv_adv = seq_add(self.rcv_nxt, min(self.config.recv_buffer, MAX_WINDOW_FIELD))
        self._adopt_syn_options(Options(mss=mss, wscale=wscale, sack_permitted=sack))
        self._syn_acked = True
        self.snd_una = self.snd_nxt = self.snd_max = seq_add(self.iss, 1)
        self._update_send_window(seg.window << self.snd_wscale, seg.seq, seg.ack)
        self._set_state(State.SYN_RCVD, "recv SYN: sent SYN+ACK (SYN cookie, no state kept)", now)
        self._set_state(State.ESTABLISHED, "recv ACK: SYN cookie valid", now)

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
        self._adopt_syn_options(seg.options)
        self.ecn.peer_syn(f)  # RFC 3168 6.1.1
        self._update_send_window(seg.window, seg.seq, 0)  # RFC 7323 2.2: a SYN's is unscaled
        self._set_state(State.SYN_RCVD, "recv SYN: sent SYN+ACK", now)

    def _segment_in_syn_sent(self, seg: Segment, now: float) -> None:
        """RFC 9293 3.10.7.3."""
        f = seg.flags
        acceptable_ack = False
        if f & ACK:
            # first: an ACK outside (ISS, SND.NXT] is answered with RST unless it is one.
            if seq_le(seg.ack, self.iss) or seq_gt(seg.ack, self.snd_max):
                if not f & RST:
                    self._emit(RST, seg.ack, b"", "RST: bad ACK in SYN-SENT", with_ack=False)
                self.stats.dropped_segments += 1
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
        self.rcv_adv = seq_add(self.rcv_nxt, min(self.config.recv_buffer, MAX_WINDOW_FIELD))
        self._adopt_syn_options(seg.options)
        self._update_send_window(seg.window, seg.seq, seg.ack)
        if acceptable_ack:
            self.ecn.peer_syn_ack(f)  # RFC 3168 6.1.1
            self._ack_advance(seg.ack, now)
            self._set_state(State.ESTABLISHED, "recv SYN+ACK: sent ACK", now)
            self._request_ack("ACK of SYN")
            if seg.payload or f & FIN:
                self._process_text_and_fin(seg, now)  # sixth step onwards
        else:
            # Simultaneous open (RFC 9293 3.5, figure 7).
            self.snd_nxt = self.iss  # resend our SYN, now as SYN+ACK
            self._set_state(State.SYN_RCVD, "recv SYN (simultaneous open): sent SYN+ACK", now)

    def _adopt_syn_options(self, o: Options) -> None:
        """Take what the peer's SYN offered (or a SYN cookie remembered), as far as
        our configuration allows."""
        # RFC 9293 3.7.1, with a floor (Linux tcp_min_snd_mss): MSS 1 means 1-byte segments.
        self.snd_mss = min(max(o.mss or DEFAULT_MSS, MIN_SND_MSS), self.config.mss)
        self.cc.mss = self.snd_mss
        self.cc.cwnd = self.config.initial_window * self.snd_mss
        if self.config.plpmtud:
            # RFC 8899 5.1.2: the search starts from what we use and never goes
            # below BASE_PLPMTU (1200 bytes of UDP payload, less our framing).
            self.mtu_search = MtuSearch(
                current=self.snd_mss,
                ceiling=self.snd_mss,
                base=max(BASE_DATAGRAM - segment_overhead(), MIN_SND_MSS),
            )
        if o.wscale is not None and self.config.window_scaling:
            self._peer_sent_wscale = True
            self.snd_wscale = o.wscale  # RFC 7323 2.2
        else:
            self.snd_wscale = 0
            self.rcv_wscale = 0
        self.recovery.sack = self.config.sack and o.sack_permitted  # RFC 2018 2
        self.ts_ok = self.config.timestamps and o.timestamps is not None  # RFC 7323 3.2
        if o.timestamps is not None and self.ts_ok:
            self.ts_recent = o.timestamps[0]

    def _update_send_window(self, wnd: int, seq: int, ack: int, *, track_max: bool = True) -> None:
        """SND.WND = ``wnd`` (already scaled), SND.WL1 = ``seq``, SND.WL2 = ``ack``
        (RFC 9293 3.10.7.4), and MAX.SND.WND follows unless ``track_max`` is off."""
        self.snd_wnd = wnd
        if track_max:
            self.max_snd_wnd = max(self.max_snd_wnd, wnd)
        self.snd_wl1, self.snd_wl2 = seq, ack

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

        if st is State.SYN_RCVD and f & SYN and not f & ACK and seg.seq == self.irs:
            # A retransmitted SYN: our SYN+ACK was lost; send it again (as Linux).
            self.snd_nxt = self.iss
            return
        if (
            st is State.SYN_RCVD
            and f & SYN
            and f & ACK
            and not f & RST
            and seg.seq == self.irs
            and seq_lt(self.snd_una, seg.ack)
            and seq_le(seg.ack, self.snd_max)
        ):
            # Simultaneous open (RFC 9293 3.5 figure 7 line 5): the peer's SYN+ACK
            # acknowledges our SYN; its SYN is old news, so treat it as the ACK.
            # MAX.SND.WND keeps the value the peer's SYN gave it.
            wnd = seg.window << self.snd_wscale
            self._update_send_window(wnd, seg.seq, seg.ack, track_max=False)
            self._ack_advance(seg.ack, now)
            self._set_state(State.ESTABLISHED, "recv SYN+ACK (simultaneous open): sent ACK", now)
            self._request_ack("ACK of SYN")
            return

        # RFC 7323 5.3 R1 (PAWS): an old timestamp marks an old duplicate.
        ts = seg.options.timestamps
        if self.ts_ok and ts is not None and not f & RST and seq_lt(ts[0], self.ts_recent):
            self.stats.paws_rejected += 1
            self._request_ack("ACK (PAWS: old timestamp)")
            return

        # first: sequence number check.
        if not self._acceptable(seg):
            # A zero window still accepts the ACK of a segment at RCV.NXT (3.10.7.4).
            zero_window_ok = self.rcv_wnd == 0 and seg.seq == self.rcv_nxt
            if not zero_window_ok:
                self.stats.dropped_segments += 1
                if seg.payload and not f & (RST | SYN) and seq_le(seg.seq, self.rcv_nxt):
                    # Old data again: report it by D-SACK (RFC 2883 4, example 1).
                    start = self._recv_offset(seg.seq)
                    self.sack_reporter.duplicate(
                        start, min(start + len(seg.payload), self.recv_buf.nxt)
                    )
                if not f & RST:
                    self._out_of_window_ack(seg, now, "ACK of unacceptable segment")
                if st is State.TIME_WAIT and f & FIN and seq_lt(seg.seq, self.rcv_nxt):
                    # A retransmitted FIN: ACK again and restart 2 MSL (3.10.7.4 eighth).
                    self._start_timer(Timer.TIME_WAIT, now + 2 * self.config.msl)
                return
        self._icmp_unreachable = 0  # the peer is there after all (RFC 1122 4.2.3.9)

        # second: RST.
        if f & RST:
            self._segment_rst(seg, now)
            return
        if Timer.KEEPALIVE in self.timers:
            self.arm_keepalive(now)  # the peer is alive

        # fourth: SYN in a synchronized state or SYN-RECEIVED (RFC 5961 4.2).
        if f & SYN:
            if st is State.SYN_RCVD and self.passive:
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
            self.stats.dropped_segments += 1
            return
        if not self._segment_ack(seg, now):
            return

        # sixth/seventh/eighth: text and FIN.
        self._process_text_and_fin(seg, now)
        if self.state is State.FIN_WAIT_1 and self._fin_acked:
            # Our FIN was acknowledged by a FIN+ACK whose FIN is not in order yet.
            self._set_state(State.FIN_WAIT_2, "recv ACK of FIN", now)

    def _segment_rst(self, seg: Segment, now: float) -> None:
        st = self.state
        if st is State.TIME_WAIT:
            # RFC 1337 (TIME-WAIT assassination): ignore RST in TIME-WAIT.
            self.stats.dropped_segments += 1
            return
        if seg.seq != self.rcv_nxt:
            # RFC 5961 3.2: in window but not exact: challenge ACK, keep the connection.
            self._challenge_ack(now, "challenge ACK (RST)")
            return
        err: OSError
        if st is State.SYN_RCVD:
            if self.passive:
                cause = "recv RST: back to LISTEN"
                err = ConnectionResetError(errno.ECONNRESET, "reset before accept")
            else:
                cause = "recv RST: connection refused"
                err = ConnectionRefusedError(errno.ECONNREFUSED, "connection refused (RST)")
            self._fail(err, Event.RESET, cause, now)
        elif st in (State.CLOSING, State.LAST_ACK):
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
            self.stats.oow_acks_suppressed += 1
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
            self.stats.challenge_acks += 1
            self._request_ack(reason)
        self._challenge_window = (second, sent)

    def _update_ts_recent(self, seg: Segment) -> None:
        """RFC 7323 4.3: remember the peer's TSval to echo (the Last.ACK.sent rule).
        Called only once the ACK field passed its checks (RFC 5961 5.2, as Linux):
        an ACK of unsent data with a far-future TSval must not wedge us by PAWS."""
        ts = seg.options.timestamps
        if (
            self.ts_ok
            and ts is not None
            and seq_le(seg.seq, self._last_ack_sent)
            and seq_ge(ts[0], self.ts_recent)
        ):
            self.ts_recent = ts[0]

    def _segment_ack(self, seg: Segment, now: float) -> bool:
        """RFC 9293 3.10.7.4 fifth; returns False if the segment is to be dropped."""
        st = self.state
        ack = seg.ack
        if st is State.SYN_RCVD:
            if seq_lt(self.snd_una, ack) and seq_le(ack, self.snd_max):
                self._update_ts_recent(seg)
                self._update_send_window(seg.window << self.snd_wscale, seg.seq, ack)
                self._ack_advance(ack, now)
                if self._fin_queued and not self.send_buf:
                    self._set_state(State.FIN_WAIT_1, "recv ACK; close queued: sent FIN", now)
                else:
                    self._set_state(State.ESTABLISHED, "recv ACK of SYN", now)
                    if self._fin_queued:
                        self._set_state(State.FIN_WAIT_1, "close queued in SYN-RECEIVED: FIN", now)
                st = self.state
            else:
                self._emit(RST, ack, b"", "RST: bad ACK in SYN-RECEIVED", with_ack=False)
                return False
        if st is State.TIME_WAIT:
            # Only a retransmitted FIN can arrive (ACKed in the FIN step).
            self._update_ts_recent(seg)
            if seg.flags & FIN:
                self._process_fin(now)
            return False

        # RFC 5961 5.2: SND.UNA - MAX.SND.WND <= SEG.ACK <= SND.NXT, else drop (+ACK).
        if seq_gt(ack, self.snd_max):
            self.stats.dropped_segments += 1
            self._out_of_window_ack(seg, now, "ACK of unsent data")
            return False
        if seq_lt(ack, seq_add(self.snd_una, -max(self.max_snd_wnd, 1))):
            self.stats.dropped_segments += 1
            self._challenge_ack(now, "challenge ACK (old ACK)")
            return False
        self._update_ts_recent(seg)  # RFC 5961 5.2: only after the ACK is acceptable

        new_sack = False
        if self.sack_ok and seg.options.sack_blocks:
            # RFC 2018 / 6675: SACKed ranges, as stream offsets, for the scoreboard.
            blocks = [
                (self._send_offset(lo), self._send_offset(hi)) for lo, hi in seg.options.sack_blocks
            ]
            high = min(self._send_offset(self.snd_max), self.send_buf.end)
            new_sack = self.recovery.on_sack_blocks(
                blocks,
                self.send_buf.base,
                high,
                ack=self._send_offset(ack),
                snd_nxt=self._send_offset(self.snd_nxt),
            )
        prior_una, prior_samples = self.snd_una, self.rtt.samples
        if seg.flags & ECE and self.ecn.ok:
            self._ecn_echo(ack, now)
        if seq_gt(ack, self.snd_una):
            self._ack_advance(ack, now, seg)
        elif self._mtu_probe is not None and self._mtu_probe_lost(seg, now):
            pass  # RFC 4821 7.5: a lost probe is no congestion signal
        elif ack == self.snd_una and (
            is_duplicate_ack(
                seg,
                window=seg.window << self.snd_wscale,
                snd_wnd=self.snd_wnd,
                outstanding=self.snd_max != self.snd_una,
            )
            # RFC 6675 2: an ACK SACKing new data is a duplicate even if it changes
            # the window (Linux grows its window while it holds out-of-order data).
            or (new_sack and not seg.payload and not seg.flags & (SYN | FIN))
        ):
            reason = self.recovery.on_duplicate_ack(
                snd_una=self.snd_una,
                snd_max=self.snd_max,
                flight=self.flight_size,
                una=self.send_buf.base,
                now=now,
            )
            if reason is not None:  # a loss-recovery episode begins
                self.stats.fast_retransmits += 1
                self._retransmit_first(now, reason)
                self._sample_history(now)
        self._after_ack(now, seg)
        if self.cc_samples and (
            self.snd_una != prior_una or (self.sack_ok and seg.options.sack_blocks)
        ):
            rtt = self.rtt.recent[-1] if self.rtt.samples != prior_samples else None
            self._congestion_sample(seg, seq_diff(self.snd_una, prior_una), rtt, now)

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
            self._update_send_window(seg.window << self.snd_wscale, seg.seq, ack)
            if self.snd_wnd and not old_wnd:
                self._stop_timer(Timer.PERSIST)
                self._persist_backoff = 0

        if (
            self._fin_sent
            and not self._fin_acked
            and seq_ge(self.snd_una, seq_add(self._fin_seq, 1))
        ):
            self._fin_acked = True
            if st is State.FIN_WAIT_1 and not seg.flags & FIN:
                self._set_state(State.FIN_WAIT_2, "recv ACK of FIN", now)
            elif st is State.CLOSING:
                self._set_state(State.TIME_WAIT, "recv ACK of FIN", now)
                return False
            elif st is State.LAST_ACK:
                self._set_state(State.CLOSED, "recv ACK of FIN", now)
                return False
        return True

    def _congestion_sample(self, seg: Segment, acked: int, rtt: float | None, now: float) -> None:
        """Tell the controller what this ACK showed, after recovery has run: its
        RTT sample, the delivery-rate sample if it wants one (rate.py)."""
        una, high = self.send_buf.base, self._send_offset(self.snd_max)
        in_flight = self.flight_size
        rate = None
        if self.rate is not None:
            sacked = [
                (self._send_offset(lo), self._send_offset(hi))
                for lo, hi in (seg.options.sack_blocks if self.sack_ok else ())
            ]
            rate = self.rate.on_ack(una, sacked, now)
            if self.recovery.scoreboard:
                in_flight -= self.recovery.scoreboard.sacked_bytes(una, high)
        sample = AckSample(now, acked, rtt, una, high, in_flight, self.recovery.in_recovery, rate)
        self.cc.on_ack_sample(sample)

    def _ack_advance(self, ack: int, now: float, seg: Segment | None = None) -> None:
        """New data (or our SYN/FIN) acknowledged: SND.UNA moves to ``ack``."""
        acked = seq_diff(ack, self.snd_una)
        syn_timed_out = False
        if not self._syn_acked and seq_gt(ack, self.iss):
            self._syn_acked = True
            acked -= 1
            syn_timed_out = self._retries > 0 and self.config.initial_rto < RTO_AFTER_SYN_TIMEOUT
        data_acked = self.send_buf.acknowledge(self._send_offset(ack))
        self.snd_una = ack
        if self._mtu_probe is not None:
            self._mtu_probe_acked(ack, now)
        if ((self.snd_nxt - ack) & SEQ_MASK) >= SEQ_HALF:  # seq_lt(SND.NXT, ack)
            self.snd_nxt = ack
        self._retries = 0
        self._persist_backoff = 0
        self.stats.bytes_acked += data_acked
        if data_acked:
            self._events.append(Event.WRITABLE)
        ts = seg.options.timestamps if seg is not None and self.ts_ok else None
        if ts is not None and ts[1] and ((ts[1] - self._ts_epoch) & SEQ_MASK) < SEQ_HALF:
            # RFC 7323 4.1 RTTM: the echoed TSval times the ACKed segment, even a
            # retransmitted one.  Echoes older than our last timeout are skipped: a
            # duplicate of data the peer already had is answered with its old
            # TS.Recent, which would inflate the sample by the whole backoff.
            self.rtt.sample(((int(now * 1000) - ts[1]) & SEQ_MASK) / 1000)  # _tsval(now)
            self._timed_seq = None
        elif self._timed_seq is not None and seq_gt(ack, self._timed_seq):
            # RFC 6298 2.2/2.3, one timed segment; Karn: never a retransmission.
            self.rtt.sample(now - self._timed_at)
            self._timed_seq = None
        if syn_timed_out:
            # RFC 6298 5.7: the SYN timed out, so data starts with an RTO of 3 s.
            self.rtt.reinitialize(RTO_AFTER_SYN_TIMEOUT)
        # Congestion control and loss recovery (RFC 5681 3.2, RFC 6582 3.2, RFC 6675 5).
        retransmit = self.recovery.on_ack(
            ack=ack,
            acked=acked,
            flight=self.flight_size,
            una=self.send_buf.base,
            now=now,
            srtt=self.rtt.srtt,
        )
        if retransmit is not None:
            self._retransmit_first(now, retransmit)
        if self.ecn.ok:
            self.cc.on_ecn_ack(acked, seg is not None and bool(seg.flags & ECE), now)
        self._sample_history(now)
        # RFC 6298 5.2 / 5.3: stop the timer when all is acked, else restart it.
        if self.snd_una == self.snd_max:
            self._stop_timer(Timer.RETRANSMISSION)
        else:
            self._start_timer(Timer.RETRANSMISSION, now + self.rtt.rto)
        if self.config.user_timeout:
            # RFC 9293 3.8.3 USER TIMEOUT: restarted by progress, stopped when
            # nothing is left to deliver (queued data counts, as on Linux).
            if self.send_buf or (self._fin_queued and not self._fin_acked):
                self._start_timer(Timer.USER_TIMEOUT, now + self.config.user_timeout)
            else:
                self._stop_timer(Timer.USER_TIMEOUT)

    def _ecn_echo(self, ack: int, now: float) -> None:
        """RFC 3168 6.1.2: an ACK with ECE: reduce the window as for a loss, at most
        once per window, and say so with CWR on the next new data segment."""
        if self.cc.handles_ece:
            # The controller reduces by itself (on_ecn_ack); CWR still goes out
            # once per window, as Linux's DCTCP sends it.
            if self.ecn.should_reduce(ack, self.recovery.in_recovery):
                self.ecn.reduced(self.snd_max)
            return
        if self.ecn.should_reduce(ack, self.recovery.in_recovery):
            self.cc.on_ecn_ce(self.recovery.loss_flight(self.flight_size), now)
            self.ecn.reduced(self.snd_max)

    def _process_text_and_fin(self, seg: Segment, now: float) -> None:
        """RFC 9293 3.10.7.4 seventh (segment text) and eighth (FIN)."""
        st = self.state
        accepts_text = st in (State.ESTABLISHED, State.FIN_WAIT_1, State.FIN_WAIT_2)
        data_seq = seq_add(seg.seq, 1) if seg.flags & SYN else seg.seq
        payload = seg.payload
        fin = bool(seg.flags & FIN)
        dup_acked = False  # this segment's duplicate ACK went out already
        ts = seg.options.timestamps
        if payload and self.ts_ok and ts is not None and ts[1]:
            # The receiver's RTT from the echoed timestamp (RFC 7323 4.2), for autotuning.
            self.rcv_tune.rtt_sample(((self._tsval(now) - ts[1]) & SEQ_MASK) / 1000)
        if payload and accepts_text:
            if self.user_closed:
                # Data after close(): nobody will read it.  Linux answers RST
                # (RFC 2525 2.17) so the sender stops; so do we.
                self.abort(now, "data after close: sent RST")
                return
            # Trim to the window: the front below RCV.NXT, the tail beyond the edge.
            front = seq_diff(self.rcv_nxt, data_seq)
            if front > 0:
                # The front is old data: report it by D-SACK (RFC 2883 4.2, example 4).
                self.sack_reporter.duplicate(self.recv_buf.nxt - front, self.recv_buf.nxt)
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
                    held = self.recv_buf.held_overlap(offset, offset + len(payload))
                    if held is not None:  # RFC 2883 4.1.3/4.2.3: a duplicate above RCV.NXT
                        self.sack_reporter.duplicate(*held)
                    if offset > self.recv_buf.nxt:
                        self.sack_reporter.arrived(offset)
                    advanced = self.recv_buf.insert(offset, payload)
                    if advanced:
                        self.rcv_nxt = seq_add(self.rcv_nxt, advanced)
                        self.stats.bytes_received += advanced
                        self._events.append(Event.READABLE)
                        self._unacked_bytes += advanced
                        if had_gap:
                            self._request_ack("ACK (gap filled)")  # RFC 5681 4.2
                        elif self._unacked_bytes >= 2 * self.config.mss:
                            self._request_ack("ACK (every second segment)")  # RFC 9293 3.8.6.3
                        elif Timer.DELAYED_ACK not in self.timers:
                            self._start_timer(Timer.DELAYED_ACK, now + self.config.delayed_ack)
                    else:
                        # Out of order or duplicate: one ACK per segment, at once and
                        # not coalesced, so the sender can count them (RFC 5681 4.2).
                        self._emit(ACK, self.snd_nxt, b"", "duplicate ACK")
                        dup_acked = True
            if fin:
                self._peer_fin_offset = offset + len(payload)
        elif fin and st in (State.ESTABLISHED, State.FIN_WAIT_1, State.FIN_WAIT_2, State.SYN_RCVD):
            self._peer_fin_offset = self.recv_buf.nxt + seq_diff(data_seq, self.rcv_nxt)
        elif fin:
            # CLOSE-WAIT, CLOSING, LAST-ACK: a retransmitted FIN; re-ACK it.
            self._request_ack("ACK of retransmitted FIN")
        if self._peer_fin_offset is not None and self._peer_fin_offset == self.recv_buf.nxt:
            if not self.peer_fin_received:
                self._process_fin(now)
        elif self._peer_fin_offset is not None and not self.peer_fin_received and not dup_acked:
            # A FIN beyond a hole: ACK at once, but one ACK per segment (RFC 5681 4.2).
            self._request_ack("duplicate ACK")

    def _process_fin(self, now: float) -> None:
        """RFC 9293 3.10.7.4 eighth: the FIN is in order."""
        st = self.state
        if st is State.TIME_WAIT:
            self._request_ack("ACK of retransmitted FIN")
            self._start_timer(Timer.TIME_WAIT, now + 2 * self.config.msl)
            return
        self.peer_fin_received = True
        self.rcv_nxt = seq_add(self.rcv_nxt, 1)
        self._stop_timer(Timer.DELAYED_ACK)
        self._request_ack("ACK of FIN")
        self._events.append(Event.EOF)
        if st in (State.SYN_RCVD, State.ESTABLISHED):
            self._set_state(State.CLOSE_WAIT, "recv FIN: sent ACK", now)
        elif st is State.FIN_WAIT_1:
            if self._fin_acked:
                self._set_state(State.TIME_WAIT, "recv FIN+ACK: sent ACK", now)
            else:
                self._set_state(State.CLOSING, "recv FIN (simultaneous close): sent ACK", now)
        elif st is State.FIN_WAIT_2:
            self._set_state(State.TIME_WAIT, "recv FIN: sent ACK", now)

    def _maybe_window_update(self) -> None:
        """Receiver SWS avoidance (RFC 9293 3.8.6.2.2): announce a reopened window
        only when it grew by min(buffer/2, MSS) and was at most half open."""
        if self.peer_fin_received:
            return
        _, _, worth = self._sws_window(self.recv_buf.free_space())
        if worth and self.rcv_wnd < self.config.recv_buffer // 2:
            self._request_ack("window update")

    # ----------------------------------------------------------------- timers

    def handle_timer(self, now: float) -> None:
        """Fire the timers due at ``now``: earliest deadline first, ties in the order
        they were first armed (the timer table's insertion order)."""
        self._clock = now
        for timer, deadline in sorted(self.timers.items(), key=lambda kv: kv[1]):
            if deadline > now or self.timers.get(timer) != deadline:
                continue
            del self.timers[timer]
            _TIMER_HANDLERS[timer](self, now)
            if self.state is State.CLOSED:
                return

    def arm_keepalive(self, now: float) -> None:
        """(Re)start keep-alive timing from ``now`` if enabled (RFC 9293 3.8.4)."""
        self._keepalive_probes = 0
        if self.config.keepalive and self.state in (
            State.ESTABLISHED,
            State.CLOSE_WAIT,
            State.FIN_WAIT_2,
        ):
            self._start_timer(Timer.KEEPALIVE, now + self.config.keepalive_idle)
        else:
            self._stop_timer(Timer.KEEPALIVE)

    def _on_keepalive_timeout(self, now: float) -> None:
        """RFC 1122 4.2.3.6: after idle time, probe; only an unanswered series kills."""
        if self.state not in (State.ESTABLISHED, State.CLOSE_WAIT, State.FIN_WAIT_2):
            return
        if self.snd_una != self.snd_max or self.send_buf:
            # Not idle: the retransmission timer watches the peer; look again later.
            self._start_timer(Timer.KEEPALIVE, now + self.config.keepalive_idle)
            return
        if self._keepalive_probes >= self.config.keepalive_count:
            self._timeout(now, f"keep-alive: {self._keepalive_probes} probes unanswered")
            return
        self._keepalive_probes += 1
        # SND.NXT-1 with no data: the peer must answer with an ACK (RFC 1122 4.2.3.6).
        self._emit(ACK, seq_add(self.snd_una, -1), b"", f"keepalive #{self._keepalive_probes}")
        self._start_timer(Timer.KEEPALIVE, now + self.config.keepalive_interval)

    def _timeout(self, now: float, why: str) -> None:
        """RFC 9293 3.8.3 (R2) / 3.10.8: give up; the user sees TimeoutError."""
        err = TimeoutError(errno.ETIMEDOUT, f"connection timed out: {why}")
        self._fail(err, Event.TIMED_OUT, f"timeout: {why}", now)

    def _on_retransmission_timeout(self, now: float) -> None:
        """RFC 6298 5.4-5.7 and RFC 5681 3.1 on RTO expiry."""
        self._retries += 1
        self.stats.rto_expirations += 1
        if not self._syn_acked:
            if self._retries > self.config.syn_retries:
                self._timeout(now, f"no answer to SYN after {self.config.syn_retries} retries")
                return
            self.snd_nxt = self.iss  # resend SYN (or SYN+ACK)
        else:
            if self._retries > self.config.max_retries:
                self._timeout(now, f"{self.config.max_retries} retransmissions unanswered")
                return
            self.recovery.on_rto(
                snd_max=self.snd_max,
                flight=self.flight_size,
                una=self.send_buf.base,
                now=now,
                snd_una=self.snd_una,
                first=self._retries == 1,
            )
            if self.mtu_search is not None:
                self._mtu_on_timeout(now)
            self._sample_history(now)
            self.snd_nxt = self.snd_una  # go-back-N
        self._timed_seq = None  # Karn
        self._ts_epoch = self._tsval(now)
        self.rtt.backoff()  # RFC 6298 5.5
        self._rtx_cause = f"retransmission (RTO #{self._retries})"

    def _after_ack(self, now: float, seg: Segment | None = None) -> None:
        """D-SACK undo, RACK loss detection and PRR (recovery.py) after each ACK,
        then the reorder timer and the tail loss probe (RFC 8985 6.3, 7.2)."""
        recovery = self.recovery
        buf = self.send_buf
        if self.snd_una == self.snd_max and recovery.quiet():
            # Nothing in flight, nothing pending: what the steps below come to.
            # (compiled, ``in`` and ``del`` are native; dict.pop is a method call)
            timers = self.timers
            if Timer.REORDER in timers:
                del timers[Timer.REORDER]
            if Timer.LOSS_PROBE in timers:  # _arm_probe with nothing in flight
                del timers[Timer.LOSS_PROBE]
            self._autotune_send(buf)
            return
        high = min(self._send_offset(self.snd_max), buf.end)
        ts = seg.options.timestamps if seg is not None and self.ts_ok else None
        # When the echoed TSval was stamped (RFC 7323 4), to tell which transmission
        # of a retransmitted segment an ACK is for (RFC 8985 6.2 step 2).
        now_ms = int(now * 1000)  # our TSval clock (tcb._tsval), unwrapped
        echoed = (now_ms - ((now_ms - ts[1]) & SEQ_MASK)) / 1000 if ts and ts[1] else None
        deadline = recovery.after_ack(
            now=now,
            srtt=self.rtt.srtt,
            snd_una=self.snd_una,
            snd_max=self.snd_max,
            una=buf.base,
            high=high,
            echoed=echoed,
        )
        action = recovery.frto_action
        if action is not None:
            recovery.frto_action = None
        if action is None:
            pass  # the common case: F-RTO has nothing to say
        elif action == NEW_DATA and (
            self.send_buf.end <= self._send_offset(self.snd_max)
            or self.snd_wnd - self.flight_size < min(self.snd_mss, self.snd_wnd)
            or self.snd_wnd == 0
        ):
            # RFC 5682 2 step 2b: nothing new to send, or the window forbids it;
            # conventional recovery.
            self.recovery.frto.step = 0
        elif action == NEW_DATA:  # RFC 5682 2 step 2b / RFC 4015 4: no go-back-N
            self.snd_nxt = self.snd_max
            self._rtx_cause = ""
            self._probe_room = 2 * self.snd_mss
        elif action == GO_BACK:  # RFC 5682 2 step 3a: conventional recovery after all
            self.snd_nxt = self.snd_una
        if deadline is None:
            if self.timers:
                self._stop_timer(Timer.REORDER)
        else:
            self._start_timer(Timer.REORDER, deadline)
        self._arm_probe(now)
        if recovery.events:
            self._trace_recovery_events(now)
        self._autotune_send(buf)

    def _autotune_send(self, buf: SendBuffer) -> None:
        """Linux tcp_sndbuf_expand: room for 2 cwnd (send_buffer_size, asked only
        when it would grow the buffer)."""
        config = self.config
        if config.autotune_send and 2 * self.cc.cwnd > buf.capacity < config.send_buffer_max:
            size = send_buffer_size(buf.capacity, self.cc.cwnd, config.send_buffer_max)
            if size > buf.capacity:
                buf.capacity = size
                self._events.append(Event.WRITABLE)  # a blocked writer may go on

    def _on_reorder_timeout(self, now: float) -> None:
        """RFC 8985 6.3: the reordering window passed; look for losses again."""
        self._after_ack(now)

    def _on_loss_probe_timeout(self, now: float) -> None:
        """RFC 8985 7.3: send one new segment if there is one the peer's window
        takes, else resend the last one; then the RTO timer starts over."""
        r = self.recovery
        if not r.may_probe() or self.snd_una == self.snd_max:
            return
        buf = self.send_buf
        nxt = self._send_offset(self.snd_nxt)
        high = min(self._send_offset(self.snd_max), buf.end)
        n = min(self.snd_mss, buf.end - nxt)
        if n > 0 and self.snd_nxt == self.snd_max and self.snd_wnd - self.flight_size >= n:
            self._probe_room = n
            r.probe_sent(high + n, False)
        elif r.sent.segs:
            last = r.sent.segs[-1]
            start = max(last.start, last.end - self.snd_mss)
            self._resend_hole(start, last.end - start, "TLP probe")
            r.probe_sent(high, True)
        else:
            return  # only a FIN is out: the RTO resends it
        self.stats.tlp_probes += 1
        self._start_timer(Timer.RETRANSMISSION, now + self.rtt.rto)
        self._trace_recovery_events(now)

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
        self._start_timer(Timer.PERSIST, now + delay)

    def _on_pacing_timeout(self, now: float) -> None:
        """The pacing gap is over: the output path sends the next segment."""

    def _on_delayed_ack_timeout(self, now: float) -> None:
        self._request_ack("delayed ACK")

    def _on_time_wait_timeout(self, now: float) -> None:
        self._set_state(State.CLOSED, "2MSL timer expired", now)

    def _on_user_timeout(self, now: float) -> None:
        """RFC 9293 3.8.3: only data (or a handshake) left undelivered times out."""
        if (
            self.send_buf
            or self.snd_una != self.snd_max
            or self.state in (State.SYN_SENT, State.SYN_RCVD)
        ):
            self._timeout(now, f"user timeout ({self.config.user_timeout:g} s)")

    # ------------------------------------------------------------ reporting

    def info(self) -> TcpInfo:
        """A snapshot like Linux's ``struct tcp_info``."""
        st = self.stats
        timer = self.active_timer()
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
            bytes_sent=st.bytes_sent,
            bytes_acked=st.bytes_acked,
            bytes_received=st.bytes_received,
            segments_sent=st.segments_sent,
            segments_received=st.segments_received,
            retransmits=st.retransmits,
            rto_expirations=st.rto_expirations,
            fast_retransmits=st.fast_retransmits + self.recovery.episodes,
            sack_retransmits=st.sack_retransmits,
            rto_retransmits=st.rto_retransmits,
            delivery_rate=self.delivery_rate,
            sacked_bytes=self.recovery.scoreboard.sacked_bytes(),
            sack=self.sack_ok,
            timestamps=self.ts_ok,
            congestion=self.cc.name,
            recv_queue=len(self.recv_buf),
            send_queue=len(self.send_buf),
            dropped_segments=st.dropped_segments,
            active_timer=None if timer is None else timer.value,
            rack_retransmits=st.rack_retransmits,
            tlp_probes=st.tlp_probes,
            dsacks_received=self.recovery.dsacks,
            spurious_retransmits=self.recovery.spurious,
            undos=self.recovery.undos,
            recovery=self.recovery.mode if self.sack_ok else "newreno",
        )


# Each timer's expiry handler (a table, not a method: mypyc compiles it too).
_TIMER_HANDLERS: dict[Timer, Callable[[Connection, float], None]] = {
    Timer.RETRANSMISSION: Connection._on_retransmission_timeout,
    Timer.PERSIST: Connection._on_persist_timeout,
    Timer.DELAYED_ACK: Connection._on_delayed_ack_timeout,
    Timer.TIME_WAIT: Connection._on_time_wait_timeout,
    Timer.USER_TIMEOUT: Connection._on_user_timeout,
    Timer.KEEPALIVE: Connection._on_keepalive_timeout,
    Timer.LOSS_PROBE: Connection._on_loss_probe_timeout,
    Timer.REORDER: Connection._on_reorder_timeout,
    Timer.PACING: Connection._on_pacing_timeout,
}
