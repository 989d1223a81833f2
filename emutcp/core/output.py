"""The output path of a connection: everything that puts a segment on the wire.

Theory of operation
-------------------
Sending is "pull" style, as in smoltcp: input handlers only change state and
set flags (``_ack_now``, ``snd_nxt`` rewound for a retransmission, ...);
``segments_to_send`` then looks at the state and emits SYN, data, FIN and
pure ACKs as the windows (``snd_wnd``, cwnd), Nagle and SWS avoidance allow.
The send buffer keeps every unacknowledged byte, so a retransmission just
re-reads it: RTO recovery rewinds ``snd_nxt`` to ``snd_una`` (go-back-N, as
RFC 5681 3.1 and RFC 6298 5.4 prescribe, skipping what the peer SACKed), fast
retransmit resends one segment (``_retransmit_first``), SACK recovery the
holes ``LossRecovery.retransmit_holes`` picks.

Every segment is built by ``_emit``, which fills in what the state implies:
the ACK field and the receive window (with receiver SWS avoidance, RFC 9293
3.8.6.2.2), and the options (MSS, window scale, SACK-permitted and timestamps
on a SYN, SACK blocks and timestamps after it).  Segments go to ``_out`` with
a reason for the trace; a segment carrying ACK satisfies any pending ACK.
"""

from __future__ import annotations

from typing import Final

from .ecn import ECT0
from .plpmtud import Probe
from .rack import pto
from .segment import (
    ACK,
    ECE,
    FIN,
    NO_OPTIONS,
    PSH,
    RST,
    SYN,
    Options,
    Segment,
    make_options,
)
from .seq import SEQ_HALF, SEQ_MASK, SEQ_MOD, seq_add, seq_diff, seq_gt
from .state import SYNCHRONIZED, State
from .tcb import MAX_WINDOW_FIELD, Tcb, Timer

# PLPMTUD: a probe goes out only with this many MSS of data ready behind it, so
# that its loss shows in the ACKs that follow (RFC 4821 7.4).
PROBE_TAIL_SEGMENTS: Final = 3


