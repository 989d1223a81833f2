"""Two sans-IO muxes over a random lossy, reordering, duplicating wire.

Hypothesis picks the wire's behaviour and the applications' calls; whatever
it does, each side reads exactly a prefix of what the other sent (all of it
once the wire heals), and the TCB invariants hold after every step.
"""

from __future__ import annotations

import random

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from emutcp.core.config import Config
from emutcp.core.mux import Mux
from emutcp.core.seq import seq_le
from emutcp.core.state import State

A = ("10.0.0.1", 40000)
B = ("10.0.0.2", 80)
CFG = Config(mss=200, send_buffer=2000, recv_buffer=1500, max_retries=50, rto_max=8.0)


def check_invariants(conn) -> None:
    assert seq_le(conn.snd_una, conn.snd_nxt) or conn.state is State.CLOSED
    assert seq_le(conn.snd_nxt, conn.snd_max)
    assert len(conn.send_buf) <= conn.send_buf.capacity
    assert len(conn.recv_buf) <= conn.config.recv_buffer
    assert conn.recv_buf.ooo_bytes <= conn.config.recv_buffer


class Wire:
    def __init__(self) -> None:
        self.now = 0.0
        self.a = Mux(local=A, config=CFG, rng=random.Random(1))
        self.b = Mux(local=B, config=CFG, rng=random.Random(2))
        self.b.listen(4, 0.0)
        self.ca = self.a.connect(B, 0.0)
        self.cb = None
        self.in_flight: list[tuple[bytes, object, tuple]] = []
        self.sent = {"a": bytearray(), "b": bytearray()}
        self.read = {"a": bytearray(), "b": bytearray()}
        self.collect()

    def collect(self) -> None:
        for src, dst in ((self.a, self.b), (self.b, self.a)):
            for data, _addr in src.datagrams_to_send(self.now):
                self.in_flight.append((data, dst, src.local))
        if self.cb is None:
            self.cb = self.b.accept()

    def conn(self, side: str):
        return self.ca if side == "a" else self.cb

    def mux(self, side: str) -> Mux:
        return self.a if side == "a" else self.b

    def deliver(self, i: int, *, corrupt: bool = False) -> None:
        data, dst, src = self.in_flight.pop(i)
        if corrupt and data:
            data = bytes([data[0] ^ 0x01]) + data[1:]
        dst.receive_datagram(data, src, self.now)

    def tick(self, dt: float) -> None:
        self.now += dt
        self.a.handle_timer(self.now)
        self.b.handle_timer(self.now)

    def app_send(self, side: str, payload: bytes) -> None:
        conn = self.conn(side)
        if conn is None or conn.state not in (State.ESTABLISHED, State.CLOSE_WAIT):
            return
        n = conn.send(payload, self.now)
        self.sent[side] += payload[:n]
        self.mux(side).touch(conn)

    def app_read(self, side: str) -> None:
        conn = self.conn(side)
        if conn is None:
            return
        self.read[side] += conn.receive(10_000, self.now)
        self.mux(side).touch(conn)


actions = st.one_of(
    st.tuples(st.just("deliver"), st.integers(0, 50)),
    st.tuples(st.just("drop"), st.integers(0, 50)),
    st.tuples(st.just("dup"), st.integers(0, 50)),
    st.tuples(st.just("corrupt"), st.integers(0, 50)),
    st.tuples(st.just("tick"), st.sampled_from([0.01, 0.2, 1.0, 3.0])),
    st.tuples(st.just("send_a"), st.binary(min_size=1, max_size=900)),
    st.tuples(st.just("send_b"), st.binary(min_size=1, max_size=900)),
    st.tuples(st.just("read_a"), st.none()),
    st.tuples(st.just("read_b"), st.none()),
)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(actions, min_size=10, max_size=150))
def test_bytes_arrive_exactly_once_and_in_order(script):
    w = Wire()
    for action, arg in script:
        if action in ("deliver", "drop", "dup", "corrupt") and w.in_flight:
            i = arg % len(w.in_flight)
            if action == "deliver":
                w.deliver(i)
            elif action == "drop":
                w.in_flight.pop(i)
            elif action == "dup":
                w.in_flight.append(w.in_flight[i])
                w.deliver(i)
            else:
                w.deliver(i, corrupt=True)
        elif action == "tick":
            w.tick(arg)
        elif action.startswith("send"):
            w.app_send(action[-1], arg)
        elif action.startswith("read"):
            w.app_read(action[-1])
        w.collect()
        for side in "ab":
            conn = w.conn(side)
            if conn is not None:
                check_invariants(conn)
                assert w.sent["b" if side == "a" else "a"].startswith(w.read[side])

    # Heal the wire: deliver everything in order, keep reading, let timers run.
    for _ in range(2000):
        while w.in_flight:
            w.deliver(0)
            w.collect()
        w.app_read("a")
        w.app_read("b")
        w.collect()
        if not w.in_flight:
            if (
                w.read["a"] == w.sent["b"]
                and w.read["b"] == w.sent["a"]
                and not (w.ca.flight_size or (w.cb and w.cb.flight_size))
            ):
                break
            w.tick(1.0)
            w.collect()
    assert w.cb is not None or not w.sent["a"]
    assert bytes(w.read["b"]) == bytes(w.sent["a"])
    assert bytes(w.read["a"]) == bytes(w.sent["b"])
    assert w.a.stats["malformed"] + w.b.stats["malformed"] >= 0
