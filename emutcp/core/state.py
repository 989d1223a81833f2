"""Connection states and which user calls each state allows (RFC 9293 3.3.2, 3.10).

Everything about *legality* lives here, in three tables, so a reader can check
them against the RFC in one place:

* ``State``: the 11 states of the RFC 9293 diagram; ``str(state)`` is the RFC
  name (``SYN-SENT``), ``state.name`` the Python name (``SYN_SENT``).
* ``USER_CALLS``: for each user call of RFC 9293 3.10 (OPEN, SEND, RECEIVE,
  CLOSE, ABORT), the states in which it is legal.  A state missing from a
  call's entry *is* the error path: ``check_user_call`` raises an ``OSError``
  naming the call and the state, the way the RFC says "error: connection
  closing" or "error: connection does not exist".
* ``TRANSITIONS``: every (old, new) state pair a connection (or the mux's
  listener, for CLOSED -> LISTEN -> CLOSED) may take, each with a short label
  (event / action, in the RFC's words).  It is ``DIAGRAM_EDGES``, the edges
  of RFC 9293 figure 5 plus FIN-WAIT-1 -> TIME-WAIT (what a drawing of the
  diagram shows), and the edges the RFC's text (3.10) adds: RST, ABORT and
  timeouts lead from any state straight to CLOSED; a passive SYN-RECEIVED
  connection that is reset goes to CLOSED while the listener (a separate
  object in the mux) keeps listening.

The transitions themselves are made by ``Connection._set_state``, the one
funnel every state change passes through (see connection.py); it refuses a
pair missing from ``TRANSITIONS``.
"""

from __future__ import annotations

import errno
from enum import Enum
from typing import Final


class State(Enum):
    CLOSED = "CLOSED"
    LISTEN = "LISTEN"
    SYN_SENT = "SYN-SENT"
    SYN_RCVD = "SYN-RECEIVED"
    ESTABLISHED = "ESTABLISHED"
    FIN_WAIT_1 = "FIN-WAIT-1"
    FIN_WAIT_2 = "FIN-WAIT-2"
    CLOSE_WAIT = "CLOSE-WAIT"
    CLOSING = "CLOSING"
    LAST_ACK = "LAST-ACK"
    TIME_WAIT = "TIME-WAIT"

    # Identity hash, in C (members are singletons): ``st in SYNCHRONIZED`` runs
    # for every segment, and Enum's own __hash__ is Python code.
    __hash__ = object.__hash__

    def __str__(self) -> str:
        return self.value


# RFC 9293 3.5.2: the states after the handshake has completed.
SYNCHRONIZED: Final = frozenset(
    {
        State.ESTABLISHED,
        State.FIN_WAIT_1,
        State.FIN_WAIT_2,
        State.CLOSE_WAIT,
        State.CLOSING,
        State.LAST_ACK,
        State.TIME_WAIT,
    }
)
# States in which our FIN has been queued (the user called CLOSE / shutdown(SHUT_WR)).
WRITE_CLOSED: Final = frozenset(
    {State.FIN_WAIT_1, State.FIN_WAIT_2, State.CLOSING, State.LAST_ACK, State.TIME_WAIT}
)

# RFC 9293 3.10.1-3.10.6: where each user call is legal.
USER_CALLS: dict[str, frozenset[State]] = {
    "connect": frozenset({State.CLOSED}),
    "listen": frozenset({State.CLOSED}),
    # 3.10.2 SEND: queued before ESTABLISHED, refused once our FIN is queued.
    "send": frozenset({State.SYN_SENT, State.SYN_RCVD, State.ESTABLISHED, State.CLOSE_WAIT}),
    # 3.10.3 RECEIVE: data may remain after the peer's FIN (CLOSE-WAIT and later).
    "receive": frozenset({State.SYN_SENT, State.SYN_RCVD}) | SYNCHRONIZED,
    # 3.10.4 CLOSE of the sending side.
    "shutdown": frozenset(
        {State.LISTEN, State.SYN_SENT, State.SYN_RCVD, State.ESTABLISHED, State.CLOSE_WAIT}
    ),
}


