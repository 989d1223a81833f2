"""Lossy-link experiments: bulk flows over an emulated bottleneck, in virtual time.

The building blocks that the congestion tests, ``benchmarks/congestion.py``
and the experiment sweeps share: ``bottleneck()`` builds a two-host network
with a rate-limited, drop-tail link; ``run_flows()`` runs bulk senders across
it and measures goodput over a time window; ``mathis()`` and ``jain()`` are
the reference models the results are checked against.
"""

from __future__ import annotations

import math

import trio

from .core.config import Config
from .host import Host
from .transport.emulated import EmulatedNetwork

A, B = "10.0.0.1", "10.0.0.2"
WIRE_OVERHEAD = 40  # emutcp framing per datagram, roughly (for queue sizing)


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
    bdp = rate * rtt / 8
    queue = max(4, int(bdp_queues * bdp / (mss + WIRE_OVERHEAD)))
    net.add_link(A, B, delay=rtt / 2, rate=rate, queue=queue, **impairments)
    return net, a, b


def mathis(mss: int, rtt: float, p: float) -> float:
    """The Mathis et al. model of Reno goodput under random loss, bits/s."""
    return mss * 8 / rtt * math.sqrt(3 / (2 * p))


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
    listeners = [listener] if listener is not None else await dst.open_listeners(80, backlog=flows)
    target = connect_to or (dst.address, 80)
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
            out = await src.open_stream(*target, config=config)
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
        conn0 = senders[0].socket._conn
        rtt_samples = [x for s in senders for x in s.socket._conn.rtt.recent]
        history = list(conn0.history)
        nursery.cancel_scope.cancel()
    span = window[1] - window[0]
    goodput = [(marks[window[1]][i] - marks[window[0]][i]) * 8 / span for i in range(flows)]
    return {"goodput": goodput, "info": infos, "rtt_samples": rtt_samples, "history": history}


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
        samples.extend(out.socket._conn.rtt.recent)
        if i == 0:
            history.extend(out.socket._conn.history)
        await out.aclose()
        await inn.aclose()

    async with trio.open_nursery() as nursery:
        for i in range(flows):
            nursery.start_soon(one, i)
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


# ---------------------------------------------------------------- trials

DEFAULTS: dict = {
    "rate": 10e6,  # bottleneck, bits/s
    "delay": 0.025,  # one-way, seconds
    "jitter": 0.0,
    "loss": 0.0,  # per direction on the data path
    "ack_loss": 0.0,  # on the ACK path
    "burst_p": 0.0,  # Gilbert-Elliott good->bad (0: off)
    "burst_r": 0.25,
    "reorder": 0.0,
    "duplicate": 0.0,
    "queue_bdp": 1.0,  # drop-tail queue, in bandwidth-delay products
    "congestion": "newreno",
    "mss": 1400,
    "send_buffer": 1 << 20,
    "recv_buffer": 1 << 20,
    "sack": True,
    "timestamps": True,
    "flows": 1,
    "duration": 20.0,  # virtual seconds of bulk transfer
    "bytes": 0,  # > 0: each flow sends this many bytes; completion time is measured
    "warmup": 2.0,  # seconds excluded from goodput (slow start)
}


def trial_config(p: dict) -> Config:
    return Config(
        congestion=p["congestion"],
        mss=int(p["mss"]),
        send_buffer=int(p["send_buffer"]),
        recv_buffer=int(p["recv_buffer"]),
        sack=bool(p["sack"]),
        timestamps=bool(p["timestamps"]),
    )


def link_profiles(p: dict):
    """The data-direction and ACK-direction LinkProfiles for parameters ``p``."""
    from .transport.emulated import GilbertElliott, LinkProfile

    bdp = p["rate"] * 2 * p["delay"] / 8
    queue = max(4, int(p["queue_bdp"] * bdp / (p["mss"] + WIRE_OVERHEAD)))
    burst = GilbertElliott(p=p["burst_p"], r=p["burst_r"]) if p["burst_p"] else None
    common = dict(delay=p["delay"], jitter=p["jitter"], rate=p["rate"], queue=queue)
    data = LinkProfile(
        loss=p["loss"], burst=burst, reorder=p["reorder"], duplicate=p["duplicate"], **common
    )
    acks = LinkProfile(loss=p["ack_loss"], **common)
    return data, acks


