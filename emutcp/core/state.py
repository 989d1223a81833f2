"""Connection states and which user calls each state allows (RFC 9293 3.3.2, 3.10).

Everything about *legality* lives here, in two tables, so a reader can check
them against the RFC in one place:

* ``State``: the 11 states of the RFC 9293 diagram; ``str(state)`` is the RFC
  name (``SYN-SENT``), ``state.name`` the Python name (``SYN_SENT``).
* ``USER_CALLS``: for each user call of RFC 9293 3.10 (OPEN, SEND, RECEIVE,
  CLOSE, ABORT), the states in which it is legal.  A state missing from a
  call's entry *is* the error path: ``check_user_call`` raises an ``OSError``
  naming the call and the state, the way the RFC says "error: connection
  closing" or "error: connection does not exist".

The transitions themselves are made by ``Connection._set_state``, the one
funnel every state change passes through (see connection.py).
"""

from __future__ import annotations

import errno
from enum import Enum


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

    def __str__(self) -> str:
        return self.value

    @property
    def synchronized(self) -> bool:
        """RFC 9293 3.5.2: states after the handshake has completed."""
        return self in SYNCHRONIZED


S = State
SYNCHRONIZED = frozenset(
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
WRITE_CLOSED = frozenset({S.FIN_WAIT_1, S.FIN_WAIT_2, S.CLOSING, S.LAST_ACK, S.TIME_WAIT})
# States in which the peer's FIN has been received.
READ_CLOSED = frozenset({S.CLOSE_WAIT, S.CLOSING, S.LAST_ACK, S.TIME_WAIT})

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
