"""Congestion control against the models: the issue-5 checks as a table.

    python benchmarks/congestion.py [--seeds 3]

Every row runs in virtual time on the emulated network (seeded) and prints the
measured figure next to its bound; tests/test_congestion.py asserts the same
bounds.  Also prints how NewReno and CUBIC share one bottleneck.  Writes
benchmarks/results/congestion.json.
"""

from __future__ import annotations

import argparse
import json
import pathlib
import statistics

import trio
import trio.testing
from rich.console import Console
from rich.table import Table

import emutcp
from emutcp.lab.flows import A, B, bottleneck, jain, mathis, run_flows

RESULTS = pathlib.Path(__file__).parent / "results"


def virtual(fn, *args, **kwargs):
    return trio.run(lambda: fn(*args, **kwargs), clock=trio.testing.MockClock(autojump_threshold=0))


async def utilization(algorithm: str, seed: int) -> float:
    net, a, b = bottleneck(seed, config=emutcp.Config(congestion=algorithm))
    r = await run_flows(net, a, b, duration=10.0)
    return r["goodput"][0] / 10e6


async def mathis_ratio(p: float, seed: int) -> float:
    config = emutcp.Config(recv_buffer=1 << 21, send_buffer=1 << 21)
    net = emutcp.EmulatedNetwork(seed=seed)
    a, b = net.add_host(A, config=config), net.add_host(B, config=config)
    net.add_link(A, B, delay=0.025, rate=200e6, queue=2000)
    net.link(A, B).profile = emutcp.LinkProfile(delay=0.025, rate=200e6, queue=2000, loss=p)
    r = await run_flows(net, a, b, duration=60.0, window=(10.0, 60.0))
    return r["goodput"][0] / mathis(1400, 0.05, p)


async def long_fat_pipe(seed: int) -> float:
    config = emutcp.Config(mss=8960, recv_buffer=4 << 20, send_buffer=4 << 20)
    net, a, b = bottleneck(seed, rate=100e6, rtt=0.1, config=config)
    r = await run_flows(net, a, b, duration=20.0, window=(15.0, 20.0))
    return r["goodput"][0] / 100e6


async def sharing(algorithms: tuple[str, str], seed: int) -> list[float]:
    net, a, b = bottleneck(seed)
    configs = [emutcp.Config(congestion=name) for name in algorithms]
    r = await run_flows(net, a, b, flows=2, duration=30.0, window=(5.0, 30.0), configs=configs)
    return r["goodput"]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, default=3)
    args = ap.parse_args()
    seeds = range(1, args.seeds + 1)
    console = Console()
    rows = []

    def row(name: str, values: list[float], bound: str, ok) -> None:
        med = statistics.median(values)
        rows.append({"check": name, "median": med, "runs": values, "bound": bound, "ok": ok(med)})

    with console.status("running the checks in virtual time"):
        for algo in ("newreno", "cubic"):
            row(
                f"1. utilization, 10 Mbit/s 50 ms 1 BDP, {algo}",
                [virtual(utilization, algo, s) for s in seeds],
                ">= 0.85",
                lambda m: m >= 0.85,
            )
        for p in (0.005, 0.01, 0.02):
            row(
                f"2. NewReno / Mathis model, p = {p}",
                [virtual(mathis_ratio, p, s) for s in seeds],
                "0.5 .. 2.0",
                lambda m: 0.5 <= m <= 2.0,
            )
        row(
            "4. utilization, 100 Mbit/s x 100 ms (window scaling)",
            [virtual(long_fat_pipe, s) for s in seeds],
            ">= 0.80",
            lambda m: m >= 0.80,
        )
        for pair in (("newreno", "newreno"), ("cubic", "cubic"), ("newreno", "cubic")):
            shares = [virtual(sharing, pair, s) for s in seeds]
            row(
                f"5. Jain fairness, {pair[0]} + {pair[1]}",
                [jain(x) for x in shares],
                ">= 0.9 (same algorithm)" if pair[0] == pair[1] else "(report)",
                lambda m, same=pair[0] == pair[1]: m >= 0.9 if same else True,
            )
            if pair[0] != pair[1]:
                ratio = [x[1] / x[0] for x in shares]
                row("   CUBIC share / NewReno share", ratio, "(report)", lambda m: True)

    table = Table(title=f"congestion control vs models (medians over {args.seeds} seeds)")
    for col in ("check", "median", "runs", "bound", "ok"):
        table.add_column(col)
    for r in rows:
        table.add_row(
            r["check"],
            f"{r['median']:.3f}",
            " ".join(f"{v:.2f}" for v in r["runs"]),
            r["bound"],
            "yes" if r["ok"] else "[red]NO",
        )
    console.print(table)
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "congestion.json").write_text(json.dumps(rows, indent=2))


if __name__ == "__main__":
    main()
