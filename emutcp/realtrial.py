"""One experiment trial in real time: loopback UDP through the impairment relay.

The same parameters as a virtual-time trial (experiment.DEFAULTS); the link is
the relay's model of it, applied to real datagrams between two real UDP
sockets on this machine.  Compare its figures with the emulated run's to see
what the emulation leaves out (the CPU, the kernel, the scheduler).
"""

from __future__ import annotations

import trio

from .experiment import jain, link_profiles, mathis, trial_config
from .host import UdpHost
from .relay import Relay

LO = "127.0.0.1"


async def _run(p: dict, seed: int) -> dict:
    config = trial_config(p)
    server_host = UdpHost(config=config)
    client_host = UdpHost(config=config)
    listeners = await server_host.open_listeners(0, address=LO, backlog=int(p["flows"]))
    data, acks = link_profiles(p)
    relay = Relay(
        listen=(LO, 0),
        target=listeners[0].socket.getsockname(),
        forward=data,
        reverse=acks,
        seed=seed,
    )
    flows = int(p["flows"])
    received = [0] * flows
    marks: dict[str, list[int]] = {}
    chunk = bytes(65536)
    senders = []

    async def sink(stream, i):
        while d := await stream.receive_some(1 << 20):
            received[i] += len(d)

    async def source(stream):
        while True:
            await stream.send_all(chunk)

    async with trio.open_nursery() as nursery:
        await nursery.start(relay.run)
        for i in range(flows):
            out = await client_host.open_stream(*relay.local)
            inn = await listeners[0].accept()
            senders.append(out)
            nursery.start_soon(source, out)
            nursery.start_soon(sink, inn, i)
        warmup = min(p["warmup"], p["duration"] / 2)
        await trio.sleep(warmup)
        marks["start"] = list(received)
        await trio.sleep(p["duration"] - warmup)
        marks["end"] = list(received)
        infos = [s.socket.info() for s in senders]
        nursery.cancel_scope.cancel()
    span = p["duration"] - warmup
    goodput = [(marks["end"][i] - marks["start"][i]) * 8 / span for i in range(flows)]
    out = {
        "seed": seed,
        "goodput_Mbps": sum(goodput) / 1e6,
        "flow_goodput_Mbps": [g / 1e6 for g in goodput],
        "fairness": jain(goodput) if flows > 1 and sum(goodput) else 1.0,
        "retransmits": sum(i.retransmits for i in infos),
        "rtos": sum(i.rto_expirations for i in infos),
        "utilization": sum(goodput) / p["rate"],
        "real_time": True,
    }
    if p["loss"] > 0:
        out["mathis_Mbps"] = mathis(int(p["mss"]), 2 * p["delay"], p["loss"]) * flows / 1e6
    return out


def run_real_trial(p: dict, seed: int) -> dict:
    return trio.run(_run, p, seed)
