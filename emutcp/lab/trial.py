"""Experiment trials: one parameter set and one seed in, one row of figures out.

A trial is a pure function of ``(params, seed)``: it builds a two-host
emulated network whose data and ACK directions follow the parameters
(``link_profiles``), runs bulk flows across it in virtual time under a
``MockClock`` (``run_trial``), and reduces what happened to the figures the
experiment keys name (``flow_metrics``).  ``pin_trio_scheduling`` makes the
run repeatable bit for bit.  ``realtrial.py`` runs the same parameters in real
time over loopback UDP through the relay.
"""

from __future__ import annotations

from ..core.config import Config
from ..emulated import EmulatedNetwork
from ..transport.link import GilbertElliott, LinkProfile
from .flows import A, B, jain, mathis, run_flows, run_transfers
from .units import bdp_queue

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
    "send_buffer": None,  # bytes; None: the library's default (autotuned)
    "recv_buffer": None,
    "sack": True,
    "timestamps": True,
    "flows": 1,
    "duration": 20.0,  # virtual seconds of bulk transfer
    "bytes": 0,  # > 0: each flow sends this many bytes; completion time is measured
    "warmup": 2.0,  # seconds excluded from goodput (slow start)
    "drop": (),  # data packets to drop, numbered from 1 on the data path (link.drop)
}


def trial_config(p: dict) -> Config:
    """The TCP configuration of a trial: the library's defaults, except what ``p``
    sets; buffer sizes it sets are fixed (no autotuning), as SO_RCVBUF/SO_SNDBUF."""
    buffers: dict = {}
    if p.get("send_buffer") is not None:
        buffers.update(send_buffer=int(p["send_buffer"]), autotune_send=False)
    if p.get("recv_buffer") is not None:
        buffers.update(recv_buffer=int(p["recv_buffer"]), autotune_recv=False)
    return Config(
        congestion=p["congestion"],
        mss=int(p["mss"]),
        sack=bool(p["sack"]),
        timestamps=bool(p["timestamps"]),
        **buffers,
    )


def link_profiles(p: dict):
    """The data-direction and ACK-direction LinkProfiles for parameters ``p``."""
    queue = bdp_queue(p["rate"], 2 * p["delay"], int(p["mss"]), bdps=p["queue_bdp"])
    burst = GilbertElliott(p=p["burst_p"], r=p["burst_r"]) if p["burst_p"] else None
    common = dict(delay=p["delay"], jitter=p["jitter"], rate=p["rate"], queue=queue)
    data = LinkProfile(
        loss=p["loss"],
        burst=burst,
        reorder=p["reorder"],
        duplicate=p["duplicate"],
        drop=tuple(p["drop"]),
        **common,
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
