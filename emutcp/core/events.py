"""Values the core hands out: events, transitions and statistics snapshots."""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

from .segment import Segment
from .state import State


class Event(Enum):
    """What happened to a connection (``Connection.events_to_report()``).

    The mux reads only whether a connection reported anything: if so, it puts
    the connection on its wakeup list and the shell wakes that connection's
    waiters, who re-check their own condition.  The kinds say why, for
    readers of traces and tests.
    """

    ESTABLISHED = "established"
    READABLE = "readable"  # new in-order data in the receive buffer
    WRITABLE = "writable"  # send-buffer space freed
    EOF = "eof"  # the peer's FIN was received: reads end after buffered data
    RESET = "reset"  # RST received or sent (abort)
    TIMED_OUT = "timed-out"  # retries or user timeout exhausted
    CLOSED = "closed"  # the TCB is gone (CLOSED after normal close or TIME-WAIT)
    STATE = "state"  # any other state change (waiters re-check their condition)

    __hash__ = object.__hash__  # identity, in C: see state.State


@dataclass(frozen=True, slots=True)
class Transition:
    """One edge of the state diagram taken: at ``time``, ``old`` -> ``new``."""

    time: float
    old: State
    new: State
    cause: str

    def __str__(self) -> str:
        return f"{self.time:10.6f}  {self.old} -> {self.new}  ({self.cause})"


@dataclass(frozen=True, slots=True)
class SegmentRecord:
    """A segment sent (``out``) or received (``in``) by a connection, for traces."""

    time: float
    direction: str  # "in" or "out"
    local: tuple[str, int]
    remote: tuple[str, int]
    flags: str
    seq: int  # relative to our ISN (out) or the peer's ISN (in) when known
    ack: int
    window: int
    length: int
    reason: str
    segment: Segment | None = None  # the segment itself (absolute numbers, options, payload)


@dataclass(frozen=True, slots=True)
class MetricsSample:
    """Congestion state at ``time`` (traced on every ACK that moves the window)."""

    time: float
    cwnd: int
    ssthresh: int
    srtt: float | None
    rto: float
    bytes_in_flight: int


@dataclass(frozen=True, slots=True)
class RecoveryEvent:
    """A loss-recovery decision that sends nothing by itself: an undo of a
    congestion response (RFC 3708 / Linux undo), a tail loss probe (RFC 8985 7)."""

    time: float
    what: str

    def __str__(self) -> str:
        return f"{self.time:10.6f}  {self.what}"


@dataclass(slots=True)
class ConnectionStats:
    """Counters of one connection (the ``nstat``/``ss -ti`` counters of Linux).

    ``Connection.stats`` holds one; ``Connection.info()`` copies the ones
    ``TcpInfo`` reports.
    """

    bytes_sent: int = 0  # new data, first transmissions only
    bytes_acked: int = 0
    bytes_received: int = 0  # in-order bytes delivered to the receive buffer
    segments_sent: int = 0
    segments_received: int = 0
    retransmits: int = 0  # every retransmitted segment, whatever the cause
    rto_expirations: int = 0
    fast_retransmits: int = 0  # loss-recovery episodes begun by duplicate ACKs/SACKs
    sack_retransmits: int = 0  # retransmissions chosen by the SACK scoreboard
    rto_retransmits: int = 0  # go-back-N retransmissions after a timeout
    rack_retransmits: int = 0  # retransmissions of ranges RACK marked lost (RFC 8985)
    tlp_probes: int = 0  # tail loss probes sent (RFC 8985 7)
    dropped_segments: int = 0
    paws_rejected: int = 0  # RFC 7323 5.3
    oow_acks_suppressed: int = 0  # rate-limited answers to out-of-window ACKs
    challenge_acks: int = 0  # RFC 5961 7
    mtu_probes: int = 0  # PLPMTUD probes sent (RFC 4821)
    mtu_probes_lost: int = 0
    mtu_black_holes: int = 0  # falls back to the base size (RFC 8899 4.3)


@dataclass(frozen=True, slots=True)
class TcpInfo:
    """A snapshot of one connection, like Linux's ``struct tcp_info`` / ``ss -ti``.

    Every field has a default, so a shell can describe a socket that has no
    connection (yet) with just the fields it knows.
    """

    state: State = State.CLOSED
    local: tuple[str, int] | None = None
    remote: tuple[str, int] | None = None
    mss: int = 0
    srtt: float | None = None
    rttvar: float | None = None
    rto: float = 0.0
    cwnd: int = 0
    ssthresh: int = 0
    snd_una: int = 0
    snd_nxt: int = 0
    snd_wnd: int = 0
    rcv_nxt: int = 0
    rcv_wnd: int = 0
    bytes_in_flight: int = 0
    bytes_sent: int = 0
    bytes_acked: int = 0
    bytes_received: int = 0
    segments_sent: int = 0
    segments_received: int = 0
    retransmits: int = 0
    rto_expirations: int = 0
    fast_retransmits: int = 0
    recv_queue: int = 0
    send_queue: int = 0
    dropped_segments: int = 0
    active_timer: str | None = None  # a Timer's value, e.g. "retransmission"
    sack_retransmits: int = 0
    rto_retransmits: int = 0
    delivery_rate: float = 0.0  # bytes/s
    sacked_bytes: int = 0
    sack: bool = False
    timestamps: bool = False
    congestion: str = ""
    rack_retransmits: int = 0  # RFC 8985 6
    tlp_probes: int = 0  # RFC 8985 7
    dsacks_received: int = 0  # RFC 2883
    spurious_retransmits: int = 0  # retransmissions D-SACK showed unneeded (RFC 3708)
    undos: int = 0  # congestion responses undone (D-SACK, F-RTO)
    recovery: str = ""  # "rack", "rfc6675" or "newreno" (no SACK)