async def run_trial_async(p: dict, seed: int, *, series: bool = False) -> dict:
    """One trial in virtual time: ``flows`` bulk flows A -> B for ``duration`` s."""
    net = EmulatedNetwork(seed=seed)
    config = trial_config(p)
    segments: list[tuple[float, int]] = []

    def trace(record, local, remote) -> None:
        if series and getattr(record, "direction", None) == "out" and record.length:
            segments.append((record.time, record.seq))

    a = net.add_host(A, config=config, trace=trace if series else None)
    b = net.add_host(B, config=config)
    data, acks = link_profiles(p)
    net.add_link(A, B, profile=data, reverse=acks)
    flows = int(p["flows"])
    if p["bytes"]:
        r = await run_transfers(a, b, flows=flows, nbytes=int(p["bytes"]))
    else:
        r = await run_flows(
            net,
            a,
            b,
            flows=flows,
            duration=p["duration"],
            window=(min(p["warmup"], p["duration"] / 2), p["duration"]),
        )
    out = flow_metrics(r, p, flows)
    out["link_drops"] = sum(net.link(A, B).stats.dropped.values())
    return out | ({"series": {"history": r["history"], "segments": segments}} if series else {})


def flow_metrics(r: dict, p: dict, flows: int) -> dict:
    """The figures of one trial from ``run_flows``/``run_transfers`` results."""
    infos = r["info"]
    out = {
        "goodput_Mbps": sum(r["goodput"]) / 1e6,
        "flow_goodput_Mbps": [g / 1e6 for g in r["goodput"]],
        "fairness": jain(r["goodput"]) if flows > 1 and sum(r["goodput"]) else 1.0,
        "retransmits": sum(i.retransmits for i in infos),
        "rtos": sum(i.rto_expirations for i in infos),
        "fast_retransmits": sum(i.fast_retransmits for i in infos),
        "utilization": sum(r["goodput"]) / p["rate"],
    }
    if "completion" in r:
        out["completion_s"] = r["completion"]
        # Aggregate goodput of a fixed transfer: all bytes over the last completion.
        out["goodput_Mbps"] = flows * int(p["bytes"]) * 8 / r["completion"] / 1e6
        out["utilization"] = out["goodput_Mbps"] * 1e6 / p["rate"]
    rtts = r.get("rtt_samples", [])
    if rtts:
        rtts = sorted(rtts)
        out["rtt_mean_ms"] = 1000 * sum(rtts) / len(rtts)
        out["rtt_p99_ms"] = 1000 * rtts[min(len(rtts) - 1, int(0.99 * len(rtts)))]
    if p["loss"] > 0:
        out["mathis_Mbps"] = mathis(int(p["mss"]), 2 * p["delay"], p["loss"]) * flows / 1e6
    return out


def run_trial(p: dict, seed: int, series: bool = False) -> dict:
    """Run one trial in its own trio run under a MockClock (virtual time)."""
    import trio.testing

    params = {**DEFAULTS, **p}
    clock = trio.testing.MockClock(autojump_threshold=0)
    pin_trio_scheduling(seed)
    result = trio.run(lambda: run_trial_async(params, seed, series=series), clock=clock)
    return {"seed": seed, **result}


def pin_trio_scheduling(seed: int) -> None:
    """Make trio's run-queue order repeatable, so a seed gives the same run bit for
    bit.  trio shuffles ready tasks with a module-level RNG to shake out ordering
    bugs; there is no public knob, so this reaches for it and does nothing if a
    future trio renames it."""
    import trio._core._run as trio_run

    rng = getattr(trio_run, "_r", None)
    if rng is not None:
        rng.seed(seed)
