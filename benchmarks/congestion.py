"""Congestion control side by side: every algorithm on the issue-17 bottleneck,
with ns-3's figures beside emutcp's in the same run when the ``ns3`` wheel is
importable, and the issue-17 checks as a table.

    python benchmarks/congestion.py [--seeds 3] [--duration 20] [--models]

Every emutcp run is virtual time on the emulated network (seeded): 10 Mbit/s,
50 ms RTT, a one-BDP drop-tail FIFO, random loss on the data direction.
Figures are medians over the seeds.  ``--models`` adds the issue-5 rows
(NewReno against the Mathis model, window scaling).  Writes
benchmarks/results/congestion.json.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import pathlib
import statistics
import sys

import trio
import trio.testing
from rich.console import Console
from rich.table import Table

import emutcp
from emutcp.lab.flows import A, B, bottleneck, jain, mathis, run_flows
from emutcp.lab.trial import pin_trio_scheduling, run_trial

sys.path.insert(0, str(pathlib.Path(__file__).parent))
import ns3_reference

RESULTS = pathlib.Path(__file__).parent / "results"
ALGORITHMS = ("newreno", "cubic", "vegas", "bbr", "dctcp")
LOSSES = (0.005, 0.01, 0.02)


def virtual(fn, *args, seed: int = 1):
    pin_trio_scheduling(seed)
    return trio.run(lambda: fn(*args), clock=trio.testing.MockClock(autojump_threshold=0))


def _trial(job: tuple[dict, int]) -> dict:
    params, seed = job
    return run_trial(params, seed)


async def _pair(algorithms: tuple[str, str], seed: int, duration: float) -> list[float]:
    net, a, b = bottleneck(seed)
    configs = [emutcp.Config(congestion=name) for name in algorithms]
    r = await run_flows(
        net, a, b, flows=2, duration=duration, window=(5.0, duration), configs=configs
    )
    return r["goodput"]


def _pair_job(job: tuple[tuple[str, str], int, float]) -> list[float]:
    pair, seed, duration = job
    return virtual(_pair, pair, seed, duration, seed=seed)


async def _paced_slow_start(pacing: bool, seed: int) -> int:
    net, a, b = bottleneck(seed, config=emutcp.Config(pacing=pacing), bdp_queues=0.1)
    await run_flows(net, a, b, duration=1.5)
    return sum(net.link(A, B).stats.dropped.values())


async def _mathis_ratio(p: float, seed: int) -> float:
    config = emutcp.Config(recv_buffer=1 << 21, send_buffer=1 << 21)
    net = emutcp.EmulatedNetwork(seed=seed)
    a, b = net.add_host(A, config=config), net.add_host(B, config=config)
    net.add_link(A, B, delay=0.025, rate=200e6, queue=2000)
    net.link(A, B).profile = emutcp.LinkProfile(delay=0.025, rate=200e6, queue=2000, loss=p)
    r = await run_flows(net, a, b, duration=60.0, window=(10.0, 60.0))
    return r["goodput"][0] / mathis(1400, 0.05, p)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--duration", type=float, default=20.0, help="virtual seconds per run")
    ap.add_argument("--processes", type=int, default=2)
    ap.add_argument("--no-ns3", action="store_true", help="skip ns-3 even if importable")
    ap.add_argument("--models", action="store_true", help="also the issue-5 model checks")
    args = ap.parse_args()
    seeds = list(range(1, args.seeds + 1))
    dur = args.duration
    console = Console(width=150)
    out: dict = {"seeds": args.seeds, "duration": dur}

    # ------------------------------------------------ goodput against loss
    grid = [(a, p) for a in ALGORITHMS for p in LOSSES]
    jobs = [({"congestion": a, "loss": p, "duration": dur}, s) for a, p in grid for s in seeds]
    ns3_jobs = [(a, p, s, dur, 1) for a, p in grid if a in ns3_reference.NS3_NAMES for s in seeds]
    pair_names = [(a, a) for a in ALGORITHMS] + [("cubic", "bbr"), ("newreno", "cubic")]
    pair_jobs = [(pair, s, 30.0) for pair in pair_names for s in seeds]
    ns3_results = None
    status = console.status("emutcp runs in virtual time (and ns-3 in a child process)")
    with status, multiprocessing.Pool(args.processes) as pool:
        trials = pool.map_async(_trial, jobs)
        pairs = pool.map_async(_pair_job, pair_jobs)
        check_jobs = [({"congestion": "vegas", "queue_bdp": 8, "duration": dur}, s) for s in seeds]
        checks = pool.map_async(_trial, check_jobs)
        paced = pool.starmap_async(virtual_paced, [(pc, s) for pc in (False, True) for s in seeds])
        if not args.no_ns3:
            ns3_results = ns3_reference.run_jobs(ns3_jobs)
        trials_r, pairs_r, checks_r, paced_r = (
            trials.get(),
            pairs.get(),
            checks.get(),
            paced.get(),
        )
    per = len(seeds)
    emu = {
        key: statistics.median(r["goodput_Mbps"] for r in trials_r[i * per : (i + 1) * per])
        for i, key in enumerate(grid)
    }
    util = {key: emu[key] / 10 for key in grid}
    ns3: dict = {}
    if ns3_results is not None:
        keys = [(a, p) for a, p in grid if a in ns3_reference.NS3_NAMES]
        for i, key in enumerate(keys):
            ns3[key] = statistics.median(g[0] for g in ns3_results[i * per : (i + 1) * per])
    table = Table(
        title=f"goodput, Mbit/s: 10 Mbit/s, 50 ms RTT, 1-BDP FIFO, random loss "
        f"(median of {per} seeds, {dur:g} virtual s)"
    )
    table.add_column("loss")
    for a in ALGORITHMS:
        table.add_column(f"emutcp {a}", justify="right")
        if a in ns3_reference.NS3_NAMES and ns3:
            table.add_column(f"ns-3 {a}", justify="right")
    table.add_column("Mathis (Reno)", justify="right")
    for p in LOSSES:
        row = [f"{p:.1%}"]
        for a in ALGORITHMS:
            row.append(f"{emu[a, p]:.2f}")
            if a in ns3_reference.NS3_NAMES and ns3:
                row.append(f"{ns3[a, p]:.2f}")
        row.append(f"{mathis(1400, 0.05, p) / 1e6:.2f}")
        table.add_row(*row)
    console.print(table)
    if not ns3 and not args.no_ns3:
        console.print("ns-3: not importable here (pip install ns3), or it failed")
    out["goodput_Mbps"] = {f"{a} {p}": v for (a, p), v in emu.items()}
    out["ns3_goodput_Mbps"] = {f"{a} {p}": v for (a, p), v in ns3.items()}

    # ------------------------------------------------------- the checks
    rows = []

    def row(name: str, values: list[float], bound: str, ok) -> None:
        med = statistics.median(values)
        rows.append({"check": name, "median": med, "runs": values, "bound": bound, "ok": ok(med)})

    for p in LOSSES:
        ratio = emu["cubic", p] / emu["newreno", p]
        row(f"CUBIC / NewReno goodput, loss {p:.1%}", [ratio], ">= 0.95", lambda m: m >= 0.95)
    row("BBR utilization, loss 1 %", [util["bbr", 0.01]], ">= 0.80", lambda m: m >= 0.80)
    row(
        "Vegas utilization, 8-BDP FIFO",
        [r["utilization"] for r in checks_r],
        ">= 0.85",
        lambda m: m >= 0.85,
    )
    row(
        "Vegas mean RTT - base RTT (ms), 8-BDP FIFO",
        [r["rtt_mean_ms"] - 50 for r in checks_r],
        "<= 20",
        lambda m: m <= 20,
    )
    unpaced, paced_drops = paced_r[:per], paced_r[per:]
    row("drops, NewReno slow start, 0.1-BDP FIFO, unpaced", unpaced, "(report)", lambda m: True)
    row("drops, NewReno slow start, 0.1-BDP FIFO, paced", paced_drops, "(report)", lambda m: True)
    for i, pair in enumerate(pair_names):
        shares = pairs_r[i * per : (i + 1) * per]
        same = pair[0] == pair[1]
        row(
            f"Jain fairness, {pair[0]} + {pair[1]}",
            [jain(x) for x in shares],
            ">= 0.9" if same else "(report)",
            lambda m, same=same: m >= 0.9 if same else True,
        )
        if not same:
            row(
                f"   {pair[1]} share / {pair[0]} share",
                [x[1] / x[0] for x in shares],
                "(report)",
                lambda m: True,
            )
    if args.models:
        for p in LOSSES:
            row(
                f"NewReno / Mathis model, p = {p}",
                [virtual(_mathis_ratio, p, s, seed=s) for s in seeds],
                "0.5 .. 2.0",
                lambda m: 0.5 <= m <= 2.0,
            )
    checks_table = Table(title="issue-17 checks (medians; the machine is shared: times vary)")
    for col in ("check", "median", "runs", "bound", "ok"):
        checks_table.add_column(col)
    for r in rows:
        checks_table.add_row(
            r["check"],
            f"{r['median']:.3f}",
            " ".join(f"{v:.2f}" for v in r["runs"]),
            r["bound"],
            "yes" if r["ok"] else "[red]NO",
        )
    console.print(checks_table)
    out["checks"] = rows
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "congestion.json").write_text(json.dumps(out, indent=2))


def virtual_paced(pacing: bool, seed: int) -> int:
    return virtual(_paced_slow_start, pacing, seed, seed=seed)


if __name__ == "__main__":
    main()
