"""The table of legal state transitions (core/state.py) against RFC 9293 and the code.

``TRANSITIONS`` must hold the diagram of RFC 9293 figure 5, every edge with a
label, nothing absurd, and every edge the implementation can take:
``Connection._set_state`` refuses any other pair, so the scripts below (and
the whole suite) would fail on a missing one.  Conversely each edge is taken
by one of the scripts, except the few the RFC has and this design does not.
"""

from __future__ import annotations

import random

import pytest
from tcptest import ACK, FIN, MSS, RST, STATE_BUILDERS, SYN, TcpTest

from emutcp.core.config import Config
from emutcp.core.connection import Connection
from emutcp.core.mux import Mux
from emutcp.core.segment import Options, Segment
from emutcp.core.state import DIAGRAM_EDGES, TRANSITIONS, State

S = State

# RFC 9293 figure 5, transcribed edge by edge.
RFC_9293_FIGURE_5 = {
    (S.CLOSED, S.LISTEN),
    (S.CLOSED, S.SYN_SENT),
    (S.LISTEN, S.SYN_RCVD),
    (S.LISTEN, S.SYN_SENT),
    (S.LISTEN, S.CLOSED),
    (S.SYN_RCVD, S.LISTEN),
    (S.SYN_RCVD, S.ESTABLISHED),
    (S.SYN_RCVD, S.FIN_WAIT_1),
    (S.SYN_SENT, S.SYN_RCVD),
    (S.SYN_SENT, S.ESTABLISHED),
    (S.SYN_SENT, S.CLOSED),
    (S.ESTABLISHED, S.FIN_WAIT_1),
    (S.ESTABLISHED, S.CLOSE_WAIT),
    (S.FIN_WAIT_1, S.FIN_WAIT_2),
    (S.FIN_WAIT_1, S.CLOSING),
    (S.FIN_WAIT_2, S.TIME_WAIT),
    (S.CLOSING, S.TIME_WAIT),
    (S.CLOSE_WAIT, S.LAST_ACK),
    (S.LAST_ACK, S.CLOSED),
    (S.TIME_WAIT, S.CLOSED),
}

# In the table (the RFC has them) but never taken by emutcp, with the reason.
NOT_TAKEN = {
    # OPEN on a listening socket turns it active; emutcp's connect() needs CLOSED.
    (S.LISTEN, S.SYN_SENT),
    # The listener is a separate object that keeps listening; the reset embryonic
    # connection goes to CLOSED instead.
    (S.SYN_RCVD, S.LISTEN),
    # The handshake's ACK is processed (SYN-RECEIVED -> ESTABLISHED) before its FIN.
    (S.SYN_RCVD, S.CLOSE_WAIT),
}


def test_every_edge_has_a_label():
    for edge, label in TRANSITIONS.items():
        assert isinstance(label, str) and label.strip(), edge
    for edge, label in DIAGRAM_EDGES.items():
        assert label.strip(), edge


def test_the_rfc_diagram_is_in_the_table():
    assert set(DIAGRAM_EDGES) >= RFC_9293_FIGURE_5
    assert set(DIAGRAM_EDGES) <= set(TRANSITIONS)
    # The one edge the diagram file draws beyond figure 5: RFC 9293 3.10.7.4 eighth.
    assert set(DIAGRAM_EDGES) - RFC_9293_FIGURE_5 == {(S.FIN_WAIT_1, S.TIME_WAIT)}
    assert DIAGRAM_EDGES[(S.LISTEN, S.SYN_RCVD)] == "rcv SYN / snd SYN,ACK"


def test_every_state_can_be_torn_down_to_closed():
    for state in State:
        if state is not S.CLOSED:
            assert (state, S.CLOSED) in TRANSITIONS, state


