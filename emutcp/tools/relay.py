"""``emutcp relay``: run the impairment relay between real hosts from the command line."""

from __future__ import annotations

import json
import sys

import trio

from ..lab.relay import Address, Relay
from ..lab.relay_control import control_from_stdin, control_socket
from ..transport.link import LinkProfile


async def relay_main(
    *,
    listen: Address,
    target: Address,
    forward: LinkProfile,
    reverse: LinkProfile,
    seed: int,
    duration: float | None,
    as_json: bool,
    observer=None,
    ecn: bool = False,
    control: list[str] | None = None,
) -> None:
    relay = Relay(
        listen=listen,
        target=target,
        forward=forward,
        reverse=reverse,
        seed=seed,
        observer=observer,
        ecn=ecn,
    )
    print(
        f"emutcp relay: {relay.local[0]}:{relay.local[1]} -> {target[0]}:{target[1]}",
        file=sys.stderr,
        flush=True,
    )
    try:
        async with trio.open_nursery() as nursery:
            await nursery.start(relay.run)
            for source in control or []:
                if source == "-":
                    nursery.start_soon(control_from_stdin, relay)
                else:
                    path = await nursery.start(control_socket, relay, source)
                    print(f"emutcp relay: control socket {path}", file=sys.stderr, flush=True)
            nursery.start_soon(_progress, relay)
            if duration is not None:
                await trio.sleep(duration)
                nursery.cancel_scope.cancel()
    finally:
        # Ctrl-C and SIGTERM end the run here too: the counters still print.
        if as_json:
            print(json.dumps(relay.stats()), flush=True)


async def _progress(relay: Relay) -> None:
    while True:
        await trio.sleep(5)
        sent = sum(s.forward.stats.sent + s.reverse.stats.sent for s in relay.sessions.values())
        dropped = sum(
            sum(s.forward.stats.dropped.values()) + sum(s.reverse.stats.dropped.values())
            for s in relay.sessions.values()
        )
        print(
            f"emutcp relay: {len(relay.sessions)} sessions, {sent} datagrams, {dropped} dropped",
            file=sys.stderr,
            flush=True,
        )
