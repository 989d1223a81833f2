"""Values the core hands out: events, transitions and statistics snapshots."""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

from .state import State

# SegmentRecord.segment holds a core.segment.Segment; typed loosely to keep imports one-way.


class Event(Enum):
    """What happened to a connection, for the shell to wake the right waiters."""

    ESTABLISHED = "established"
    READABLE = "readable"  # new in-order data in the receive buffer
    WRITABLE = "writable"  # send-buffer space freed
    EOF = "eof"  # the peer's FIN was received: reads end after buffered data
    RESET = "reset"  # RST received or sent (abort)
    TIMED_OUT = "timed-out"  # retries or user timeout exhausted
    CLOSED = "closed"  # the TCB is gone (CLOSED after normal close or TIME-WAIT)
    ACCEPTABLE = "acceptable"  # a listener has a connection ready to accept
    STATE = "state"  # any other state change (waiters re-check their condition)


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
    segment: object = None  # the Segment itself (absolute numbers, options, payload)


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
class TcpInfo:
    """A snapshot of one connection, like Linux's ``struct tcp_info`` / ``ss -ti``."""

    state: State
    local: tuple[str, int]
    remote: tuple[str, int] | None
    mss: int
    srtt: float | None
    rttvar: float | None
    rto: float
    cwnd: int
    ssthresh: int
    snd_una: int
    snd_nxt: int
    snd_wnd: int
    rcv_nxt: int
    rcv_wnd: int
    bytes_in_flight: int
    bytes_sent: int
    bytes_acked: int
    bytes_received: int
    segments_sent: int
    segments_received: int
    retransmits: int
    rto_expirations: int
    fast_retransmits: int
    recv_queue: int
    send_queue: int
    dropped_segments: int
    active_timer: str | None
    sack_retransmits: int = 0
    rto_retransmits: int = 0
    delivery_rate: float = 0.0  # bytes/s
    sacked_bytes: int = 0
    sack: bool = False
    timestamps: bool = False
    congestion: str = ""
