"""Long-running bulk flows over an emulated bottleneck, sampled over time."""

from __future__ import annotations

import trio

import emutcp


async def run_flows(
    net: emutcp.EmulatedNetwork,
    src,
    dst,
    *,
    flows: int = 1,
    duration: float,
    window: tuple[float, float] | None = None,
    configs: list[emutcp.Config] | None = None,
) -> dict:
    """Run ``flows`` bulk senders src -> dst for ``duration`` virtual seconds.
    Returns goodput per flow in bits/s over ``window`` (default: the whole run),
    and each sender's final TcpInfo."""
    listeners = await dst.open_listeners(80, backlog=flows)
    received = [0] * flows
    marks: dict[float, list[int]] = {}
    infos: list = [None] * flows
    chunk = bytes(65536)
    start = trio.current_time()
    window = window or (0.0, duration)

    async def sink(stream, i):
        while data := await stream.receive_some(1 << 20):
            received[i] += len(data)

    async def source(stream):
        while True:
            await stream.send_all(chunk)

    async with trio.open_nursery() as nursery:
        senders = []
        for i in range(flows):
            config = configs[i] if configs else None
            out = await src.open_stream(dst.address, 80, config=config)
            inn = await listeners[0].accept()
            senders.append(out)
            nursery.start_soon(source, out)
            nursery.start_soon(sink, inn, i)
        for t in window:
            await trio.sleep_until(start + t)
            marks[t] = list(received)
        await trio.sleep_until(start + duration)
        for i, s in enumerate(senders):
            infos[i] = s.socket.info()
        nursery.cancel_scope.cancel()
    span = window[1] - window[0]
    goodput = [(marks[window[1]][i] - marks[window[0]][i]) * 8 / span for i in range(flows)]
    return {"goodput": goodput, "info": infos}


def jain(xs: list[float]) -> float:
    return sum(xs) ** 2 / (len(xs) * sum(x * x for x in xs))
