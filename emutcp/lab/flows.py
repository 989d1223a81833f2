"""Bulk flows over an emulated bottleneck, and the models they are checked against.

The building blocks that the congestion tests, ``benchmarks/congestion.py``
and the experiment sweeps share: ``bottleneck()`` builds a two-host network
with a rate-limited, drop-tail link; ``run_flows()`` runs bulk senders across
it and measures goodput over a time window; ``mathis()`` and ``jain()`` are
the reference models the results are checked against.
"""

from __future__ import annotations

import math

import trio

from ..core.config import Config
from ..emulated import EmulatedHost, EmulatedNetwork
from ..host import Host
from .units import bdp_queue

A, B = "10.0.0.1", "10.0.0.2"


def bottleneck(
    seed: int = 1,
    *,
    rate: float = 10e6,
    rtt: float = 0.05,
    bdp_queues: float = 1.0,
    mss: int = 1400,
    config: Config | None = None,
    **impairments,
) -> tuple[EmulatedNetwork, Host, Host]:
    """Hosts A and B joined by ``rate`` bits/s, ``rtt`` seconds, a drop-tail queue of
    ``bdp_queues`` bandwidth-delay products, plus any other link impairments."""
    net = EmulatedNetwork(seed=seed)
    a = net.add_host(A, config=config)
    b = net.add_host(B, config=config)
    queue = bdp_queue(rate, rtt, mss, bdps=bdp_queues)
    net.add_link(A, B, delay=rtt / 2, rate=rate, queue=queue, **impairments)
    return net, a, b


def mathis(mss: int, rtt: float, p: float) -> float:
    """The Mathis et al. model of Reno goodput under random loss, bits/s."""
    return mss * 8 / rtt * math.sqrt(3 / (2 * p))


async def _bulk(flows: int, duration: float, window, open_pair) -> dict:
    """``flows`` bulk flows for ``duration`` seconds; ``await open_pair(i)`` gives
    flow ``i``'s (sending, receiving) streams.  Goodput per flow in bits/s over
    ``window``, each sender's final TcpInfo, RTT samples, the first cwnd history."""
    received = [0] * flows
    marks: dict[float, list[int]] = {}
    chunk = bytes(65536)
    start = trio.current_time()
    window = window or (0.0, duration)

    async def sink(stream, i):
        while data := await stream.receive_some(1 << 20):
            received[i] += len(data)

    async def source(stream):
        while True:
            await stream.send_all(chunk)

    streams = []
    try:
        async with trio.open_nursery() as nursery:
            senders = []
            for i in range(flows):
                out, inn = await open_pair(i)
                streams += [out, inn]
                senders.append(out)
                nursery.start_soon(source, out)
                nursery.start_soon(sink, inn, i)
            for t in window:
                await trio.sleep_until(start + t)
                marks[t] = list(received)
            await trio.sleep_until(start + duration)
            infos = [s.socket.info() for s in senders]
            rtt_samples = [x for s in senders for x in s.socket.rtt_samples()]
            history = senders[0].socket.history()
            nursery.cancel_scope.cancel()
    finally:
        # The measurement is over: close what was opened here (with RST for
        # the data still in flight, as a kernel does on close with unread data).
        for stream in streams:
            stream.socket.close()
    span = window[1] - window[0]
    goodput = [(marks[window[1]][i] - marks[window[0]][i]) * 8 / span for i in range(flows)]
    return {"goodput": goodput, "info": infos, "rtt_samples": rtt_samples, "history": history}


async def run_flows(
    net: EmulatedNetwork | None,
    src,
    dst,
    *,
    flows: int = 1,
    duration: float,
    window: tuple[float, float] | None = None,
    configs: list[Config] | None = None,
    listener=None,
    connect_to: tuple[str, int] | None = None,
) -> dict:
    """Run ``flows`` bulk senders src -> dst for ``duration`` seconds (virtual or
    real, whatever clock trio runs on).  Returns goodput per flow in bits/s over
    ``window`` (default: the whole run), each sender's final TcpInfo, their RTT
    samples and the first flow's cwnd history.  ``listener``/``connect_to``
    route the flows elsewhere (through a relay, say) than ``dst`` port 80."""
    own = listener is None
    listeners = [listener] if listener is not None else await dst.open_listeners(80, backlog=flows)
    target = connect_to or (dst.address, 80)

    async def open_pair(i):
        out = await src.open_stream(*target, config=configs[i] if configs else None)
        return out, await listeners[0].accept()

    try:
        return await _bulk(flows, duration, window, open_pair)
    finally:
        if own:
            listeners[0].socket.close()


async def run_flow_pairs(
    pairs: list[tuple[EmulatedHost, EmulatedHost]],
    *,
    duration: float,
    window: tuple[float, float] | None = None,
    config: Config | None = None,
    port: int = 80,
) -> dict:
    """One bulk flow per (sender, receiver) pair (a dumbbell's or parking lot's
    hosts), for ``duration`` seconds; the same results as ``run_flows``."""
    listeners = {}
    for _, dst in pairs:
        if dst not in listeners:
            listeners[dst] = (await dst.open_listeners(port, backlog=len(pairs)))[0]

    async def open_pair(i):
        src, dst = pairs[i]
        out = await src.open_stream(dst.address, port, config=config)
        return out, await listeners[dst].accept()

    try:
        return await _bulk(len(pairs), duration, window, open_pair)
    finally:
        for listener in listeners.values():
            listener.socket.close()


async def run_transfers(src, dst, *, flows: int, nbytes: int) -> dict:
    """Each of ``flows`` senders moves ``nbytes`` to ``dst``; goodput is measured
    over each flow's own completion time (until its last byte is delivered)."""
    listeners = await dst.open_listeners(80, backlog=flows)
    start = trio.current_time()
    done: list[float] = [0.0] * flows
    infos: list = [None] * flows
    samples: list[float] = []
    history: list = []

    async def one(i: int) -> None:
        out = await src.open_stream(dst.address, 80)
        inn = await listeners[0].accept()
        try:
            await _one_transfer(i, out, inn)
        finally:
            out.socket.close()
            inn.socket.close()

    async def _one_transfer(i: int, out, inn) -> None:
        payload = bytes(nbytes)
        async with trio.open_nursery() as nursery:

            async def sink():
                got = 0
                while got < nbytes:
                    got += len(await inn.receive_some(1 << 20))
                done[i] = trio.current_time() - start

            nursery.start_soon(sink)
            await out.send_all(payload)
        infos[i] = out.socket.info()
        samples.extend(out.socket.rtt_samples())
        if i == 0:
            history.extend(out.socket.history())
        await out.aclose()
        await inn.aclose()

    try:
        async with trio.open_nursery() as nursery:
            for i in range(flows):
                nursery.start_soon(one, i)
    finally:
        listeners[0].socket.close()
    goodput = [nbytes * 8 / t if t else 0.0 for t in done]
    return {
        "goodput": goodput,
        "info": infos,
        "rtt_samples": samples,
        "history": history,
        "completion": max(done),
    }


def jain(xs: list[float]) -> float:
    """Jain's fairness index: 1.0 when every flow gets the same share."""
    return sum(xs) ** 2 / (len(xs) * sum(x * x for x in xs))
