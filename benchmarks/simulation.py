"""Simulation speed: virtual seconds per wall second, emutcp against ns-3.

    python benchmarks/simulation.py [--runs 3] [--seconds 20] [--no-ns3] [--no-trio]
    python benchmarks/simulation.py --checks      # the congestion model checks, on the engine
    python benchmarks/simulation.py --scale 1000  # 1,000 flows through one bottleneck
    python benchmarks/simulation.py --dask 2      # a 16-trial sweep: 1 process vs 2 Dask workers
    python benchmarks/simulation.py --profile 10e6 --seconds 10  # cProfile of one run

The anchor scenario: one bulk NewReno flow, 50 ms RTT, a one-BDP drop-tail
queue, MSS 1400, at 10 and 100 Mbit/s.  emutcp runs it on its discrete-event
engine (``engine="sim"``, the default of ``emutcp experiment``) and, for
reference, on the trio emulated network; ns-3 (``pip install ns3``) runs the
same scenario in the same run, in a subprocess, when its wheel imports.
Figures are medians of ``--runs``; only the simulation is timed (ns-3's import
and JIT compilation, which take minutes, are not).  The machine is shared:
compare the columns of one run, not runs of different days.  Writes
benchmarks/results/simulation.json.
"""

from __future__ import annotations

import argparse
import json
import pathlib
import statistics
import subprocess
import sys
import time

import emutcp

RESULTS = pathlib.Path(__file__).parent / "results"
RTT, MSS = 0.05, 1400


def run(n: int, seconds: float, rate: float = 10e6, engine: str = "sim") -> dict:
    """``n`` bulk flows for ``seconds`` of virtual time on ``engine``."""
    from emutcp.lab.trial import run_trial

    params = {"rate": rate, "delay": RTT / 2, "flows": n, "duration": seconds, "engine": engine}
    params["warmup"] = min(2.0, seconds / 2)
    t0, c0 = time.perf_counter(), time.process_time()
    r = run_trial(params, 1)
    wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    return {
        "goodput_Mbps": r["goodput_Mbps"],
        "retransmits": r["retransmits"],
        "virtual_seconds": seconds,
        "wall_seconds": wall,
        "cpu_seconds": cpu,
        "speedup": seconds / wall,
        "cpu_speedup": seconds / cpu,
    }


def profile(rate: float, seconds: float, top: int = 30) -> str:
    """cProfile of one run of the anchor scenario on the engine: the ``top``
    functions by own time, after a line with calls and datagrams."""
    import cProfile
    import io
    import pstats

    from emutcp.lab.trial import run_trial

    params = {"rate": rate, "delay": RTT / 2, "flows": 1, "duration": seconds, "engine": "sim"}
    params["warmup"] = min(2.0, seconds / 2)
    run_trial({**params, "duration": 0.2, "warmup": 0.1}, 1)  # imports, outside the profile
    prof = cProfile.Profile()
    prof.enable()
    r = run_trial(params, 1)
    prof.disable()
    out = io.StringIO()
    stats = pstats.Stats(prof, stream=out)
    datagrams = sum(n for (_, _, name), (_, n, *_) in stats.stats.items() if name == "transmit")  # type: ignore[attr-defined]
    calls = stats.total_calls  # type: ignore[attr-defined]
    out.write(
        f"{rate / 1e6:g} Mbit/s, {seconds:g} virtual s: goodput {r['goodput_Mbps']:.2f} Mbit/s, "
        f"{datagrams} datagrams, {calls} function calls = {calls / max(datagrams, 1):.0f} "
        "per datagram\n"
    )
    stats.sort_stats("tottime").print_stats(top)
    return out.getvalue()


# ------------------------------------------------------------------- ns-3

