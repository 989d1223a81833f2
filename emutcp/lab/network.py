"""The network of an experiment trial: its shape, bottleneck queue and ECN.

Theory of operation
-------------------
``build_network(p, seed, config)`` turns a trial's parameters into an
``EmulatedNetwork`` (or, with ``network=SimNetwork``, the discrete-event
engine's network: the two have the same building API) and the (sender,
receiver) host pairs its flows run between:

* ``topology = "path"``: hosts A and B joined by one link (today's trial);
* ``"dumbbell"``: one sender/receiver pair per flow, sender i behind an
  access link sized so its base RTT is ``rtts[i]`` (all ``2 * delay``
  without ``rtts``), sharing the router-to-router bottleneck;
* ``"parking_lot"``: ``hops`` bottlenecks in a row, one long flow across
  all of them and one cross flow over each.

The bottleneck's data direction gets ``rate``, ``delay``, the random
impairments and the queue discipline ``qdisc`` (``"fifo"`` is the
closed-form drop-tail queue; the others are event-driven AQMs from
``transport/qdisc.py``, with the ``red_*``, ``codel_*``, ``pie_*`` and
``fq_*`` parameters), sized ``queue_bdp`` bandwidth-delay products of the
mean base RTT.  ``queue_metrics`` reads the bottleneck queues' statistics
after the run: CE marks, mean and 99th-percentile sojourn time, drops.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ..core.config import Config
from ..core.congestion import CONTROLLERS
from ..emulated import EmulatedNetwork
from ..transport.link import GilbertElliott, Link, LinkProfile
from ..transport.qdisc import QDISCS
from .flows import A, B
from .units import bdp_queue, parse_duration, parse_queue

TOPOLOGIES = ("path", "dumbbell", "parking_lot")

# Experiment key -> (the disciplines it applies to, their parameter name).
QDISC_KEYS: dict[str, tuple[tuple[str, ...], str]] = {
    "codel_target": (("codel", "fq_codel"), "target"),
    "codel_interval": (("codel", "fq_codel"), "interval"),
    "fq_quantum": (("fq_codel",), "quantum"),
    "fq_flows": (("fq_codel",), "flows"),
    "red_min_th": (("red",), "min_th"),
    "red_max_th": (("red",), "max_th"),
    "red_max_p": (("red",), "max_p"),
    "red_w_q": (("red",), "w_q"),
    "pie_target": (("pie",), "target"),
    "pie_tupdate": (("pie",), "tupdate"),
    "pie_max_burst": (("pie",), "max_burst"),
}
# Defaults of the network keys (merged into trial.DEFAULTS); None: the
# discipline's own default.
NETWORK_DEFAULTS: dict[str, Any] = {
    "topology": "path",
    "rtts": [],  # per-flow base RTTs on a dumbbell, seconds
    "hops": 2,  # bottlenecks of a parking lot
    "qdisc": "fifo",
    "ecn": False,
    **dict.fromkeys(QDISC_KEYS, None),
}


CHOICES: dict[str, tuple[str, ...]] = {
    "topology": TOPOLOGIES,
    "qdisc": tuple(QDISCS),
    "congestion": tuple(CONTROLLERS),
}
_DURATIONS = ("codel_target", "codel_interval", "pie_target", "pie_tupdate", "pie_max_burst")


def coerce_network(key: str, value: Any) -> Any:
    """Check and convert the value of a network key (or ``congestion``): a name
    from its choices, ``rtts`` as durations ("20ms,100ms" or a list), the
    discipline parameters as numbers or durations."""
    if key in CHOICES:
        if value not in CHOICES[key]:
            raise ValueError(f"{key}: unknown value {value!r} (valid: {', '.join(CHOICES[key])})")
        return value
    if key == "rtts":
        items = value.split(",") if isinstance(value, str) else list(value)
        try:
            rtts = [parse_duration(v) if isinstance(v, str) else float(v) for v in items if v != ""]
        except ValueError:
            raise ValueError(f"rtts: expected durations like 20ms,100ms, got {value!r}") from None
        if any(r <= 0 for r in rtts):
            raise ValueError("rtts: every RTT must be > 0")
        return rtts
    if key in QDISC_KEYS:
        try:
            if isinstance(value, str):
                number = parse_duration(value) if key in _DURATIONS else float(value)
            else:
                number = float(value)
        except ValueError:
            raise ValueError(f"{key}: not a number: {value!r}") from None
        if number <= 0:
            raise ValueError(f"{key}: must be > 0, got {value!r}")
        return int(number) if key in ("fq_quantum", "fq_flows") else number
    return value


def base_rtts(p: dict[str, Any]) -> list[float]:
    """Each flow's base RTT (propagation only)."""
    flows = int(p["flows"])
    if p["topology"] == "dumbbell" and p["rtts"]:
        return [float(r) for r in p["rtts"]]
    if p["topology"] == "parking_lot":
        flows = int(p["hops"]) + 1
        return [2 * p["delay"] * int(p["hops"])] + [2 * p["delay"]] * (flows - 1)
    return [2 * p["delay"]] * flows


