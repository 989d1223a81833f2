"""One experiment trial in real time: loopback UDP through the impairment relay.

The same parameters as a virtual-time trial (experiment.DEFAULTS); the link is
the relay's model of it, applied to real datagrams between two real UDP
sockets on this machine.  Compare its figures with the emulated run's to see
what the emulation leaves out (the CPU, the kernel, the scheduler).
"""

from __future__ import annotations

import trio

from ..host import UdpHost
from .relay import Relay
from .trial import flow_metrics, link_profiles, run_flows, trial_config

LO = "127.0.0.1"


async def _run(p: dict, seed: int) -> dict:
    config = trial_config(p)
    server_host = UdpHost(config=config)
    client_host = UdpHost(config=config)
    flows = int(p["flows"])
    listeners = await server_host.open_listeners(0, address=LO, backlog=flows)
    data, acks = link_profiles(p)
    relay = Relay(
        listen=(LO, 0),
        target=listeners[0].socket.getsockname(),
        forward=data,
        reverse=acks,
        seed=seed,
        ecn=bool(p.get("ecn")),
    )
    async with trio.open_nursery() as nursery:
        await nursery.start(relay.run)
        r = await run_flows(
            None,
            client_host,
            server_host,
            flows=flows,
            duration=p["duration"],
            window=(min(p["warmup"], p["duration"] / 2), p["duration"]),
            listener=listeners[0],
            connect_to=relay.local,
        )
        nursery.cancel_scope.cancel()
    return {"seed": seed, **flow_metrics(r, p, flows), "real_time": True}


def run_real_trial(p: dict, seed: int) -> dict:
    return trio.run(_run, p, seed)