NS3_SCRIPT = r"""
import json, sys, time
from ns import ns
rate, seconds = float(sys.argv[1]), float(sys.argv[2])
runs, queue = int(sys.argv[3]), int(sys.argv[4])
ns.Config.SetDefault("ns3::TcpL4Protocol::SocketType", ns.StringValue("ns3::TcpNewReno"))
ns.Config.SetDefault("ns3::TcpSocket::SegmentSize", ns.UintegerValue(1400))
ns.Config.SetDefault("ns3::TcpSocket::SndBufSize", ns.UintegerValue(1 << 20))
ns.Config.SetDefault("ns3::TcpSocket::RcvBufSize", ns.UintegerValue(1 << 20))
for _ in range(runs):
    nodes = ns.NodeContainer(); nodes.Create(2)
    p2p = ns.PointToPointHelper()
    p2p.SetDeviceAttribute("DataRate", ns.StringValue(f"{int(rate)}bps"))
    p2p.SetChannelAttribute("Delay", ns.StringValue("25ms"))
    p2p.SetQueue("ns3::DropTailQueue", "MaxSize", ns.StringValue("1p"))
    devices = p2p.Install(nodes)
    ns.InternetStackHelper().Install(nodes)
    tch = ns.TrafficControlHelper()  # the drop-tail queue: a FIFO of one BDP
    tch.SetRootQueueDisc("ns3::FifoQueueDisc", "MaxSize", ns.StringValue(f"{queue}p"))
    tch.Install(devices)
    addresses = ns.Ipv4AddressHelper()
    addresses.SetBase(ns.Ipv4Address("10.1.1.0"), ns.Ipv4Mask("255.255.255.0"))
    interfaces = addresses.Assign(devices)
    any_address = ns.InetSocketAddress(ns.Ipv4Address.GetAny(), 9).ConvertTo()
    sinks = ns.PacketSinkHelper("ns3::TcpSocketFactory", any_address).Install(nodes.Get(1))
    target = ns.InetSocketAddress(interfaces.GetAddress(1), 9).ConvertTo()
    bulk = ns.BulkSendHelper("ns3::TcpSocketFactory", target)
    bulk.SetAttribute("MaxBytes", ns.UintegerValue(0))
    bulk.Install(nodes.Get(0)).Start(ns.Seconds(0))
    ns.Simulator.Stop(ns.Seconds(seconds))
    t0, c0 = time.perf_counter(), time.process_time()
    ns.Simulator.Run()
    wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    rx = ns.DynamicCast[ns.PacketSink](sinks.Get(0)).GetTotalRx()
    ns.Simulator.Destroy()
    print(json.dumps({"wall_seconds": wall, "cpu_seconds": cpu, "speedup": seconds / wall,
                      "cpu_speedup": seconds / cpu, "goodput_Mbps": rx * 8 / seconds / 1e6}),
          flush=True)
"""


def ns3_available() -> bool:
    import importlib.util

    return importlib.util.find_spec("ns") is not None


