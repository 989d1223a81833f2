"""The benchmark suite: every figure and its reference, measured in one run.

    python benchmarks/run.py [--runs 5] [--quick]

Rows (medians of ``--runs``; min-max shown):

* emutcp bulk goodput over loopback UDP at MSS 1400 and at the loopback path
  MSS (lo's MTU less the IP, UDP and emutcp headers, capped at 65,000), in
  one process and across two processes, each next to the plain UDP ceiling
  for the same datagram size (a non-blocking socket drained in a loop), with
  and (Linux) without UDP GSO/GRO on the plain socket; emutcp with its own
  GSO turned off (``EMUTCP_NO_GSO=1``) too;
* CPU seconds per GB moved (both ends of the in-process transfer): unlike
  goodput, it does not count time spent waiting for a core;
* kernel TCP through trio, and aioquic (Python QUIC) if installed
  (``pip install '.[bench]'``): what "fast" and "Python" look like here;
* connection setup rate and memory per idle connection (1,000 connections);
* 1-byte echo round trip over emutcp, median and p99, next to a trio UDP
  ping-pong measured in alternating blocks of 100 rounds in the same run:
  both ends in one trio run, and the echoing ends in other processes;
* emulated-network simulation speed (virtual seconds per wall second).

Writes benchmarks/results/run.json.  The machines are noisy: compare medians
from the same run, not figures from different days.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
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

import emutcp

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


class Figures:
    """Runs a function returning several figures once per measurement of the
    first; each other figure is read from what those same runs returned (so
    its row must be measured after the first's, the same number of times)."""

    def __init__(self, fn) -> None:
        self.fn, self.later = fn, None

    def first(self):
        a, *rest = self.fn()
        if self.later is None:
            self.later = [[] for _ in rest]
        for queue, value in zip(self.later, rest, strict=True):
            queue.append(value)
        return a

    def figure(self, i: int):
        """The measurement of figure ``i`` (1 is the second)."""

        def read():
            queue = self.later[i - 1] if self.later else []
            return queue.pop(0) if queue else None

        return read

    def second(self):
        return self.figure(1)()


@contextlib.contextmanager
def no_gso():
    old = os.environ.get("EMUTCP_NO_GSO")
    os.environ["EMUTCP_NO_GSO"] = "1"
    try:
        yield
    finally:
        if old is None:
            del os.environ["EMUTCP_NO_GSO"]
        else:
            os.environ["EMUTCP_NO_GSO"] = old


def emutcp_without_gso(nbytes: int, mss: int) -> float:
    with no_gso():
        return loopback.emutcp_one_process(nbytes, mss)


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
    ref: dict[str, list[str]] = {}
    plan = []
    for mss in (1400, loopback.path_mss()):
        size = mss + loopback.OVERHEAD
        raw1, raw2 = f"raw UDP {size} B, 1 process", f"raw UDP {size} B, 2 processes"
        gso1 = f"raw UDP {size} B, 1 process, GSO+GRO"
        one = f"emutcp MSS {mss}, 1 process"
        cpu = Figures(lambda m=mss: loopback.emutcp_one_process_cpu(args.bytes, m))
        batched = mss * 2 <= 65_000  # GSO needs two datagrams in 64 KiB
        plan += [
            (raw1, lambda s=size: loopback.raw_udp_one_process(s), "MB/s", []),
            (raw2, lambda s=size: loopback.raw_udp_two_processes(s), "MB/s", []),
            (one, cpu.first, "MB/s", [raw1, gso1] if batched else [raw1]),
            (f"emutcp MSS {mss}, CPU per GB", cpu.second, "CPU s/GB", []),
            (
                f"emutcp MSS {mss}, 2 processes",
                lambda m=mss: loopback.emutcp_two_processes(args.bytes, m),
                "MB/s",
                [raw2],
            ),
        ]
        if batched:
            plan += [
                (gso1, lambda s=size: loopback.raw_udp_gso_one_process(s), "MB/s", []),
                (
                    f"emutcp MSS {mss}, 1 process, GSO off",
                    lambda m=mss: emutcp_without_gso(args.bytes, m),
                    "MB/s",
                    [raw1],
                ),
            ]
    # Echo and ping-pong in alternating blocks of one run each (loopback._interleaved).
    echo = Figures(lambda: loopback.echo_and_ping_pong(2000))
    echo2 = Figures(lambda: loopback.echo_and_ping_pong_two_processes(2000))
    plan += [
        ("kernel TCP through trio", lambda: references.kernel_tcp(4 * args.bytes), "MB/s", []),
        ("aioquic bulk stream", lambda: references.aioquic_bulk(args.bytes // 2), "MB/s", []),
        ("UDP ping-pong, 1 byte, median", echo.first, "us", []),
        ("UDP ping-pong, 1 byte, p99", echo.figure(1), "us", []),
        ("emutcp echo, 1 byte, median", echo.figure(2), "us", ["UDP ping-pong, 1 byte, median"]),
        ("emutcp echo, 1 byte, p99", echo.figure(3), "us", ["UDP ping-pong, 1 byte, p99"]),
        ("emutcp echo / ping-pong, same run", echo.figure(4), "x", []),
        ("UDP ping-pong, 2 processes, median", echo2.first, "us", []),
        ("UDP ping-pong, 2 processes, p99", echo2.figure(1), "us", []),
        (
            "emutcp echo, 2 processes, median",
            echo2.figure(2),
            "us",
            ["UDP ping-pong, 2 processes, median"],
        ),
        (
            "emutcp echo, 2 processes, p99",
            echo2.figure(3),
            "us",
            ["UDP ping-pong, 2 processes, p99"],
        ),
        ("emutcp echo / ping-pong, 2 processes, same run", echo2.figure(4), "x", []),
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
        ref["emutcp MSS 1400, 1 process"].append("aioquic bulk stream")

    table = Table(
        title=f"emutcp benchmarks (medians of {args.runs} runs, this machine; {emutcp.BUILD})"
    )
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
        ratios = {}
        for other in ref.get(name, []):
            if med and rows[other].get("median"):
                ratios[other] = med / rows[other]["median"]
        if ratios:
            r["ratios"] = ratios
        ratio = "; ".join(f"{v:.2f}x {k}" for k, v in ratios.items())
        span = f"{r['min']:,.1f}-{r['max']:,.1f}" if "min" in r else ""
        table.add_row(name, "n/a" if med is None else f"{med:,.1f}", span, unit[name], ratio)
    console.print(table)
    if aioquic is None:
        console.print("aioquic not installed: pip install '.[bench]' to add that reference")
    RESULTS.mkdir(exist_ok=True)
    out = {
        "when": time.strftime("%Y-%m-%dT%H:%M:%S"),
        "runs": args.runs,
        "build": emutcp.BUILD,
        "bytes": args.bytes,
        "rows": rows,
        "units": unit,
        "references": ref,
    }
    (RESULTS / "run.json").write_text(json.dumps(out, indent=2))
    console.print(f"wrote {RESULTS / 'run.json'}")


if __name__ == "__main__":
    main()
