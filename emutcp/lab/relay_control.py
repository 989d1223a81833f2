"""Driving a running relay: change its links while traffic flows.

For labs that need the network to change under a live connection (take the
link down and watch the RTO back off, raise the loss, shrink the rate), the
relay reads one-line commands from its stdin or a Unix control socket
(``emutcp relay --control -`` / ``--control PATH``) and answers each with one
line.  ``apply_command(relay, line)`` is the whole language:

    loss 0.05 | delay 40ms | jitter 5ms | rate 10mbit | rate off
    queue 50 | queue off | duplicate 0.01 | reorder 0.01 | corrupt 0.001
    down | up | show | stats | help

A command applies to both directions, or to one with a ``fwd`` (client to
server) or ``rev`` prefix: ``rev delay 100ms``.  ``down`` makes the link drop
everything (counted as ``outage``) until ``up``; every other setting is kept
through an outage.  Changes apply at once to every session's links and to
sessions opened later.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import sys
from typing import TYPE_CHECKING, Any

import trio

from .units import parse_duration, parse_rate

if TYPE_CHECKING:
    from ..transport.link import LinkProfile
    from .relay import Relay

HELP = (
    "commands: [fwd|rev] loss P | delay T | jitter T | rate R|off | queue N|off | "
    "duplicate P | reorder P | corrupt P | down | up | show | stats"
)
_PROBABILITIES = ("loss", "duplicate", "reorder", "corrupt")


def _value(name: str, text: str) -> Any:
    if name in _PROBABILITIES:
        p = float(text)
        if not 0.0 <= p <= 1.0:
            raise ValueError(f"{name} must be a probability in [0, 1]")
        return p
    if name in ("delay", "jitter"):
        d = parse_duration(text)
        if d < 0:
            raise ValueError(f"{name} must be >= 0")
        return d
    if name == "rate":
        return None if text == "off" else parse_rate(text)
    if name == "queue":
        return None if text == "off" else int(text)
    raise ValueError(f"unknown setting {name!r}")


def _describe(p: LinkProfile) -> dict[str, object]:
    return {
        "loss": p.loss,
        "delay": p.delay,
        "jitter": p.jitter,
        "rate": p.rate,
        "queue": p.queue,
        "duplicate": p.duplicate,
        "reorder": p.reorder,
        "corrupt": p.corrupt,
        "down": bool(p.outages),
    }


def apply_command(relay: Relay, line: str, now: float | None = None) -> str:
    """Run one control command against ``relay``; return the one-line answer
    (``ok ...`` or ``error: ...``)."""
    words = line.split()
    if not words:
        return ""
    directions = ["forward", "reverse"]
    if words[0] in ("fwd", "rev"):
        directions = ["forward" if words[0] == "fwd" else "reverse"]
        words = words[1:]
    if not words:
        return "error: a command is missing"
    verb = words[0].lower()
    try:
        if verb == "help":
            return HELP
        if verb == "show":
            return json.dumps({d: _describe(relay.profile(d)) for d in ("forward", "reverse")})
        if verb == "stats":
            return json.dumps(relay.stats())
        if verb in ("down", "up"):
            t = trio.current_time() if now is None else now
            # An open-ended outage from now (the link model drops as "outage").
            outages = ((t, math.inf),) if verb == "down" else ()
            for d in directions:
                relay.set_profile(d, dataclasses.replace(relay.profile(d), outages=outages))
            return f"ok link {verb}"
        if len(words) != 2:
            return f"error: {verb} takes one value ({HELP})"
        value = _value(verb, words[1])
        for d in directions:
            relay.set_profile(d, dataclasses.replace(relay.profile(d), **{verb: value}))
        return f"ok {' and '.join(directions)} {verb} = {words[1]}"
    except ValueError as exc:
        return f"error: {exc}"


async def control_from_stdin(relay: Relay) -> None:
    """Commands typed on stdin, answers on stderr (stdout stays for --json)."""
    while True:
        line = await trio.to_thread.run_sync(sys.stdin.readline, abandon_on_cancel=True)
        if not line:
            return  # end of input: keep relaying
        answer = apply_command(relay, line)
        if answer:
            print(answer, file=sys.stderr, flush=True)


async def control_socket(relay: Relay, path: str, *, task_status=trio.TASK_STATUS_IGNORED) -> None:
    """Serve the command language on a Unix stream socket at ``path`` (mode
    0600): each line in, one line out.  ``socat - UNIX:PATH`` is a client."""
    if os.path.exists(path):
        os.unlink(path)
    sock = trio.socket.socket(trio.socket.AF_UNIX, trio.socket.SOCK_STREAM)
    old = os.umask(0o177)
    try:
        await sock.bind(path)
    finally:
        os.umask(old)
    sock.listen(8)
    listener = trio.SocketListener(sock)
    task_status.started(path)
    try:
        async with trio.open_nursery() as nursery:

            async def session(stream: trio.SocketStream) -> None:
                buf = b""
                async with stream:
                    while data := await stream.receive_some(4096):
                        buf += data
                        while b"\n" in buf:
                            line, buf = buf.split(b"\n", 1)
                            answer = apply_command(relay, line.decode(errors="replace"))
                            await stream.send_all(answer.encode() + b"\n")

            while True:
                stream = await listener.accept()
                nursery.start_soon(session, stream)
    finally:
        with trio.CancelScope(shield=True):
            await listener.aclose()
        if os.path.exists(path):
            os.unlink(path)
