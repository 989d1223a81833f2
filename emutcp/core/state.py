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


S = State
# RFC 9293 3.5.2: the states after the handshake has completed.
SYNCHRONIZED: Final = frozenset(
    {
        S.ESTABLISHED,
        S.FIN_WAIT_1,
        S.FIN_WAIT_2,
        S.CLOSE_WAIT,
        S.CLOSING,
        S.LAST_ACK,
        S.TIME_WAIT,
    }
)
# States in which our FIN has been queued (the user called CLOSE / shutdown(SHUT_WR)).
WRITE_CLOSED: Final = frozenset({S.FIN_WAIT_1, S.FIN_WAIT_2, S.CLOSING, S.LAST_ACK, S.TIME_WAIT})

# RFC 9293 3.10.1-3.10.6: where each user call is legal.
USER_CALLS: dict[str, frozenset[State]] = {
    "connect": frozenset({S.CLOSED}),
    "listen": frozenset({S.CLOSED}),
    # 3.10.2 SEND: queued before ESTABLISHED, refused once our FIN is queued.
    "send": frozenset({S.SYN_SENT, S.SYN_RCVD, S.ESTABLISHED, S.CLOSE_WAIT}),
    # 3.10.3 RECEIVE: data may remain after the peer's FIN (CLOSE-WAIT and later).
    "receive": frozenset({S.SYN_SENT, S.SYN_RCVD}) | SYNCHRONIZED,
    # 3.10.4 CLOSE of the sending side.
    "shutdown": frozenset({S.LISTEN, S.SYN_SENT, S.SYN_RCVD, S.ESTABLISHED, S.CLOSE_WAIT}),
}


# RFC 9293 figure 5 ("TCP Connection State Diagram") with its labels, plus the
# FIN+ACK shortcut FIN-WAIT-1 -> TIME-WAIT of 3.10.7.4 that most drawings show.
DIAGRAM_EDGES: dict[tuple[State, State], str] = {
    (S.CLOSED, S.LISTEN): "passive OPEN",
    (S.CLOSED, S.SYN_SENT): "active OPEN / snd SYN",
    (S.LISTEN, S.SYN_RCVD): "rcv SYN / snd SYN,ACK",
    (S.LISTEN, S.SYN_SENT): "SEND / snd SYN",
    (S.LISTEN, S.CLOSED): "CLOSE",
    (S.SYN_SENT, S.SYN_RCVD): "rcv SYN / snd SYN,ACK",
    (S.SYN_SENT, S.ESTABLISHED): "rcv SYN,ACK / snd ACK",
    (S.SYN_SENT, S.CLOSED): "CLOSE",
    (S.SYN_RCVD, S.ESTABLISHED): "rcv ACK of SYN",
    (S.SYN_RCVD, S.FIN_WAIT_1): "CLOSE / snd FIN",
    (S.SYN_RCVD, S.LISTEN): "rcv RST",
    (S.ESTABLISHED, S.FIN_WAIT_1): "CLOSE / snd FIN",
    (S.ESTABLISHED, S.CLOSE_WAIT): "rcv FIN / snd ACK",
    (S.FIN_WAIT_1, S.FIN_WAIT_2): "rcv ACK of FIN",
    (S.FIN_WAIT_1, S.CLOSING): "rcv FIN / snd ACK",
    (S.FIN_WAIT_1, S.TIME_WAIT): "rcv FIN,ACK / snd ACK",
    (S.FIN_WAIT_2, S.TIME_WAIT): "rcv FIN / snd ACK",
    (S.CLOSING, S.TIME_WAIT): "rcv ACK of FIN",
    (S.CLOSE_WAIT, S.LAST_ACK): "CLOSE / snd FIN",
    (S.LAST_ACK, S.CLOSED): "rcv ACK of FIN",
    (S.TIME_WAIT, S.CLOSED): "timeout = 2MSL",
}

# Every legal (old, new) pair: the diagram plus what RFC 9293 3.10 says in words.
# Where an edge is in the diagram too, the label here extends the diagram's.
TRANSITIONS: dict[tuple[State, State], str] = {
    **DIAGRAM_EDGES,
    # 3.10.7.4 eighth: a FIN on the handshake's ACK, processed in SYN-RECEIVED.
    (S.SYN_RCVD, S.CLOSE_WAIT): "rcv FIN / snd ACK",
    # 3.10.7.4 second/fourth (RST; SYN in SYN-RECEIVED), 3.10.5 ABORT, 3.8.3 and
    # 3.10.8 timeouts, ICMP unreachable (RFC 1122 4.2.3.9): the TCB is deleted.
    (S.SYN_RCVD, S.CLOSED): "rcv RST or SYN / ABORT / timeout",
    (S.SYN_SENT, S.CLOSED): "CLOSE / rcv RST,ACK / timeout",
    (S.LISTEN, S.CLOSED): "CLOSE / ABORT",
    (S.ESTABLISHED, S.CLOSED): "rcv RST / ABORT / timeout",
    (S.FIN_WAIT_1, S.CLOSED): "rcv RST / ABORT / timeout",
    (S.FIN_WAIT_2, S.CLOSED): "rcv RST / ABORT / timeout",
    (S.CLOSE_WAIT, S.CLOSED): "rcv RST / ABORT / timeout",
    (S.CLOSING, S.CLOSED): "rcv RST / ABORT / timeout",
    (S.LAST_ACK, S.CLOSED): "rcv ACK of FIN / rcv RST / ABORT / timeout",
    (S.TIME_WAIT, S.CLOSED): "timeout = 2MSL / ABORT",
}


def check_user_call(call: str, state: State) -> None:
    """Raise ``OSError`` if ``call`` is not legal in ``state`` (RFC 9293 3.10)."""
    if state in USER_CALLS[call]:
        return
    if state is S.CLOSED:
        raise OSError(errno.ENOTCONN, f"{call}: connection does not exist (state CLOSED)")
    if call in ("send", "shutdown") and state in WRITE_CLOSED:
        raise BrokenPipeError(errno.EPIPE, f"{call}: connection closing (state {state})")
    if call in ("connect", "listen"):
        raise OSError(errno.EISCONN, f"{call}: connection already exists (state {state})")
    raise OSError(errno.EINVAL, f"{call} is not allowed in state {state}")
