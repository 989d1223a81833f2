"""Emulated-network simulation speed: virtual seconds per wall second.

    python benchmarks/simulation.py [--runs 3] [--seconds 30]

Bulk flows over one 10 Mbit/s link with 50 ms RTT and a one-BDP drop-tail
queue, run for ``--seconds`` of virtual time under
``trio.testing.MockClock(autojump_threshold=0)``; one flow, then 10 flows
sharing the link.  Prints medians and writes benchmarks/results/simulation.json.
Target (issue 4): at least 5x real time for the single flow.
"""

from __future__ import annotations

import argparse
import json
import pathlib
import statistics
import time

import trio
import trio.testing

from emutcp.lab.flows import bottleneck, run_flows

RESULTS = pathlib.Path(__file__).parent / "results"
RATE, DELAY = 10e6, 0.025


async def _flows(n: int, seconds: float) -> dict:
    net, a, b = bottleneck(1, rate=RATE, rtt=2 * DELAY)
    # Goodput from 2 s on: connection setup (SYNs may meet a full queue) is excluded.
    r = await run_flows(net, a, b, flows=n, duration=seconds, window=(2.0, seconds))
    return {"goodput_Mbps": sum(r["goodput"]) / 1e6, "virtual_seconds": trio.current_time()}


def run(n: int, seconds: float) -> dict:
    t0 = time.perf_counter()
    result = trio.run(_flows, n, seconds, clock=trio.testing.MockClock(autojump_threshold=0))
    wall = time.perf_counter() - t0
    result["wall_seconds"] = wall
    result["speedup"] = result["virtual_seconds"] / wall
    return result


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--seconds", type=float, default=30.0)
    args = ap.parse_args()
    from rich.console import Console
    from rich.table import Table

    console = Console()
    table = Table(title=f"simulation speed, {args.seconds:g} virtual s, medians of {args.runs}")
    for col in ("flows", "virtual s / wall s", "wall s", "link goodput Mbit/s"):
        table.add_column(col, justify="right")
    out = {}
    for n in (1, 10):
        with console.status(f"{n} flow(s)"):
            runs = [run(n, args.seconds) for _ in range(args.runs)]
        med = {k: statistics.median(r[k] for r in runs) for k in runs[0]}
        out[f"{n}_flows"] = med
        table.add_row(
            str(n),
            f"{med['speedup']:.1f}x",
            f"{med['wall_seconds']:.2f}",
            f"{med['goodput_Mbps']:.2f}",
        )
    console.print(table)
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "simulation.json").write_text(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