# RFC 9293 figure 5 ("TCP Connection State Diagram") with its labels, plus the
# FIN+ACK shortcut FIN-WAIT-1 -> TIME-WAIT of 3.10.7.4 that most drawings show.
DIAGRAM_EDGES: dict[tuple[State, State], str] = {
    (State.CLOSED, State.LISTEN): "passive OPEN",
    (State.CLOSED, State.SYN_SENT): "active OPEN / snd SYN",
    (State.LISTEN, State.SYN_RCVD): "rcv SYN / snd SYN,ACK",
    (State.LISTEN, State.SYN_SENT): "SEND / snd SYN",
    (State.LISTEN, State.CLOSED): "CLOSE",
    (State.SYN_SENT, State.SYN_RCVD): "rcv SYN / snd SYN,ACK",
    (State.SYN_SENT, State.ESTABLISHED): "rcv SYN,ACK / snd ACK",
    (State.SYN_SENT, State.CLOSED): "CLOSE",
    (State.SYN_RCVD, State.ESTABLISHED): "rcv ACK of SYN",
    (State.SYN_RCVD, State.FIN_WAIT_1): "CLOSE / snd FIN",
    (State.SYN_RCVD, State.LISTEN): "rcv RST",
    (State.ESTABLISHED, State.FIN_WAIT_1): "CLOSE / snd FIN",
    (State.ESTABLISHED, State.CLOSE_WAIT): "rcv FIN / snd ACK",
    (State.FIN_WAIT_1, State.FIN_WAIT_2): "rcv ACK of FIN",
    (State.FIN_WAIT_1, State.CLOSING): "rcv FIN / snd ACK",
    (State.FIN_WAIT_1, State.TIME_WAIT): "rcv FIN,ACK / snd ACK",
    (State.FIN_WAIT_2, State.TIME_WAIT): "rcv FIN / snd ACK",
    (State.CLOSING, State.TIME_WAIT): "rcv ACK of FIN",
    (State.CLOSE_WAIT, State.LAST_ACK): "CLOSE / snd FIN",
    (State.LAST_ACK, State.CLOSED): "rcv ACK of FIN",
    (State.TIME_WAIT, State.CLOSED): "timeout = 2MSL",
}

# Every legal (old, new) pair: the diagram plus what RFC 9293 3.10 says in words.
# Where an edge is in the diagram too, the label here extends the diagram's.
TRANSITIONS: dict[tuple[State, State], str] = {
    **DIAGRAM_EDGES,
    # 3.10.7.4 eighth: a FIN on the handshake's ACK, processed in SYN-RECEIVED.
    (State.SYN_RCVD, State.CLOSE_WAIT): "rcv FIN / snd ACK",
    # 3.10.7.4 second/fourth (RST; SYN in SYN-RECEIVED), 3.10.5 ABORT, 3.8.3 and
    # 3.10.8 timeouts, ICMP unreachable (RFC 1122 4.2.3.9): the TCB is deleted.
    (State.SYN_RCVD, State.CLOSED): "rcv RST or SYN / ABORT / timeout",
    (State.SYN_SENT, State.CLOSED): "CLOSE / rcv RST,ACK / timeout",
    (State.LISTEN, State.CLOSED): "CLOSE / ABORT",
    (State.ESTABLISHED, State.CLOSED): "rcv RST / ABORT / timeout",
    (State.FIN_WAIT_1, State.CLOSED): "rcv RST / ABORT / timeout",
    (State.FIN_WAIT_2, State.CLOSED): "rcv RST / ABORT / timeout",
    (State.CLOSE_WAIT, State.CLOSED): "rcv RST / ABORT / timeout",
    (State.CLOSING, State.CLOSED): "rcv RST / ABORT / timeout",
    (State.LAST_ACK, State.CLOSED): "rcv ACK of FIN / rcv RST / ABORT / timeout",
    (State.TIME_WAIT, State.CLOSED): "timeout = 2MSL / ABORT",
}


def check_user_call(call: str, state: State) -> None:
    """Raise ``OSError`` if ``call`` is not legal in ``state`` (RFC 9293 3.10)."""
    if state in USER_CALLS[call]:
        return
    if state is State.CLOSED:
        raise OSError(errno.ENOTCONN, f"{call}: connection does not exist (state CLOSED)")
    if call in ("send", "shutdown") and state in WRITE_CLOSED:
        raise BrokenPipeError(errno.EPIPE, f"{call}: connection closing (state {state})")
    if call in ("connect", "listen"):
        raise OSError(errno.EISCONN, f"{call}: connection already exists (state {state})")
    raise OSError(errno.EINVAL, f"{call} is not allowed in state {state}")