@pytest.mark.parametrize(
    "edge",
    [
        (S.CLOSED, S.ESTABLISHED),
        (S.CLOSED, S.CLOSED),
        (S.TIME_WAIT, S.ESTABLISHED),
        (S.ESTABLISHED, S.SYN_SENT),
        (S.ESTABLISHED, S.LISTEN),
        (S.ESTABLISHED, S.TIME_WAIT),
        (S.FIN_WAIT_2, S.FIN_WAIT_1),
        (S.CLOSE_WAIT, S.FIN_WAIT_1),
        (S.LAST_ACK, S.TIME_WAIT),
        (S.CLOSING, S.ESTABLISHED),
        (S.LISTEN, S.ESTABLISHED),
    ],
)
def test_illegal_edges_are_not_in_the_table(edge):
    assert edge not in TRANSITIONS


def test_set_state_refuses_an_edge_missing_from_the_table():
    t = TcpTest()
    with pytest.raises(AssertionError, match="CLOSED -> ESTABLISHED"):
        t.conn._set_state(S.ESTABLISHED, "forged", 0.0)
    assert t.state is S.CLOSED
    assert t.conn.transitions == []


# ----------------------------------------------------------- the edges taken


def _abort_in(build) -> TcpTest:
    t = build()
    t.conn.abort(t.now)
    assert t.state is S.CLOSED
    return t


def _scripts() -> list[list[tuple[State, State]]]:
    """Transitions taken by short scripts that together walk every edge emutcp takes."""
    runs: list[TcpTest] = []
    runs += [_abort_in(b) for b in STATE_BUILDERS]  # ABORT from every state
    runs.append(_abort_in(lambda: TcpTest(passive=True)))  # LISTEN -> CLOSED

    t = TcpTest.time_wait()
    t.at(60.0)  # 2 MSL
    runs.append(t)
    t = TcpTest.last_ack()
    t.inject(ACK, 2, 2)  # ACK of FIN
    runs.append(t)
    t = TcpTest.closing()
    t.inject(ACK, 2, 2)
    runs.append(t)
    t = TcpTest.fin_wait_1()
    t.inject(FIN | ACK, 1, 2)  # FIN+ACK: straight to TIME-WAIT
    runs.append(t)
    t = TcpTest.syn_rcvd()
    t.conn.shutdown_write(t.now)  # SYN-RECEIVED -> FIN-WAIT-1
    runs.append(t)
    t = TcpTest.syn_rcvd()
    t.inject(RST, 1)
    runs.append(t)
    t = TcpTest.syn_sent()
    t.inject(SYN, 0, options=Options(mss=MSS))  # simultaneous open
    t.inject(SYN | ACK, 0, 1, options=Options(mss=MSS))
    runs.append(t)

    paths = [[(tr.old, tr.new) for tr in r.conn.transitions] for r in runs]
    # A listener (the mux's object) takes CLOSED -> LISTEN -> CLOSED.
    mux = Mux(local=("10.0.0.1", 80), config=Config(), rng=random.Random(1))
    listener = mux.listen(5, 0.0)
    mux.close_listener(1.0)
    paths.append([(tr.old, tr.new) for tr in listener.transitions])
    return paths


def test_every_edge_taken_is_in_the_table_and_every_edge_is_taken():
    taken = {edge for path in _scripts() for edge in path}
    assert taken <= set(TRANSITIONS)
    assert set(TRANSITIONS) - taken == NOT_TAKEN


def test_a_cookie_connection_takes_syn_received_to_established():
    conn = Connection(
        local=("10.0.0.1", 80),
        remote=("10.0.0.2", 4000),
        config=Config(),
        iss=77,
        now=0.0,
        passive=True,
    )
    conn.open_from_cookie(Segment(4000, 80, 1001, 78, ACK, 100), 1400, None, True, 0.0)
    assert [(t.old, t.new) for t in conn.transitions] == [
        (S.LISTEN, S.SYN_RCVD),
        (S.SYN_RCVD, S.ESTABLISHED),
    ]
