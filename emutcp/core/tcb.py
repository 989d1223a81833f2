"""The transmission control block (RFC 9293 3.3.1): one connection's variables.

``Tcb`` holds what every part of a connection reads and writes, and the few
primitives they share; the behaviour is layered on it the way Linux spreads
``struct tcp_sock`` over tcp_input.c, tcp_output.c and tcp_recovery.c:

* output.py, ``Output(Tcb)``: everything that puts segments on the wire;
* recovery.py, ``LossRecovery``: loss detection and recovery, held as
  ``recovery`` and fed plain numbers (it never sees the TCB);
* connection.py, ``Connection(Output)``: user calls, SEGMENT ARRIVES and
  the timers, the class the mux and the shells use.

Sequence numbers wrap, stream offsets do not: ``_seq_of`` and
``_send_offset`` convert between SND sequence numbers and send-buffer offsets
(data starts at ISS+1).  ``snd_max`` is the highest sequence number sent plus
one; it plays the role of the RFC's SND.NXT in acceptability checks because
``snd_nxt`` moves back after a timeout.

Timers: one table ``timers: dict[Timer, float]`` of deadlines per connection
(DESIGN.md point 3); ``Connection.handle_timer`` fires the due ones in
deadline order, ties in the order they were first armed.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from enum import Enum
from typing import Final

from .algorithms import make_controller
from .autotune import RecvAutotune
from .buffers import ReceiveBuffer, SendBuffer
from .config import Config
from .congestion import CongestionController
from .ecn import EcnState
from .events import (
    ConnectionStats,
    Event,
    MetricsSample,
    RecoveryEvent,
    SegmentRecord,
    Transition,
)
from .pacing import Pacer, pacing_enabled
from .plpmtud import MtuSearch, Probe
from .rate import DeliveryRateEstimator
from .recovery import LossRecovery
from .rtt import RttEstimator
from .sack import SackReporter
from .segment import ACK, SYN, Options, Segment
from .seq import SEQ_HALF, SEQ_MASK, SEQ_MOD, seq_add, seq_diff
from .state import State

Address = tuple[str, int]
# tracer(record, local, remote): what a connection (or listener) reports as it runs.
Tracer = Callable[
    [Transition | SegmentRecord | MetricsSample | RecoveryEvent, Address, Address | None], None
]

DEFAULT_MSS: Final = 536  # RFC 9293 3.7.1: assumed when the peer sends no MSS option
MAX_WINDOW_FIELD: Final = 65_535


class Timer(Enum):
    """The timers of one connection; the value is the name ``TcpInfo`` reports."""

    RETRANSMISSION = "retransmission"  # RFC 6298
    PERSIST = "persist"  # zero-window probes and the SWS override (RFC 9293 3.8.6)
    DELAYED_ACK = "delayed-ack"  # RFC 9293 3.8.6.3
    TIME_WAIT = "time-wait"  # 2 MSL (RFC 9293 3.10.7.4)
    USER_TIMEOUT = "user-timeout"  # RFC 9293 3.8.3
    KEEPALIVE = "keepalive"  # RFC 1122 4.2.3.6
    LOSS_PROBE = "loss-probe"  # RFC 8985 7 tail loss probe (PTO)
    REORDER = "reorder"  # RFC 8985 6.3 RACK reorder timer
    PACING = "pacing"  # the next segment may leave (pacing.py)

    # Members are singletons compared by identity: hash them by identity too,
    # in C, instead of Enum's Python-level hash of the name (the timer table is
    # looked up several times per segment).  Dict order is insertion order
    # either way, so nothing observable changes.
    __hash__ = object.__hash__


def wscale_for(buffer: int) -> int:
    """The smallest window-scale shift that lets the window field cover ``buffer``."""
    shift = 0
    while (buffer >> shift) > MAX_WINDOW_FIELD and shift < 14:
        shift += 1
    return shift


class Tcb:
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
        self.state = State.LISTEN if passive else State.CLOSED
        self.transitions: list[Transition] = []
        self.error: OSError | None = None
        self._events: list[Event] = []
        self._out: list[Segment] = []
        self._out_reasons: list[str] = []

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
        self.rcv_wscale = wscale_for(config.recv_window_ceiling) if config.window_scaling else 0
        self._peer_sent_wscale = False

        self.ecn = EcnState(config.ecn)  # RFC 3168 (ecn.py)
        self.send_buf = SendBuffer(config.send_buffer)
        self.recv_buf = ReceiveBuffer(config.recv_buffer)
        self.sack_reporter = SackReporter(dsack=config.dsack)  # receiver's SACK/D-SACK
        self.rcv_tune = RecvAutotune(  # receive-buffer autotuning (autotune.py)
            ceiling=config.recv_buffer_max if config.autotune_recv else 0, now=now
        )
        self._syn_acked = False
        self._fin_queued = False  # user shut down the write side
        self._fin_sent = False
        self._fin_acked = False
        self._peer_fin_offset: int | None = None  # stream offset of the peer's FIN
        self.peer_fin_received = False
        self.read_shutdown = False  # SHUT_RD: discard what arrives
        self.user_closed = False  # close() called: nobody will read again

        self.timers: dict[Timer, float] = {}
        self.rtt = RttEstimator(
            initial_rto=config.initial_rto, rto_min=config.rto_min, rto_max=config.rto_max
        )
        self._timed_seq: int | None = None
        self._timed_at = 0.0
        self._retries = 0
        self._persist_backoff = 0
        self._persist_unanswered = 0
        self._keepalive_probes = 0
        self._icmp_unreachable = 0  # port unreachables since the last acceptable segment
        self._sws_override = False
        self.cc = make_controller(
            config.congestion, mss=self.snd_mss, initial_window=config.initial_window
        )
        self.ecn.mirror_ce = self.cc.handles_ece  # DCTCP receivers echo per segment
        self.pacer = Pacer() if pacing_enabled(config.pacing, self.cc) else None
        # Per-ACK samples and per-segment delivery records, only for a controller
        # that uses them (NewReno pays nothing).
        self.cc_samples = type(self.cc).on_ack_sample is not CongestionController.on_ack_sample
        self.rate = DeliveryRateEstimator() if self.cc.wants_rate_samples else None
        self.recovery = LossRecovery(
            self.cc,
            iss=self.iss,
            dupthresh=config.dupthresh,
            limited_transmit=config.limited_transmit,
            mode=config.recovery,
            frto=config.frto,
            initial_window=config.initial_window,
        )
        self._probe_room = 0  # bytes a tail loss probe may send beyond cwnd
        # Timestamps (RFC 7323), negotiated on the SYN; SACK is ``recovery.sack``.
        self.ts_ok = False
        self.ts_recent = 0
        self._last_ack_sent = 0
        # The timestamps-only Options of the latest segment sent: reused while
        # TSval and TS.Recent stay the same (Options are values, never changed).
        self._ts_options: Options | None = None
        self._clock = now  # the latest ``now`` seen; stamps TSval on output
        self._ts_epoch = int(now * 1000) & SEQ_MASK  # TSval at the last timeout (or start)
        # cwnd/ssthresh/srtt samples over time, for plots: (time, cwnd, ssthresh, srtt),
        # one per ACK that moves the window or recovery event; the newest 65,536 kept.
        self.history: deque[tuple[float, int, int, float | None]] = deque(maxlen=65_536)
        self.delivery_rate = 0.0  # bytes/s over the last round trip or more
        self._rate_mark = (now, 0)
        self._ack_now = False
        self._ack_reason = "ACK"
        self._unacked_bytes = 0  # in-order bytes received since our last ACK
        self._challenge_window = (0.0, 0)  # (second it started, challenge ACKs sent)
        self._last_oow_ack = -1e9  # when we last answered an out-of-window pure ACK
        self._rtx_cause = ""
        self.stats = ConnectionStats()
        # PLPMTUD (plpmtud.py): the search and the probe in flight.
        self.mtu_search: MtuSearch | None = None
        self._mtu_probe: Probe | None = None

    def __repr__(self) -> str:
        return f"<Connection {self.local} <-> {self.remote} {self.state}>"

    # ------------------------------------------------------- sequence space

    def _seq_of(self, offset: int) -> int:
        """Sequence number of send-stream byte ``offset`` (data starts at ISS+1)."""
        return (self.iss + 1 + offset) & SEQ_MASK

    def _send_offset(self, seq: int) -> int:
        # base + seq_diff(seq, _seq_of(base)), inlined: this runs several times a segment.
        base = self.send_buf.base
        d = (seq - self.iss - 1 - base) & SEQ_MASK
        return base + (d - SEQ_MOD if d >= SEQ_HALF else d)

    @property
    def _fin_seq(self) -> int:
        return self._seq_of(self.send_buf.end)

    def _recv_offset(self, seq: int) -> int:
        """Receive-stream offset of sequence number ``seq`` (the peer's FIN, once
        in order, occupies a sequence number but no offset)."""
        data_nxt = seq_add(self.rcv_nxt, -1) if self.peer_fin_received else self.rcv_nxt
        return self.recv_buf.nxt + seq_diff(seq, data_nxt)

    @property
    def flight_size(self) -> int:
        """Bytes sent and not yet acknowledged (RFC 5681 FlightSize)."""
        d = (self.snd_max - self.snd_una) & SEQ_MASK  # seq_diff, inlined (hot)
        return d - SEQ_MOD if d >= SEQ_HALF else d

    @property
    def rcv_wnd(self) -> int:
        d = (self.rcv_adv - self.rcv_nxt) & SEQ_MASK  # max(0, seq_diff(...)), inlined
        return 0 if d >= SEQ_HALF else d

    @property
    def sack_ok(self) -> bool:
        """SACK (RFC 2018) was negotiated on the SYN."""
        return self.recovery.sack

    @property
    def readable_bytes(self) -> int:
        return len(self.recv_buf)

    @property
    def at_eof(self) -> bool:
        """The peer's FIN arrived and every byte before it has been read."""
        return self.peer_fin_received and not self.recv_buf

    # --------------------------------------------------------------- timers

    def _start_timer(self, timer: Timer, deadline: float) -> None:
        self.timers[timer] = deadline

    def _stop_timer(self, timer: Timer) -> None:
        self.timers.pop(timer, None)

    def get_timer(self) -> float | None:
        """The earliest deadline of the timer table, or None."""
        # A loop, not min(): compiled, it runs on C doubles (this runs after
        # every output pass), where min() is a generic call.
        best: float | None = None
        for deadline in self.timers.values():
            if best is None or deadline < best:
                best = deadline
        return best

    def active_timer(self) -> Timer | None:
        """The timer that fires next (the first armed among equal deadlines)."""
        if not self.timers:
            return None
        return min(self.timers, key=self.timers.__getitem__)

    # ------------------------------------------------------------- plumbing

    def _request_ack(self, reason: str) -> None:
        self._ack_now = True
        self._ack_reason = reason

    def _tsval(self, now: float) -> int:
        """RFC 7323 5.4: a millisecond timestamp clock."""
        return int(now * 1000) & SEQ_MASK

    def events_to_report(self) -> list[Event]:
        """The events since the last call (an empty list if none: then this
        connection's own, which the caller leaves alone; it runs after every
        output pass, and most report nothing)."""
        ev = self._events
        if ev:
            self._events = []
        return ev

    def _sample_history(self, now: float) -> None:
        self.history.append((now, self.cc.cwnd, self.cc.ssthresh, self.rtt.srtt))
        if self.tracer is not None:
            sample = MetricsSample(
                now, self.cc.cwnd, self.cc.ssthresh, self.rtt.srtt, self.rtt.rto, self.flight_size
            )
            self.tracer(sample, self.local, self.remote)
        t0, b0 = self._rate_mark
        if now - t0 >= (self.rtt.srtt or 0.1):
            acked = self.stats.bytes_acked
            self.delivery_rate = (acked - b0) / (now - t0)
            self._rate_mark = (now, acked)

    def _trace_recovery_events(self, now: float) -> None:
        """Trace what loss recovery decided (undos, probes) since the last call."""
        events = self.recovery.events
        if events:
            if self.tracer is not None:
                for what in events:
                    self.tracer(RecoveryEvent(now, what), self.local, self.remote)
            events.clear()

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
        if self.state in (State.LISTEN, State.SYN_SENT) and direction == "in" and seg.flags & SYN:
            rel_seq = 0
        record = SegmentRecord(
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
        )
        self.tracer(record, self.local, self.remote)