def run_ns3(rate: float, seconds: float, runs: int, timeout: float = 1800) -> list[dict] | str:
    """ns-3 on the anchor scenario in a subprocess: one dict per run, or why not."""
    from emutcp.lab.units import bdp_queue

    queue = bdp_queue(rate, RTT, MSS)
    args = [sys.executable, "-c", NS3_SCRIPT, str(rate), str(seconds), str(runs), str(queue)]
    try:
        done = subprocess.run(args, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return f"ns-3 did not finish in {timeout:g} s"
    rows = [json.loads(line) for line in done.stdout.splitlines() if line.startswith("{")]
    if not rows:
        tail = [ln for ln in done.stderr.splitlines() if ln.strip()][-1:]
        return f"ns-3 failed: {tail[0] if tail else done.returncode}"
    return rows


# ----------------------------------------------------------- model checks


def model_checks() -> list[tuple[str, bool, str]]:
    """tests/test_congestion.py checks 1, 2, 4 and 5, in full, on the engine."""
    import emutcp
    from emutcp.lab.flows import A, B, jain, mathis
    from emutcp.lab.units import bdp_queue
    from emutcp.sim import SimNetwork, bulk_flows

    def net(rate=10e6, rtt=0.05, config=None, seed=1):
        n = SimNetwork(seed=seed)
        a, b = n.add_host(A, config=config), n.add_host(B, config=config)
        n.add_link(A, B, delay=rtt / 2, rate=rate, queue=bdp_queue(rate, rtt, MSS))
        return n, a, b

    out = []
    for algo in ("newreno", "cubic"):
        r = bulk_flows(*net(config=emutcp.Config(congestion=algo)), duration=10.0)
        g = r["goodput"][0]
        out.append((f"check 1 clean bottleneck ({algo})", g >= 0.85e7, f"{g / 1e6:.2f} Mbit/s"))
    config = emutcp.Config(congestion="newreno", recv_buffer=1 << 21, send_buffer=1 << 21)
    for p in (0.005, 0.01, 0.02):
        n = SimNetwork(seed=int(p * 1000))
        a, b = n.add_host(A, config=config), n.add_host(B, config=config)
        n.add_link(
            A,
            B,
            profile=emutcp.LinkProfile(delay=0.025, rate=200e6, queue=2000, loss=p),
            reverse=emutcp.LinkProfile(delay=0.025),
        )
        r = bulk_flows(n, a, b, duration=60.0, window=(10.0, 60.0))
        ratio = r["goodput"][0] / mathis(MSS, 0.05, p)
        out.append((f"check 2 Mathis p={p}", 0.5 <= ratio <= 2.0, f"ratio {ratio:.2f}"))
    big = emutcp.Config(mss=8960, recv_buffer=4 << 20, send_buffer=4 << 20)
    r = bulk_flows(*net(rate=100e6, rtt=0.1, config=big), duration=20.0, window=(15.0, 20.0))
    g = r["goodput"][0]
    out.append(("check 4 long fat pipe", g >= 0.8e8, f"{g / 1e6:.1f} Mbit/s"))
    small = big.replace(window_scaling=False)
    r = bulk_flows(*net(rate=100e6, rtt=0.1, config=small), duration=5.0, window=(3.0, 5.0))
    g = r["goodput"][0]
    out.append(("check 4 without wscale", g < 65_535 * 8 / 0.1 * 1.05, f"{g / 1e6:.2f} Mbit/s"))
    for algo in ("newreno", "cubic"):
        n, a, b = net(config=emutcp.Config(congestion=algo))
        r = bulk_flows(n, a, b, flows=2, duration=30.0, window=(5.0, 30.0))
        j = jain(r["goodput"])
        out.append((f"check 5 two flows ({algo})", j >= 0.9, f"Jain {j:.3f}"))
    return out


# ------------------------------------------------------------------ scale


def scale(flows: int, seconds: float = 10.0, rate: float = 100e6) -> dict:
    """``flows`` bulk flows through one bottleneck (all from one host to one
    host: the dumbbell's bottleneck without its access links), started over
    the first second; wall time and peak memory (RSS) per flow."""
    import resource

    import emutcp
    from emutcp.lab.flows import A, B
    from emutcp.lab.units import bdp_queue
    from emutcp.sim import SimNetwork, bulk_flows

    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    config = emutcp.Config(send_buffer=64 << 10, recv_buffer=64 << 10)
    net = SimNetwork(seed=1)
    a, b = net.add_host(A, config=config), net.add_host(B, config=config)
    net.add_link(A, B, delay=RTT / 2, rate=rate, queue=bdp_queue(rate, RTT, MSS))
    t0, c0 = time.perf_counter(), time.process_time()
    window = (min(2.0, seconds / 2), seconds)
    r = bulk_flows(
        net, a, b, flows=flows, duration=seconds, window=window, concurrent=True, stagger=1.0
    )
    wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux
    goodput = r["goodput"]
    return {
        "flows": flows,
        "virtual_seconds": seconds,
        "wall_seconds": wall,
        "cpu_seconds": cpu,
        "events": net.engine.events,
        "peak_rss_MiB": peak / 1024,
        "rss_growth_KiB_per_flow": (peak - before) / flows,
        "goodput_Mbps": sum(goodput) / 1e6,
        "flows_with_data": sum(1 for g in goodput if g > 0),
        "link_drops": sum(net.link(A, B).stats.dropped.values()),
    }


# ------------------------------------------------------------------ Dask


def sweep_speedup(workers: int = 2, seconds: float = 10.0) -> dict:
    """A 16-trial sweep (4 loss rates x 4 seeds) in one process, then on Dask
    with ``workers`` single-threaded worker processes, twice: ``local:N``
    (the cluster's start-up included, as the CLI's ``--cluster local:N``) and
    against an already running cluster (``--cluster tcp://...``, what a sweep
    on a real cluster sees).  Wall times, ratios, and whether the results are
    identical to the one-process run."""
    import logging

    from distributed import Client, LocalCluster

    from emutcp.lab.sweep import run_sweep

    exp = {
        "name": "dask-speedup",
        "base": {"duration": seconds, "rate": 10e6},
        "sweep": {"loss": [0.0, 0.005, 0.01, 0.02]},
        "seeds": 4,
    }

    def strip(trials: list[dict]) -> list[dict]:
        return [{k: v for k, v in t.items() if k != "wall_s"} for t in trials]

    t0 = time.perf_counter()
    one = run_sweep(exp, processes=1, progress=False)
    serial = time.perf_counter() - t0
    t0 = time.perf_counter()
    cold = run_sweep(exp, cluster=f"local:{workers}", progress=False)
    cold_s = time.perf_counter() - t0
    with LocalCluster(
        n_workers=workers,
        threads_per_worker=1,
        dashboard_address=None,
        silence_logs=logging.ERROR,
    ) as cluster:
        with Client(cluster) as client:  # workers import emutcp before the clock starts
            client.run(lambda: __import__("emutcp.lab.trial"))
        t0 = time.perf_counter()
        warm = run_sweep(exp, cluster=cluster.scheduler_address, progress=False)
        warm_s = time.perf_counter() - t0
    return {
        "trials": len(one),
        "one_process_s": serial,
        f"dask_local_{workers}_s": cold_s,
        "speedup": serial / cold_s,
        f"dask_running_{workers}_s": warm_s,
        "speedup_running_cluster": serial / warm_s,
        "same_results": strip(one) == strip(cold) == strip(warm),
    }


# ------------------------------------------------------------------- main


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--seconds", type=float, default=20.0)
    ap.add_argument("--rates", default="10e6,100e6", help="bits/s, comma-separated")
    ap.add_argument("--no-ns3", action="store_true", help="skip ns-3 even if it imports")
    ap.add_argument("--no-trio", action="store_true", help="skip the trio engine")
    ap.add_argument("--checks", action="store_true", help="the model checks on the engine")
    ap.add_argument("--scale", type=int, metavar="FLOWS", help="a many-flow bottleneck")
    ap.add_argument("--profile", type=float, metavar="RATE", help="cProfile one run at RATE bits/s")
    ap.add_argument(
        "--dask", type=int, metavar="WORKERS", help="a 16-trial sweep: 1 process vs local:WORKERS"
    )
    args = ap.parse_args()
    from rich.console import Console
    from rich.table import Table

    console = Console()
    if args.checks:
        table = Table(title="congestion model checks on the discrete-event engine")
        for col in ("check", "result", "figure"):
            table.add_column(col)
        for name, ok, figure in model_checks():
            table.add_row(name, "pass" if ok else "FAIL", figure)
        console.print(table)
        return
    if args.profile:
        print(profile(args.profile, args.seconds))
        return
    if args.dask:
        with console.status(f"16 trials: one process, then Dask local:{args.dask}"):
            out = sweep_speedup(args.dask, args.seconds)
        console.print_json(json.dumps(out))
        return
    if args.scale:
        with console.status(f"{args.scale} flows"):
            out = scale(args.scale)
        console.print_json(json.dumps(out))
        RESULTS.mkdir(exist_ok=True)
        (RESULTS / f"simulation-scale-{args.scale}.json").write_text(json.dumps(out, indent=2))
        return

    rates = [float(r) for r in args.rates.split(",")]
    out: dict = {"seconds": args.seconds, "runs": args.runs, "build": emutcp.BUILD, "rates": {}}
    for rate in rates:
        label = f"{rate / 1e6:g} Mbit/s"
        row: dict = {}
        with console.status(f"{label}: emutcp engine"):
            sims = [run(1, args.seconds, rate) for _ in range(args.runs)]
        row["sim"] = {k: statistics.median(s[k] for s in sims) for k in sims[0]}
        if not args.no_trio:
            # The trio engine is slow at 100 Mbit/s: one run of a quarter of the time.
            seconds = args.seconds if rate <= 10e6 else args.seconds / 4
            n = args.runs if rate <= 10e6 else 1
            with console.status(f"{label}: trio engine"):
                trios = [run(1, seconds, rate, engine="trio") for _ in range(n)]
            row["trio"] = {k: statistics.median(s[k] for s in trios) for k in trios[0]}
        if args.no_ns3:
            row["ns3"] = "skipped (--no-ns3)"
        elif not ns3_available():
            row["ns3"] = "not installed (pip install ns3)"
        else:
            with console.status(f"{label}: ns-3 (its import compiles for minutes)"):
                ns3 = run_ns3(rate, args.seconds, args.runs)
            row["ns3"] = (
                ns3
                if isinstance(ns3, str)
                else {k: statistics.median(s[k] for s in ns3) for k in ns3[0]}
            )
        out["rates"][label] = row

    table = Table(
        title=f"virtual s per wall s (per CPU s), one NewReno flow, 50 ms RTT, 1-BDP "
        f"drop-tail, MSS 1400 ({args.seconds:g} s, medians of {args.runs}; shared machine; "
        f"emutcp: {emutcp.BUILD})"
    )
    for col in ("rate", "emutcp sim", "emutcp trio", "ns-3", "sim / ns-3", "goodput sim / ns-3"):
        table.add_column(col, justify="right")

    def speed(r: dict | None) -> str:
        return f"{r['speedup']:.2f}x ({r['cpu_speedup']:.2f}x)" if r else "-"

    for label, row in out["rates"].items():
        sim, trio, ns3 = row["sim"], row.get("trio"), row["ns3"]
        has_ns3 = isinstance(ns3, dict)
        table.add_row(
            label,
            speed(sim),
            speed(trio),
            speed(ns3) if has_ns3 else str(ns3),
            f"{sim['speedup'] / ns3['speedup']:.2f} ({sim['cpu_speedup'] / ns3['cpu_speedup']:.2f})"
            if has_ns3
            else "-",
            f"{sim['goodput_Mbps']:.2f} / {ns3['goodput_Mbps']:.2f}"
            if has_ns3
            else f"{sim['goodput_Mbps']:.2f} / -",
        )
    console.print(table)
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "simulation.json").write_text(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