def flow_count(p: dict[str, Any]) -> int:
    return len(base_rtts(p))


def _qdisc_params(p: dict[str, Any]) -> dict[str, Any]:
    out = {}
    for key, (names, param) in QDISC_KEYS.items():
        if p.get(key) is not None and p["qdisc"] in names:
            out[param] = p[key]
    return out


def bottleneck_profiles(p: dict[str, Any], *, delay: float) -> tuple[LinkProfile, LinkProfile]:
    """The data-direction and ACK-direction profiles of the bottleneck."""
    rtts = base_rtts(p)
    rtt = sum(rtts) / len(rtts)
    # ``queue`` in packets ("50"), bytes ("64KB") or BDPs ("0.5bdp"); else queue_bdp.
    kind, size = parse_queue(p.get("queue") or f"{p['queue_bdp']}bdp")
    queue: int | None = int(size) if kind == "packets" else None
    queue_bytes = int(size) if kind == "bytes" else None
    if kind == "bdp":
        queue = bdp_queue(p["rate"], rtt, int(p["mss"]), bdps=size)
    burst = GilbertElliott(p=p["burst_p"], r=p["burst_r"]) if p["burst_p"] else None
    qdisc = None if p["qdisc"] == "fifo" else p["qdisc"]
    common: dict[str, Any] = dict(
        delay=delay, jitter=p["jitter"], rate=p["rate"], queue=queue, queue_bytes=queue_bytes
    )
    data = LinkProfile(
        loss=p["loss"],
        burst=burst,
        reorder=p["reorder"],
        duplicate=p["duplicate"],
        drop=tuple(p["drop"]),
        qdisc=qdisc,
        qdisc_params=_qdisc_params(p) if qdisc else {},
        **common,
    )
    acks = LinkProfile(loss=p["ack_loss"], **common)
    return data, acks


def build_network(
    p: dict[str, Any],
    seed: int,
    config: Config,
    *,
    trace: Any = None,
    pcap: str | None = None,
    network: Callable[..., Any] = EmulatedNetwork,
) -> tuple[Any, list[tuple[Any, Any]], list[Link]]:
    """The trial's network, its flows' (sender, receiver) hosts and bottlenecks.
    ``trace`` and ``pcap`` (if any) go on the first sender.  ``network(seed=)``
    makes the network: ``EmulatedNetwork``, or ``emutcp.sim.SimNetwork``
    (hosts, links, routers and builders alike; the returned types are then
    its own)."""
    net = network(seed=seed)
    topology = p["topology"]
    if topology == "path":
        data, acks = bottleneck_profiles(p, delay=p["delay"])
        a = net.add_host(A, config=config, trace=trace, pcap=pcap)
        b = net.add_host(B, config=config)
        ab, _ = net.add_link(A, B, profile=data, reverse=acks)
        return net, [(a, b)] * flow_count(p), [ab]
    if topology == "dumbbell":
        rtts = base_rtts(p)
        # The bottleneck carries at most half the shortest RTT; access links the rest.
        delay = min(p["delay"], min(rtts) / 2)
        data, acks = bottleneck_profiles(p, delay=delay)
        shape = net.dumbbell(
            [r / 2 - delay for r in rtts], bottleneck=data, reverse=acks, config=config
        )
    elif topology == "parking_lot":
        data, acks = bottleneck_profiles(p, delay=p["delay"])
        shape = net.parking_lot(int(p["hops"]), bottleneck=data, reverse=acks, config=config)
    else:
        raise ValueError(f"unknown topology {topology!r} (valid: {', '.join(TOPOLOGIES)})")
    pairs = [
        (net.hosts[s], net.hosts[r]) for s, r in zip(shape.senders, shape.receivers, strict=True)
    ]
    return net, pairs, shape.bottlenecks


def queue_metrics(net: Any, bottlenecks: list[Link]) -> dict[str, Any]:
    """CE marks in the whole network; sojourn time and drops at the bottlenecks."""
    sojourn = sorted(s for link in bottlenecks for s in link.queue_stats.sojourn)
    mean = sum(sojourn) / len(sojourn) if sojourn else 0.0
    p99 = sojourn[min(len(sojourn) - 1, int(0.99 * len(sojourn)))] if sojourn else 0.0
    return {
        "ce_marks": sum(link.queue_stats.marked for link in net.links.values()),
        "queue_delay_ms": 1000 * mean,
        "queue_delay_p99_ms": 1000 * p99,
        "link_drops": sum(link.drops for link in bottlenecks),
    }
