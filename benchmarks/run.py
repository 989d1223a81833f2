"""The benchmark suite: every figure and its reference, measured in one run.

    python benchmarks/run.py [--runs 5] [--quick]

Rows (medians of ``--runs``; min-max shown):

* emutcp bulk goodput over loopback UDP, MSS 1400 and 60 KB, in one process
  and across two processes, each next to the raw UDP ceiling for the same
  datagram size (plain non-blocking socket drained in a loop);
* kernel TCP through trio, and aioquic (Python QUIC) if installed
  (``pip install '.[bench]'``): what "fast" and "Python" look like here;
* connection setup rate and memory per idle connection (1,000 connections);
* 1-byte echo round trip over emutcp next to a UDP ping-pong;
* emulated-network simulation speed (virtual seconds per wall second).

Writes benchmarks/results/run.json.  The machines are noisy: compare medians
from the same run, not figures from different days.
"""

from __future__ import annotations

import argparse
import json
import pathlib
import statistics
import sys
import time

sys.path.insert(0, str(pathlib.Path(__file__).parent))

import loopback
import references
import simulation
from rich.console import Console
from rich.table import Table

RESULTS = pathlib.Path(__file__).parent / "results"


def measure(fn, runs: int) -> dict:
    values = [v for v in (fn() for _ in range(runs)) if v is not None]
    if not values:
        return {"median": None}
    return {
        "median": statistics.median(values),
        "min": min(values),
        "max": max(values),
        "runs": len(values),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--bytes", type=int, default=50_000_000)
    ap.add_argument("--quick", action="store_true", help="1 run, smaller transfers")
    args = ap.parse_args()
    if args.quick:
        args.runs, args.bytes = 1, 10_000_000
    console = Console()
    rows: dict[str, dict] = {}
    unit: dict[str, str] = {}
    ref: dict[str, str] = {}
    plan = []
    for mss in (1400, 60_000):
        size = mss + loopback.OVERHEAD
        raw1, raw2 = f"raw UDP {size} B, 1 process", f"raw UDP {size} B, 2 processes"
        plan += [
            (raw1, lambda s=size: loopback.raw_udp_one_process(s), "MB/s", None),
            (raw2, lambda s=size: loopback.raw_udp_two_processes(s), "MB/s", None),
            (
                f"emutcp MSS {mss}, 1 process",
                lambda m=mss: loopback.emutcp_one_process(args.bytes, m),
                "MB/s",
                raw1,
            ),
            (
                f"emutcp MSS {mss}, 2 processes",
                lambda m=mss: loopback.emutcp_two_processes(args.bytes, m),
                "MB/s",
                raw2,
            ),
        ]
    plan += [
        ("kernel TCP through trio", lambda: references.kernel_tcp(4 * args.bytes), "MB/s", None),
        ("aioquic bulk stream", lambda: references.aioquic_bulk(args.bytes // 2), "MB/s", None),
        ("UDP ping-pong, 1 byte", lambda: references.udp_ping_pong(2000), "us", None),
        (
            "emutcp echo, 1 byte",
            lambda: references.emutcp_echo(2000),
            "us",
            "UDP ping-pong, 1 byte",
        ),
    ]
    with console.status("measuring") as status:
        for name, fn, u, reference in plan:
            status.update(f"measuring: {name}")
            rows[name] = measure(fn, args.runs)
            unit[name] = u
            if reference:
                ref[name] = reference
        status.update("measuring: 1,000 idle connections")
        idle = loopback.idle_connections(200 if args.quick else 1000)
        rows["connection setup"] = {"median": idle["setup_per_second"]}
        unit["connection setup"] = "conn/s"
        rows["memory per idle connection"] = {"median": idle["bytes_per_connection"] / 1024}
        unit["memory per idle connection"] = "KiB"
        status.update("measuring: simulation speed")
        sims = [
            simulation.run(1, 10.0 if args.quick else 30.0) for _ in range(max(1, args.runs // 2))
        ]
        rows["simulation speed, 1 flow 10 Mbit/s 50 ms"] = {
            "median": statistics.median(s["speedup"] for s in sims)
        }
        unit["simulation speed, 1 flow 10 Mbit/s 50 ms"] = "x real time"
    aioquic = rows["aioquic bulk stream"]["median"]
    if aioquic:
        for name in list(rows):
            if name.startswith("emutcp MSS 1400"):
                ref.setdefault(name + " vs aioquic", "aioquic bulk stream")

    table = Table(title=f"emutcp benchmarks (medians of {args.runs} runs, this machine)")
    for col, just in (
        ("measurement", "left"),
        ("median", "right"),
        ("min-max", "right"),
        ("unit", "left"),
        ("ratio to reference", "right"),
    ):
        table.add_column(col, justify=just)
    for name, r in rows.items():
        med = r.get("median")
        ratio = ""
        if name in ref and med and rows[ref[name]].get("median"):
            r["ratio"] = med / rows[ref[name]]["median"]
            ratio = f"{r['ratio']:.2f}x {ref[name]}"
        if name.startswith("emutcp MSS 1400") and aioquic:
            ratio += f"; {med / aioquic:.1f}x aioquic"
        span = f"{r['min']:.1f}-{r['max']:.1f}" if "min" in r else ""
        table.add_row(name, "n/a" if med is None else f"{med:,.1f}", span, unit[name], ratio)
    console.print(table)
    if aioquic is None:
        console.print("aioquic not installed: pip install '.[bench]' to add that reference")
    RESULTS.mkdir(exist_ok=True)
    out = {
        "when": time.strftime("%Y-%m-%dT%H:%M:%S"),
        "runs": args.runs,
        "bytes": args.bytes,
        "rows": rows,
        "units": unit,
        "references": ref,
    }
    (RESULTS / "run.json").write_text(json.dumps(out, indent=2))
    console.print(f"wrote {RESULTS / 'run.json'}")


if __name__ == "__main__":
    main()
