"""Experiment trials: one parameter set and one seed in, one row of figures out.

A trial is a pure function of ``(params, seed)``: it builds the network the
parameters describe (``network.build_network``: a path, dumbbell or parking
lot, its bottleneck's queue discipline and ECN), runs bulk flows across it in
virtual time, and reduces what happened to the figures the experiment keys
name (``flow_metrics``, ``queue_metrics``).  Two engines run it: the
discrete-event engine (``emutcp.sim``, ``run_trial_sim``: one event heap,
ties broken by scheduling order, so a seed gives the same bytes every time)
and trio under a ``MockClock`` (``run_trial_async``; ``pin_trio_scheduling``
makes it repeatable, except that trio breaks exact deadline ties by memory
address, which event-driven queue disciplines make common).  ``realtrial.py``
runs the same parameters in real time over loopback UDP through the relay.
"""

from __future__ import annotations

from ..core.config import Config
from .flows import jain, mathis, run_flow_pairs, run_flows, run_transfers
from .network import (
    NETWORK_DEFAULTS,
    bottleneck_profiles,
    build_network,
    flow_count,
    queue_metrics,
)
from .series import SeriesRecorder

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
    "queue": "",  # or "50" / "50p" packets, "64K" / "96KB" bytes, "0.5bdp" (overrides queue_bdp)
    "congestion": "newreno",
    "pacing": "auto",  # true / false, or auto: the algorithm's default (on for BBR)
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
    **NETWORK_DEFAULTS,  # topology, rtts, qdisc and its parameters, ecn (network.py)
    # "auto" and "sim": the discrete-event engine (emutcp.sim), which models every
    # key; "trio": the trio emulated network under a MockClock, the reference.
    "engine": "auto",
}

ENGINES = ("auto", "sim", "trio")


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
        pacing=pacing_setting(p["pacing"]),
        mss=int(p["mss"]),
        sack=bool(p["sack"]),
        timestamps=bool(p["timestamps"]),
        ecn=bool(p["ecn"]),
        **buffers,
    )


def pacing_setting(value) -> bool | None:
    """The ``pacing`` key: a bool, or "auto" for the algorithm's default."""
    if isinstance(value, bool) or value is None:
        return value
    text = str(value).lower()
    if text == "auto":
        return None
    if text not in ("1", "true", "yes", "on", "0", "false", "no", "off"):
        raise ValueError(f"pacing: expected true, false or auto, got {value!r}")
    return text in ("1", "true", "yes", "on")


def link_profiles(p: dict):
    """The data-direction and ACK-direction LinkProfiles for parameters ``p``
    (of a path: its queue discipline included)."""
    return bottleneck_profiles(p, delay=p["delay"])


async def run_trial_async(
    p: dict, seed: int, *, series: bool = False, pcap: str | None = None, trace: str | None = None
) -> dict:
    """One trial in virtual time: ``flows`` bulk flows A -> B for ``duration`` s.
    ``pcap``/``trace``: write host A's capture (pcapng) / JSON Lines trace there."""
    config = trial_config(p)
    recorder, jsonl, tracer = _tracers(series, trace)
    net, pairs, bottlenecks = build_network(p, seed, config, trace=tracer, pcap=pcap)
    a, b = pairs[0]
    flows = flow_count(p)
    if p["bytes"]:
        r = await run_transfers(a, b, flows=flows, nbytes=int(p["bytes"]))
    elif p["topology"] != "path":
        r = await run_flow_pairs(pairs, duration=p["duration"], window=_window(p), config=config)
    else:
        r = await run_flows(net, a, b, flows=flows, duration=p["duration"], window=_window(p))
    return _trial_result(p, r, net, bottlenecks, a, recorder, jsonl)


def _window(p: dict) -> tuple[float, float]:
    """The measurement window: after the warm-up, to the end."""
    return (min(p["warmup"], p["duration"] / 2), p["duration"])


def _tracers(series: bool, trace: str | None):
    """The plot-series recorder, the JSON Lines trace and the tracer feeding both."""
    from ..trace import JsonlTrace, tee

    recorder = SeriesRecorder() if series else None
    jsonl = JsonlTrace(trace) if trace else None
    return recorder, jsonl, tee(recorder, jsonl)


def _trial_result(p: dict, r: dict, net, bottlenecks, a, recorder, jsonl) -> dict:
    """A finished run's figures (either engine); closes the trial's files."""
    flows = flow_count(p)
    out = flow_metrics(r, p, flows) | queue_metrics(net, bottlenecks)
    if p["topology"] == "parking_lot":  # the long flow loads every bottleneck
        g, hops = r["goodput"], int(p["hops"])
        out["utilization"] = (hops * g[0] + sum(g[1:])) / (hops * p["rate"])
    if a.pcap is not None:
        a.pcap.close()
    if jsonl is not None:
        jsonl.close()
    if recorder is None:
        return out
    return out | {"series": {"history": r["history"], **recorder.as_dict()}}


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


def run_trial_sim(
    p: dict, seed: int, *, series: bool = False, pcap: str | None = None, trace: str | None = None
) -> dict:
    """The same trial on the discrete-event engine (``emutcp.sim``): the same
    network (``build_network``), seeds, applications and figures, no trio."""
    from ..sim import SimNetwork, bulk_flow_pairs, bulk_flows, transfers

    config = trial_config(p)
    recorder, jsonl, tracer = _tracers(series, trace)
    net, pairs, bottlenecks = build_network(
        p, seed, config, trace=tracer, pcap=pcap, network=SimNetwork
    )
    a, b = pairs[0]
    flows = flow_count(p)
    if p["bytes"]:
        r = transfers(net, a, b, flows=flows, nbytes=int(p["bytes"]))
    elif p["topology"] != "path":
        r = bulk_flow_pairs(net, pairs, duration=p["duration"], window=_window(p), config=config)
    else:
        r = bulk_flows(net, a, b, flows=flows, duration=p["duration"], window=_window(p))
    return _trial_result(p, r, net, bottlenecks, a, recorder, jsonl)


def run_trial(
    p: dict, seed: int, series: bool = False, *, pcap: str | None = None, trace: str | None = None
) -> dict:
    """Run one trial in virtual time on the engine ``p["engine"]`` names: the
    discrete-event engine, or a trio run under a MockClock.  A pure function
    of ``(p, seed)``; ``pcap``/``trace`` keep host A's capture and trace."""
    params = {**DEFAULTS, **p}
    engine = params["engine"]
    if engine not in ENGINES:
        raise ValueError(f"engine must be one of {', '.join(ENGINES)}, got {engine!r}")
    if engine != "trio":  # "auto": the engine models every key a trial has
        result = run_trial_sim(params, seed, series=series, pcap=pcap, trace=trace)
    else:
        import trio.testing

        clock = trio.testing.MockClock(autojump_threshold=0)
        pin_trio_scheduling(seed)
        result = trio.run(
            lambda: run_trial_async(params, seed, series=series, pcap=pcap, trace=trace),
            clock=clock,
        )
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
