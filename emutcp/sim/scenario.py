"""Ready-made scenarios on the engine: the bulk flows and fixed transfers of
``lab/flows.py``, step for step, and a many-flow bottleneck.

``bulk_flows`` does what ``lab.flows.run_flows`` does on trio, in the same
order: listen, then open the flows one after another (flow i+1 connects once
flow i is accepted), start a ``BulkSender`` and a ``Sink`` per flow, note
the bytes received at the two ends of the measurement window, and at the end
read each sender's ``TcpInfo`` and close everything as the trio code does.
``bulk_flow_pairs`` is ``run_flow_pairs``: one flow per (sender, receiver)
pair of a dumbbell or parking lot.  ``transfers`` mirrors ``run_transfers``.
All return the same dict as their
trio twins, so ``lab.trial.flow_metrics`` reduces either.

With ``concurrent=True`` all flows connect at once instead, or spread
evenly over ``stagger`` seconds (what a 1,000-flow experiment wants: opening
them one by one would take 1,000 handshakes).
"""

from __future__ import annotations

from typing import Any

from ..core.config import Config
from .apps import BulkSender, FixedSender, Sink
from .network import SimHost, SimNetwork, SimSocket

PORT = 80


def bulk_flows(
    net: SimNetwork,
    src: SimHost,
    dst: SimHost,
    *,
    flows: int = 1,
    duration: float,
    window: tuple[float, float] | None = None,
    configs: list[Config] | None = None,
    concurrent: bool = False,
    stagger: float = 0.0,
) -> dict[str, Any]:
    return _bulk(
        net,
        [(src, dst)] * flows,
        duration=duration,
        window=window,
        configs=configs,
        concurrent=concurrent,
        stagger=stagger,
    )


def bulk_flow_pairs(
    net: SimNetwork,
    pairs: list[tuple[SimHost, SimHost]],
    *,
    duration: float,
    window: tuple[float, float] | None = None,
    config: Config | None = None,
) -> dict[str, Any]:
    """One bulk flow per (sender, receiver) pair (``lab.flows.run_flow_pairs``)."""
    configs = [config] * len(pairs) if config is not None else None
    return _bulk(net, pairs, duration=duration, window=window, configs=configs)


def _bulk(
    net: SimNetwork,
    pairs: list[tuple[SimHost, SimHost]],
    *,
    duration: float,
    window: tuple[float, float] | None = None,
    configs: list[Config] | None = None,
    concurrent: bool = False,
    stagger: float = 0.0,
) -> dict[str, Any]:
    engine = net.engine
    start = engine.now()
    flows = len(pairs)
    window = window or (0.0, duration)
    sinks = [Sink() for _ in range(flows)]
    senders: list[SimSocket | None] = [None] * flows
    streams: list[SimSocket] = []
    accepted: list[SimSocket] = []
    marks: dict[float, list[int]] = {}
    flow_of: dict[tuple[str, int], int] = {}  # a client's address -> its flow

    def connect(i: int) -> None:
        config = configs[i] if configs else None
        src, dst = pairs[i]
        sock = src.connect((dst.address, PORT), config=config)
        senders[i] = sock
        flow_of[sock.endpoint.local] = i

    def on_accept(inn: SimSocket) -> None:
        # The trio code accepts flow i right after its connect returns, so in
        # sequence the i-th accepted connection is flow i; concurrently opened
        # flows are told apart by the client's address.
        i = flow_of[inn.connection.remote]
        accepted.append(inn)
        out = senders[i]
        assert out is not None
        streams.extend((out, inn))
        if not concurrent and i + 1 < flows:
            connect(i + 1)  # trio: the next open_stream runs before the new tasks
        engine.soon(BulkSender().start, out)
        engine.soon(sinks[i].start, inn)
        if len(accepted) == flows and not concurrent:
            after_open()

    def after_open() -> None:
        # trio: ``for t in window: await sleep_until(start + t)`` after the loop.
        now = engine.now()
        pending = [t for t in window if start + t > now]
        for t in window:
            if t not in pending:
                marks[t] = [s.received for s in sinks]
        for t in pending:
            engine.schedule(start + t, mark, t)
        if start + duration > now:
            engine.schedule(start + duration, finish)
        else:
            engine.soon(finish)

    def mark(t: float) -> None:
        marks[t] = [s.received for s in sinks]

    result: dict[str, Any] = {}

    def finish() -> None:
        out_socks = [s for s in senders if s is not None]
        result["info"] = [s.info() for s in out_socks]
        result["rtt_samples"] = [x for s in out_socks for x in s.rtt_samples()]
        result["history"] = out_socks[0].history()
        for s in streams:
            s.close()
        for listener in listeners:
            listener.close()
        engine.stop()

    # trio opens every receiver's listener first, in the order of the pairs.
    listeners = []
    for dst in dict.fromkeys(d for _, d in pairs):
        listeners.append(dst.listen(PORT, on_accept, backlog=flows))
    if concurrent:
        after_open()  # the clock of the measurement starts now
        for i in range(flows):
            if stagger:
                engine.schedule(start + stagger * i / flows, connect, i)
            else:
                connect(i)
    else:
        connect(0)
    engine.run()
    if "info" not in result:
        raise RuntimeError(f"the flows did not all open ({len(accepted)} of {flows})")
    span = window[1] - window[0]
    result["goodput"] = [
        (marks[window[1]][i] - marks[window[0]][i]) * 8 / span for i in range(flows)
    ]
    return result


def transfers(
    net: SimNetwork, src: SimHost, dst: SimHost, *, flows: int, nbytes: int
) -> dict[str, Any]:
    """Each of ``flows`` senders moves ``nbytes``; completion per flow (as
    ``lab.flows.run_transfers``)."""
    engine = net.engine
    start = engine.now()
    done = [0.0] * flows
    infos: list[Any] = [None] * flows
    samples: list[float] = []
    history: list[Any] = []
    accepted: list[SimSocket | None] = [None] * flows
    finished = [0]
    flow_of: dict[tuple[str, int], int] = {}

    def on_accept(inn: SimSocket) -> None:
        i = flow_of[inn.connection.remote]
        accepted[i] = inn
        out = senders[i]
        sink = Sink(expect=nbytes, on_bytes=lambda total, now: check(i, total, now))
        engine.soon(sink.start, inn)
        engine.soon(FixedSender(nbytes, close=False, chunk=max(nbytes, 1)).start, out)

    def check(i: int, total: int, now: float) -> None:
        if total < nbytes or done[i]:
            return
        done[i] = now - start
        out, inn = senders[i], accepted[i]
        assert inn is not None
        infos[i] = out.info()
        samples.extend(out.rtt_samples())
        if i == 0:
            history.extend(out.history())
        out.close()
        inn.close()
        finished[0] += 1
        if finished[0] == flows:
            listener.close()
            engine.stop()

    listener = dst.listen(PORT, on_accept, backlog=flows)
    senders = [src.connect((dst.address, PORT)) for _ in range(flows)]
    flow_of.update((s.endpoint.local, i) for i, s in enumerate(senders))
    engine.run()
    goodput = [nbytes * 8 / t if t else 0.0 for t in done]
    return {
        "goodput": goodput,
        "info": infos,
        "rtt_samples": samples,
        "history": history,
        "completion": max(done),
    }