class Output(Tcb):
    def segments_to_send(self, now: float) -> list[Segment]:
        """Everything this connection wants on the wire now (pull-style output)."""
        self._clock = now
        st = self.state
        if st not in (State.CLOSED, State.LISTEN, State.TIME_WAIT):
            if not self._syn_acked:
                self._output_syn(now)
            if self._syn_acked and st in SYNCHRONIZED:
                self._output_data(now)
        if self._ack_now and st not in (State.CLOSED, State.LISTEN, State.SYN_SENT):
            self._emit(
                ACK,
                self.snd_nxt if st is not State.TIME_WAIT else self.snd_max,
                b"",
                self._ack_reason,
            )
        self._ack_now = False
        out = self._out
        if not out:
            return []  # the common "nothing to send"
        reasons = self._out_reasons
        self._out, self._out_reasons = [], []
        self.stats.segments_sent += len(out)
        if self.tracer is not None:
            for seg, reason in zip(out, reasons, strict=True):
                self._trace_segment("out", seg, reason, now)
        return out

    # -------------------------------------------------------- building segments

    def _sws_window(self, free: int) -> tuple[int, int, bool]:
        """Receiver SWS avoidance (RFC 9293 3.8.6.2.2): with ``free`` bytes of room the
        right edge would be ``right``, ``grow`` bytes beyond the one advertised;
        ``worth`` says whether that is min(buffer/2, MSS) or more."""
        right = (self.rcv_nxt + free) & SEQ_MASK
        grow = (right - self.rcv_adv) & SEQ_MASK  # seq_diff(right, rcv_adv), inlined
        if grow >= SEQ_HALF:
            grow -= SEQ_MOD
        config = self.config
        return right, grow, grow >= min(config.recv_buffer // 2, config.mss)

    def _window_field(self) -> int:
        """Advertise the free receive space (never shrinking the right edge)."""
        free = self.config.recv_buffer if self.read_shutdown else self.recv_buf.free_space()
        right, grow, worth = self._sws_window(free)
        if worth or (self.rcv_wnd == 0 and grow > 0):
            self.rcv_adv = right
        return min(self.rcv_wnd >> self.rcv_wscale, MAX_WINDOW_FIELD)

    def _emit(
        self,
        flags: int,
        seq: int,
        payload: bytes,
        reason: str,
        *,
        with_ack: bool = True,
        ect: bool = False,
    ) -> None:
        if flags & ACK or (with_ack and self.state is not State.SYN_SENT):
            flags |= ACK
            ack = self.rcv_nxt
            # _window_field(), inlined (it runs for every segment we send).
            config = self.config
            free = config.recv_buffer if self.read_shutdown else self.recv_buf.free_space()
            right = (ack + free) & SEQ_MASK
            grow = (right - self.rcv_adv) & SEQ_MASK  # _sws_window's seq_diff
            if grow >= SEQ_HALF:
                grow -= SEQ_MOD
            d = (self.rcv_adv - ack) & SEQ_MASK
            rcv_wnd = 0 if d >= SEQ_HALF else d  # the rcv_wnd property, inlined
            half, mss = config.recv_buffer // 2, config.mss
            if grow >= (half if half < mss else mss) or (grow > 0 and rcv_wnd == 0):
                self.rcv_adv = right
                d = (right - ack) & SEQ_MASK
                rcv_wnd = 0 if d >= SEQ_HALF else d
            window = rcv_wnd >> self.rcv_wscale
            if window > MAX_WINDOW_FIELD:
                window = MAX_WINDOW_FIELD
        else:
            ack = 0
            window = 0 if flags & RST else min(self.config.recv_buffer, MAX_WINDOW_FIELD)
        options = NO_OPTIONS
        if flags & SYN:
            window = min(self.config.recv_buffer, MAX_WINDOW_FIELD)  # RFC 7323 2.2
            self.rcv_adv = seq_add(self.rcv_nxt, window)
            # On a SYN+ACK, offer only what the peer's SYN offered (RFC 7323, RFC 2018).
            answering = self.passive or self.state is State.SYN_RCVD
            send_ws = self.config.window_scaling and (not answering or self._peer_sent_wscale)
            send_sack = self.config.sack and (not answering or self.sack_ok)
            send_ts = self.config.timestamps and (not answering or self.ts_ok)
            flags |= self.ecn.syn_flags(answering)  # RFC 3168 6.1.1
            options = Options(
                mss=self.config.mss,
                wscale=self.rcv_wscale if send_ws else None,
                sack_permitted=send_sack,
                timestamps=(self._tsval(self._clock), self.ts_recent if answering else 0)
                if send_ts
                else None,
            )
        elif not flags & RST and (self.ts_ok or self.recovery.sack):  # (sack_ok)
            blocks: tuple[tuple[int, int], ...] = ()
            if (
                self.recovery.sack
                and flags & ACK
                and (self.recv_buf.ooo_bytes or self.sack_reporter.dsack)
            ):
                blocks = self._sack_blocks()
            if self.ts_ok:
                tsval = int(self._clock * 1000) & SEQ_MASK  # RFC 7323 5.4: tcb._tsval, inlined
                last = self._ts_options
                if blocks:
                    options = make_options(blocks, (tsval, self.ts_recent))
                elif (
                    last is not None
                    and last.timestamps is not None
                    and last.timestamps[0] == tsval
                    and last.timestamps[1] == self.ts_recent
                ):
                    options = last  # a burst within one TSval tick: the same options
                else:
                    options = self._ts_options = make_options((), (tsval, self.ts_recent))
            elif blocks:
                options = make_options(blocks, None)
        if flags & ACK:
            self._last_ack_sent = ack
        ecn = 0
        if self.ecn.ok and not flags & (SYN | RST):
            if flags & ACK and self.ecn.ece_pending:
                flags |= ECE  # RFC 3168 6.1.3: echo until the sender's CWR
            if ect:  # RFC 3168 6.1.4: new data only (not ACKs, retransmissions)
                flags |= self.ecn.data_flags()
                ecn = ECT0
        seg = Segment(  # (the class itself: compiled, a native constructor call)
            self.local[1], self.remote[1], seq, ack, flags, window, options, payload, ecn
        )
        if payload and self.rate is not None:  # a delivery record per transmission
            off = self._send_offset(seq)
            self.rate.on_send(off, off + len(payload), self._clock, self.flight_size)
        self._out.append(seg)
        self._out_reasons.append(reason)
        if flags & ACK:
            self._ack_now = False
            self._unacked_bytes = 0
            timers = self.timers  # _stop_timer, inlined (compiled: no method call)
            if Timer.DELAYED_ACK in timers:
                del timers[Timer.DELAYED_ACK]

    def _sack_blocks(self) -> tuple[tuple[int, int], ...]:
        """RFC 2018 4: the blocks we hold beyond RCV.NXT, the newest first, after
        a D-SACK if a duplicate arrived (RFC 2883 4)."""
        base_off = self.recv_buf.nxt
        base_seq = seq_add(self.rcv_nxt, -1) if self.peer_fin_received else self.rcv_nxt
        limit = 3 if self.ts_ok else 4  # what fits in 40 option bytes on real TCP
        return tuple(
            (seq_add(base_seq, s - base_off), seq_add(base_seq, e - base_off))
            for s, e in self.sack_reporter.blocks(self.recv_buf.out_of_order_ranges(), limit)
        )

    # ---------------------------------------------------------- SYN, data, FIN

    def _output_syn(self, now: float) -> None:
        if self._syn_acked or self.snd_nxt != self.iss:
            return
        st = self.state
        if st is State.SYN_SENT:
            flags, reason = SYN, "SYN"
        elif st in (State.SYN_RCVD, State.FIN_WAIT_1):
            flags, reason = SYN | ACK, "SYN+ACK"
        else:
            return
        if self._rtx_cause:
            reason = f"{reason} {self._rtx_cause}"
            self.stats.retransmits += 1
            self._rtx_cause = ""
        elif self._timed_seq is None:
            self._timed_seq, self._timed_at = self.iss, now
        self._emit(flags, self.iss, b"", reason, with_ack=bool(flags & ACK))
        self._sent_through(seq_add(self.iss, 1), now)

    def _sent_through(self, nxt: int, now: float) -> None:
        """SND.NXT moves to ``nxt`` after a transmission; SND.MAX follows it up, and
        the retransmission timer runs while anything is outstanding (RFC 6298 5.1)."""
        self.snd_nxt = nxt
        if seq_gt(self.snd_nxt, self.snd_max):
            self.snd_max = self.snd_nxt
        if Timer.RETRANSMISSION not in self.timers:
            self._start_timer(Timer.RETRANSMISSION, now + self.rtt.rto)

    def _arm_probe(self, now: float) -> None:
        """RFC 8985 7.2: with data in flight, no recovery and no probe out, a tail
        loss probe fires after PTO unless the RTO would fire first."""
        timers = self.timers  # (runs after every ACK: the table is used directly)
        rto_at = timers.get(Timer.RETRANSMISSION)
        snd_una, snd_max = self.snd_una, self.snd_max
        if snd_una == snd_max or rto_at is None or not self.recovery.may_probe():
            if Timer.LOSS_PROBE in timers:  # (compiled: no method call)
                del timers[Timer.LOSS_PROBE]
            return
        d = (snd_max - snd_una) & SEQ_MASK  # flight_size, inlined
        flight = d - SEQ_MOD if d >= SEQ_HALF else d
        at = now + pto(self.rtt.srtt, flight // max(self.snd_mss, 1))
        if at < rto_at:
            timers[Timer.LOSS_PROBE] = at
        else:
            if Timer.LOSS_PROBE in timers:  # (compiled: no method call)
                del timers[Timer.LOSS_PROBE]

    def _output_data(self, now: float) -> None:
        """Send new data, retransmissions after RTO, and our FIN (RFC 9293 3.7.4,
        3.8.6.2.1 sender SWS avoidance, RFC 5681 window = min(cwnd, rwnd)).

        This runs after every segment that arrives, so the sequence arithmetic
        of ``seq.py`` is inlined here (``(a - b) & SEQ_MASK`` and its sign)."""
        buf = self.send_buf
        recovery = self.recovery
        base, buf_end = buf.base, buf.end  # neither moves while we send
        first = self.iss + 1 + base  # the sequence number of stream offset ``base``
        d = (self.snd_nxt - first) & SEQ_MASK
        nxt_off = base + (d - SEQ_MOD if d >= SEQ_HALF else d)  # _send_offset(snd_nxt)
        if (
            nxt_off >= buf_end
            and self.snd_nxt == self.snd_max
            and not self._fin_queued
            and not recovery.in_recovery
            and not self._probe_room
            and self.rate is None
        ):
            # Nothing queued to send and nothing to resend: what the loop below
            # would conclude at its first step (the receiver of a bulk flow, or
            # an idle connection), without computing the windows.
            self._rtx_cause = ""
            return
        mss = self.snd_mss
        nodelay = self.config.nodelay
        sent_new = False
        scoreboard = recovery.scoreboard
        if not (recovery.in_recovery and recovery.sack):  # not recovery.sack_recovery
            d = (self.snd_nxt - self.snd_una) & SEQ_MASK  # seq_diff(SND.NXT, SND.UNA)
            cwnd_room = recovery.send_room(d - SEQ_MOD if d >= SEQ_HALF else d, base, nxt_off)
        elif recovery.racking:
            high = min(self._send_offset(self.snd_max), buf_end)
            cwnd_room = recovery.retransmit_lost(base, high, self._resend_lost)
        else:
            high = min(self._send_offset(self.snd_max), buf_end)
            cwnd_room = recovery.retransmit_holes(base, high, self._resend_hole)
        if self._probe_room:  # RFC 8985 7.3: a probe sends one new segment beyond cwnd
            cwnd_room, self._probe_room = max(cwnd_room, self._probe_room), 0
        snd_una, snd_wnd, timers = self.snd_una, self.snd_wnd, self.timers
        mtu_search, pacer, stats = self.mtu_search, self.pacer, self.stats
        while True:
            snd_nxt = self.snd_nxt
            d = (snd_nxt - first) & SEQ_MASK
            off = base + (d - SEQ_MOD if d >= SEQ_HALF else d)
            retransmission = ((snd_nxt - self.snd_max) & SEQ_MASK) >= SEQ_HALF  # seq_lt
            if retransmission and scoreboard.ranges:
                sacked = scoreboard.is_sacked(off)
                if sacked is not None:
                    # Go-back-N after a timeout skips what the peer SACKed (RFC 6675 5.1).
                    self.snd_nxt = self._seq_of(min(sacked[1], buf_end))
                    continue
            unsent = buf_end - off
            d = (snd_nxt - snd_una) & SEQ_MASK
            usable = snd_wnd - (d - SEQ_MOD if d >= SEQ_HALF else d)
            if cwnd_room < usable:
                usable = cwnd_room  # min(peer's window left, cwnd room)
            if unsent <= 0:
                if self.rate is not None and cwnd_room > 0:
                    self.rate.mark_app_limited(self.flight_size)  # rate.py, 3.4
                fin_pending = self._fin_queued and not (
                    self._fin_sent and seq_gt(snd_nxt, self._fin_seq)
                )
                if fin_pending and off == buf_end:
                    self._send_fin_only(now)
                break
            if usable <= 0:
                if (
                    snd_wnd == 0
                    and Timer.PERSIST not in timers
                    and (snd_una == self.snd_max or Timer.RETRANSMISSION not in timers)
                ):
                    # RFC 9293 3.8.6.1: probe a zero window; also after an RTO found
                    # data beyond it, else no timer would be left to notice anything.
                    self._start_timer(Timer.PERSIST, now + self.rtt.rto)
                break
            n = unsent if unsent < usable else usable  # min(unsent, usable, mss)
            if mss < n:
                n = mss
            if mtu_search is not None and not retransmission:
                n = self._mtu_probe_size(unsent, usable, now) or n
            if retransmission and scoreboard.ranges:
                stop = scoreboard.next_sacked_start(off)
                if stop is not None:
                    n = min(n, stop - off)
            if n < mss and not retransmission:
                # Nagle (RFC 9293 3.7.4) and sender SWS avoidance (3.8.6.2.1): send a
                # short segment only if it is all we have and nothing is in flight
                # (or Nagle is off), or if it is at least half the peer's max window.
                all_of_it = n == unsent
                idle = snd_una == self.snd_max
                if not (
                    (all_of_it and (idle or nodelay or self._fin_queued))
                    or n >= self.max_snd_wnd // 2 > 0
                    or self._sws_override
                ):
                    if idle and n < mss and Timer.PERSIST not in timers:
                        # Only a sliver of window and nothing in flight to clock us:
                        # arm the override timeout (RFC 9293 3.8.6.2.1).
                        self._start_timer(Timer.PERSIST, now + self.rtt.rto)
                    break
                self._sws_override = False
            if pacer is not None and not pacer.may_send(now):
                self._start_timer(Timer.PACING, pacer.next_send)  # pacing.py
                break
            payload = buf.peek(off, n)
            flags = ACK
            if off + n == buf_end:
                flags |= PSH
                if self._fin_queued:
                    flags |= FIN
            seq = snd_nxt
            if retransmission:
                reason = self._rtx_cause or "retransmission"
                stats.retransmits += 1
                if self._rtx_cause:
                    stats.rto_retransmits += 1
            else:
                reason = "PLPMTUD probe" if n > mss else "data"
                sent_new = True
                stats.bytes_sent += n
                if self._timed_seq is None:
                    self._timed_seq, self._timed_at = seq, now
            self._emit(flags, seq, payload, reason, ect=not retransmission)
            recovery.on_transmit(off, off + n, now, retransmission)
            if pacer is not None:
                pacer.sent(n, now, self.cc.pacing_rate(self.rtt.srtt))
            cwnd_room -= n
            if flags & FIN:
                self._fin_sent = True
                self._sent_through(seq_add(seq, n + 1), now)
                break
            # _sent_through(seq + n), inlined.
            self.snd_nxt = nxt = (seq + n) & SEQ_MASK
            d = (nxt - self.snd_max) & SEQ_MASK
            if 0 < d < SEQ_HALF:  # seq_gt(nxt, snd_max)
                self.snd_max = nxt
            if Timer.RETRANSMISSION not in timers:
                self._start_timer(Timer.RETRANSMISSION, now + self.rtt.rto)
        if ((self.snd_nxt - self.snd_max) & SEQ_MASK) < SEQ_HALF:  # not seq_lt
            self._rtx_cause = ""
        if sent_new:
            self._arm_probe(now)  # RFC 8985 7.2: on sending new data

    def _send_fin_only(self, now: float) -> None:
        retransmission = self._fin_sent
        reason = (self._rtx_cause or "retransmission") + " FIN" if retransmission else "FIN"
        if retransmission:
            self.stats.retransmits += 1
        self._emit(ACK | FIN, self._fin_seq, b"", reason)
        self._fin_sent = True
        self._sent_through(seq_add(self._fin_seq, 1), now)

    def _mtu_probe_size(self, unsent: int, usable: int, now: float) -> int:
        """The size of a PLPMTUD probe to send now as the next segment, or 0
        (RFC 4821 7.4: only outside loss recovery, one probe at a time, with the
        window for it and enough data behind it)."""
        search = self.mtu_search
        if (
            search is None
            or self._mtu_probe is not None
            or self.recovery.in_recovery
            or self.state not in (State.ESTABLISHED, State.CLOSE_WAIT)
        ):
            return 0
        if not search.searching and not search.raise_due(now):
            return 0
        size = search.probe_size()
        if size is None or size <= self.snd_mss or usable < size:
            return 0
        if unsent < size + PROBE_TAIL_SEGMENTS * self.snd_mss:
            return 0
        end = seq_add(self.snd_nxt, size)
        self._mtu_probe = Probe(self.snd_nxt, end, size, self.stats.retransmits)
        self.stats.mtu_probes += 1
        return size

    def _resend_at_mss(self, seq: int, end: int, reason: str) -> None:
        """Resend [seq, end) in segments of the current MSS (SND.NXT stays)."""
        buf = self.send_buf
        off, stop = self._send_offset(seq), min(self._send_offset(end), buf.end)
        while off < stop:
            n = min(self.snd_mss, stop - off)
            flags = ACK | (PSH if off + n == buf.end else 0)
            self._emit(flags, self._seq_of(off), buf.peek(off, n), reason)
            self.recovery.on_transmit(off, off + n, self._clock, True)
            self.stats.retransmits += 1
            off += n
        self._timed_seq = None  # Karn's rule

    # -------------------------------------------------------- retransmissions

    def _resend_hole(self, off: int, n: int, reason: str = "SACK recovery retransmission") -> None:
        """Resend stream bytes [off, off+n) for SACK recovery (SND.NXT stays)."""
        buf = self.send_buf
        flags = ACK | (PSH if off + n == buf.end else 0)
        if off + n == buf.end and self._fin_sent:
            flags |= FIN  # the FIN went with the last byte; resend it with it
        self._emit(flags, self._seq_of(off), buf.peek(off, n), reason)
        self.recovery.on_transmit(off, off + n, self._clock, True)
        self.stats.retransmits += 1
        if reason == "SACK recovery retransmission":
            self.stats.sack_retransmits += 1
        self._timed_seq = None  # Karn's rule

    def _resend_lost(self, off: int, n: int) -> None:
        """Resend a range RACK marked lost (RFC 8985 6.3)."""
        self._resend_hole(off, n, "RACK retransmission")
        self.stats.rack_retransmits += 1

    def _retransmit_first(self, now: float, reason: str) -> None:
        """Resend one segment at SND.UNA without moving SND.NXT."""
        off = self.send_buf.base
        n = min(self.snd_mss, self.send_buf.end - off, seq_diff(self.snd_max, self.snd_una))
        flags = ACK
        if n <= 0:
            if self._fin_sent and not self._fin_acked:
                self._emit(ACK | FIN, self._fin_seq, b"", reason)
                self.stats.retransmits += 1
            return
        payload = self.send_buf.peek(off, n)
        if self._fin_sent and off + n == self.send_buf.end and n < self.snd_mss:
            flags |= FIN
        if off + n == self.send_buf.end:
            flags |= PSH
        self._emit(flags, self.snd_una, payload, reason)
        self.recovery.on_transmit(off, off + n, now, True)
        self.stats.retransmits += 1
        self._timed_seq = None  # Karn's rule
        self._start_timer(Timer.RETRANSMISSION, now + self.rtt.rto)
