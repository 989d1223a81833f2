"""A packetdrill-style harness for one sans-IO Connection.

The test plays the remote TCP.  Sequence numbers in ``inject`` are relative to
the remote's ISN (``REMOTE_ISS``) and acknowledgment numbers relative to our
ISN (``LOCAL_ISS``), exactly as packetdrill and Wireshark show them;
``expect`` checks the next segment the connection emits the same way.  Time
is explicit: ``at(t)`` moves the clock and fires due timers.
"""

from __future__ import annotations

from emutcp.core.config import Config
from emutcp.core.connection import Connection
from emutcp.core.segment import ACK, FIN, NO_OPTIONS, PSH, RST, SYN, Options, Segment
from emutcp.core.seq import seq_add, seq_diff
from emutcp.core.state import State

LOCAL = ("10.0.0.1", 40000)
REMOTE = ("10.0.0.2", 80)
LOCAL_ISS = 1_000
REMOTE_ISS = 0xFFFF_FF00  # close to the wrap, so every test crosses it
MSS = 1000

__all__ = ["ACK", "FIN", "PSH", "RST", "SYN", "State", "TcpTest"]


class TcpTest:
    def __init__(self, *, passive: bool = False, config: Config | None = None, **knobs) -> None:
        base = dict(mss=MSS, window_scaling=False, send_buffer=8 * MSS, recv_buffer=8 * MSS)
        base.update(knobs)
        self.config = config or Config(**base)
        self.now = 0.0
        self.records: list = []
        self.conn = Connection(
            local=LOCAL,
            remote=REMOTE,
            config=self.config,
            iss=LOCAL_ISS,
            now=0.0,
            passive=passive,
            tracer=lambda rec, local, remote: self.records.append(rec),
        )
        self.pending: list[Segment] = []

    # ------------------------------------------------------------- driving

    @property
    def state(self) -> State:
        return self.conn.state

    def at(self, t: float) -> TcpTest:
        """Move the clock to ``t`` and fire the timers that are due."""
        assert t >= self.now, "time goes forward"
        self.now = t
        deadline = self.conn.get_timer()
        if deadline is not None and deadline <= t:
            self.conn.handle_timer(t)
        return self

    def inject(
        self,
        flags: int,
        seq: int = 0,
        ack: int = 0,
        payload: bytes = b"",
        *,
        window: int = 65_535,
        options: Options = NO_OPTIONS,
        raw_seq: int | None = None,
        raw_ack: int | None = None,
    ) -> None:
        seg = Segment(
            REMOTE[1],
            LOCAL[1],
            raw_seq if raw_seq is not None else seq_add(REMOTE_ISS, seq),
            raw_ack if raw_ack is not None else (seq_add(LOCAL_ISS, ack) if flags & ACK else 0),
            flags,
            window,
            options,
            payload,
        )
        self.conn.receive_segment(seg, self.now)

    def _collect(self) -> None:
        self.pending.extend(self.conn.segments_to_send(self.now))

    def expect(
        self,
        flags: int,
        seq: int | None = None,
        ack: int | None = None,
        length: int | None = None,
        *,
        window: int | None = None,
    ) -> Segment:
        """The next segment out must have exactly ``flags`` (and the given fields)."""
        self._collect()
        assert self.pending, f"expected {_names(flags)} but nothing was sent (state {self.state})"
        seg = self.pending.pop(0)
        assert seg.flags == flags, f"expected {_names(flags)}, got {seg!r}"
        if seq is not None:
            assert seq_diff(seg.seq, LOCAL_ISS) == seq, f"seq: expected {seq}, got {seg!r}"
        if ack is not None:
            assert seq_diff(seg.ack, REMOTE_ISS) == ack, f"ack: expected {ack}, got {seg!r}"
        if length is not None:
            assert len(seg.payload) == length, f"length: expected {length}, got {seg!r}"
        if window is not None:
            assert seg.window == window, f"window: expected {window}, got {seg!r}"
        return seg

    def expect_nothing(self) -> None:
        self._collect()
        assert not self.pending, f"expected silence, got {self.pending}"

    def drain(self) -> list[Segment]:
        self._collect()
        out, self.pending = self.pending, []
        return out

    # ------------------------------------------------------------ builders
    # Each builder plays a legal path from CLOSED into the named state.

    @classmethod
    def syn_sent(cls, **kw) -> TcpTest:
        t = cls(**kw)
        t.conn.open_active(t.now)
        t.expect(SYN, seq=0)
        assert t.state is State.SYN_SENT
        return t

    @classmethod
    def syn_rcvd(cls, **kw) -> TcpTest:
        t = cls(passive=True, **kw)
        t.inject(SYN, 0, options=Options(mss=MSS))
        t.expect(SYN | ACK, seq=0, ack=1)
        assert t.state is State.SYN_RCVD
        return t

    @classmethod
    def established(cls, **kw) -> TcpTest:
        t = cls.syn_sent(**kw)
        t.inject(SYN | ACK, 0, 1, options=Options(mss=MSS))
        t.expect(ACK, seq=1, ack=1)
        assert t.state is State.ESTABLISHED
        return t

    @classmethod
    def fin_wait_1(cls, **kw) -> TcpTest:
        t = cls.established(**kw)
        t.conn.shutdown_write(t.now)
        t.expect(FIN | ACK, seq=1, ack=1)
        assert t.state is State.FIN_WAIT_1
        return t

    @classmethod
    def fin_wait_2(cls, **kw) -> TcpTest:
        t = cls.fin_wait_1(**kw)
        t.inject(ACK, 1, 2)
        t.expect_nothing()
        assert t.state is State.FIN_WAIT_2
        return t

    @classmethod
    def close_wait(cls, **kw) -> TcpTest:
        t = cls.established(**kw)
        t.inject(FIN | ACK, 1, 1)
        t.expect(ACK, seq=1, ack=2)
        assert t.state is State.CLOSE_WAIT
        return t

    @classmethod
    def closing(cls, **kw) -> TcpTest:
        t = cls.fin_wait_1(**kw)
        t.inject(FIN | ACK, 1, 1)  # the peer's FIN crosses ours
        t.expect(ACK, seq=2, ack=2)
        assert t.state is State.CLOSING
        return t

    @classmethod
    def last_ack(cls, **kw) -> TcpTest:
        t = cls.close_wait(**kw)
        t.conn.shutdown_write(t.now)
        t.expect(FIN | ACK, seq=1, ack=2)
        assert t.state is State.LAST_ACK
        return t

    @classmethod
    def time_wait(cls, **kw) -> TcpTest:
        t = cls.fin_wait_2(**kw)
        t.inject(FIN | ACK, 1, 2)
        t.expect(ACK, seq=2, ack=2)
        assert t.state is State.TIME_WAIT
        return t

    def path(self) -> list[State]:
        return [tr.old for tr in self.conn.transitions] + [self.state]


def _names(flags: int) -> str:
    return Segment(0, 0, 0, 0, flags, 0).flag_names()


# One builder per state past LISTEN, in diagram order: together they reach all 11.
STATE_BUILDERS = (
    TcpTest.syn_sent,
    TcpTest.syn_rcvd,
    TcpTest.established,
    TcpTest.fin_wait_1,
    TcpTest.fin_wait_2,
    TcpTest.close_wait,
    TcpTest.closing,
    TcpTest.last_ack,
    TcpTest.time_wait,
)
