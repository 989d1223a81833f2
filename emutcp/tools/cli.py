"""The ``emutcp`` command line (also ``python -m emutcp``)."""

from __future__ import annotations

import argparse
import json
import sys

import trio

from ..core.config import Config


def _trace_printer():
    """``--trace -``: transitions and segments, readable, on stderr."""
    from ..core.events import SegmentRecord, Transition

    def trace(record, local, remote) -> None:
        where = f"{local[0]}:{local[1]}" + (f" <-> {remote[0]}:{remote[1]}" if remote else "")
        if isinstance(record, Transition):
            line = f"{record.old} -> {record.new}  ({record.cause})"
        elif isinstance(record, SegmentRecord):
            line = (
                f"{'send' if record.direction == 'out' else 'recv'} {record.flags} "
                f"seq={record.seq} ack={record.ack} win={record.window} len={record.length}"
                + (f"  ({record.reason})" if record.reason else "")
            )
        else:
            return  # metrics samples go to --trace FILE, not the terminal
        print(f"[{record.time:.6f}] {where}  {line}", file=sys.stderr)

    return trace


class _Sinks:
    """The tracers ``--trace`` and ``--pcap`` ask for, closed at exit."""

    def __init__(self, args, *, directions=("in", "out")) -> None:
        from ..pcap import PcapWriter
        from ..trace import JsonlTrace, tee

        self.closers: list[JsonlTrace | PcapWriter] = []
        trace = pcap = None
        target = getattr(args, "trace", None)
        if target == "-":
            trace = _trace_printer()
        elif target:
            trace = JsonlTrace(target)
            self.closers.append(trace)
        if getattr(args, "pcap", None):
            pcap = PcapWriter(args.pcap, directions=directions)
            self.closers.append(pcap)
        self.tracer = tee(trace, pcap)

    def close(self) -> None:
        for c in self.closers:
            c.close()


def _config_from(args) -> Config:
    changes = {}
    for name in ("mss", "congestion"):
        value = getattr(args, name, None)
        if value is not None:
            changes[name] = value
    if getattr(args, "nodelay", False):
        changes["nodelay"] = True
    return Config(**changes)


def cmd_demo(args) -> int:
    from . import demo

    timeline = demo.Timeline()
    sinks = _Sinks(args, directions=("out",))  # both sides share one host: each segment once
    records: list = []
    keep = (
        (lambda rec, local, remote: records.append((rec, local, remote))) if args.diagram else None
    )
    from ..trace import tee

    paths = trio.run(lambda: demo.run_lab(timeline, extra_trace=tee(sinks.tracer, keep)))
    sinks.close()
    if args.diagram:
        from ..trace import record_to_dict
        from .diagram import draw, paths_from_trace

        draw(paths_from_trace([record_to_dict(*r) for r in records]), args.diagram)
    bulk = trio.run(demo.loopback_goodput, args.bytes)
    lossy = None
    if not args.no_emulated:
        lossy = demo.emulated_transfer(args.emulated_bytes, loss=args.loss, delay=args.delay)
    if args.json:
        print(
            json.dumps(
                {"timeline": timeline.as_dicts(), "paths": paths, "bulk": bulk, "emulated": lossy},
                indent=2,
            )
        )
        return 0 if bulk["intact"] and (lossy is None or lossy["intact"]) else 1
    from .render import render_demo

    render_demo(timeline, paths, bulk, lossy, args)
    return 0 if bulk["intact"] and (lossy is None or lossy["intact"]) else 1


def cmd_serve(args) -> int:
    from .netcat import serve_main

    sinks = _Sinks(args)
    trace = sinks.tracer
    mode = "file" if args.file else args.mode
    try:
        trio.run(
            lambda: serve_main(
                port=args.port,
                address=args.address,
                mode=mode,
                file=args.file,
                once=args.once,
                as_json=args.json,
                config=_config_from(args),
                trace=trace,
                stats=args.stats,
            )
        )
    except KeyboardInterrupt:
        return 130
    finally:
        sinks.close()
    return 0


def cmd_connect(args) -> int:
    from .netcat import connect_main

    sinks = _Sinks(args)
    trace = sinks.tracer
    try:
        trio.run(
            lambda: connect_main(
                host_name=args.host,
                port=args.port,
                as_json=args.json,
                config=_config_from(args),
                trace=trace,
            )
        )
    except (ConnectionRefusedError, TimeoutError, ConnectionResetError) as exc:
        print(f"emutcp: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    finally:
        sinks.close()
    return 0


def cmd_diagram(args) -> int:
    from ..trace import read_jsonl
    from .diagram import draw, paths_from_trace

    paths = paths_from_trace(read_jsonl(args.trace_file))
    if not paths:
        print("emutcp diagram: no connection transitions in that trace", file=sys.stderr)
        return 1
    draw(paths, args.output)
    if args.json:
        print(json.dumps({"output": args.output, "paths": paths}))
    else:
        print(f"emutcp: wrote {args.output}", file=sys.stderr)
    return 0


def cmd_experiment(args) -> int:
    from rich.console import Console

    from ..lab.sweep import (
        coerce,
        load_experiment,
        render_table,
        run_sweep,
        summarize,
        write_outputs,
    )

    if args.file:
        exp = load_experiment(args.file)
    else:
        exp = {"name": args.name, "base": {}, "sweep": {}, "seeds": 3}
    for item in args.set or []:
        key, _, value = item.partition("=")
        exp["base"][key] = coerce(key, value)
    for item in args.sweep or []:
        key, _, values = item.partition("=")
        exp["sweep"][key] = [coerce(key, v) for v in values.split(",")]
    if args.seeds is not None:
        exp["seeds"] = args.seeds
    if args.duration is not None:
        exp["base"]["duration"] = args.duration
    if args.real:
        exp["name"] += "-real"
    trials = run_sweep(exp, processes=args.processes, real=args.real, progress=not args.json)
    rows = summarize(exp, trials)
    files = write_outputs(exp, trials, rows, args.out, plots=not args.no_plots)
    if args.json:
        print(json.dumps({"summary": rows, "files": files}, default=str))
    else:
        console = Console()
        console.print(render_table(exp, rows))
        for f in files:
            console.print(f"wrote {f}")
    return 0


def cmd_bench(args) -> int:
    from .bench import bench_main

    if not args.local and (args.host is None or args.port is None):
        raise SystemExit("emutcp bench: give HOST PORT, or --local")
    sinks = _Sinks(args)
    try:
        trio.run(
            lambda: bench_main(
                host_name=None if args.local else args.host,
                port=None if args.local else args.port,
                seconds=args.seconds,
                nbytes=args.bytes,
                stats=args.stats,
                as_json=args.json,
                config=_config_from(args),
                trace=sinks.tracer,
            )
        )
    except (ConnectionRefusedError, TimeoutError, ConnectionResetError) as exc:
        print(f"emutcp: {exc}", file=sys.stderr)
        return 1
    finally:
        sinks.close()
    return 0


def cmd_relay(args) -> int:
    from ..lab.units import parse_duration, parse_rate
    from ..transport.link import GilbertElliott, LinkProfile
    from .relay import relay_main

    host, _, port = args.to.rpartition(":")
    if not host or not port.isdigit():
        raise SystemExit("emutcp relay: --to must be HOST:PORT")
    burst = None
    if args.burst:
        p, r = (float(x) for x in args.burst.split(","))
        burst = GilbertElliott(p=p, r=r)
    profile = LinkProfile(
        loss=args.loss,
        burst=burst,
        delay=parse_duration(args.delay),
        jitter=parse_duration(args.jitter),
        rate=parse_rate(args.rate) if args.rate else None,
        queue=args.queue,
        duplicate=args.duplicate,
        reorder=args.reorder,
        corrupt=args.corrupt,
    )
    sinks = _Sinks(args, directions=("out",))
    try:
        trio.run(
            lambda: relay_main(
                listen=(args.listen_address, args.listen),
                target=(host, int(port)),
                forward=profile,
                reverse=profile,
                seed=args.seed,
                duration=args.duration,
                as_json=args.json,
                observer=sinks.tracer,
            )
        )
    except KeyboardInterrupt:
        return 130
    finally:
        sinks.close()
    return 0


def _add_tcp_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--mss", type=int, help="maximum segment size (payload bytes)")
    p.add_argument("--congestion", help="congestion control algorithm (newreno, ...)")
    p.add_argument("--nodelay", action="store_true", help="disable Nagle's algorithm")
    _add_trace_options(p)
    p.add_argument("--json", action="store_true", help="machine-readable output")


def _add_trace_options(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--trace",
        nargs="?",
        const="-",
        metavar="FILE",
        help="transitions and segments: readable on stderr, or JSON Lines to FILE",
    )
    p.add_argument("--pcap", metavar="FILE", help="write segments as TCP packets (pcapng)")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="emutcp", description="TCP (RFC 9293) in Python over UDP: see it, run it, measure it."
    )
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("demo", help="the socket-call / state-diagram lab, live over loopback UDP")
    p.add_argument("--bytes", type=int, default=20_000_000, help="bulk transfer size")
    p.add_argument("--emulated-bytes", type=int, default=2_000_000)
    p.add_argument("--loss", type=float, default=0.02, help="emulated link loss rate")
    p.add_argument("--delay", type=float, default=0.02, help="emulated one-way delay (s)")
    p.add_argument("--no-emulated", action="store_true", help="skip the emulated-link part")
    p.add_argument("--json", action="store_true", help="print the timeline and results as JSON")
    p.add_argument("--diagram", metavar="PNG", help="draw both paths on the state diagram")
    _add_trace_options(p)
    p.set_defaults(func=cmd_demo)

    p = sub.add_parser("diagram", help="draw a trace's paths on the RFC 9293 state diagram")
    p.add_argument("trace_file", metavar="TRACE", help="a JSON Lines trace (--trace FILE)")
    p.add_argument("-o", "--output", default="diagram.png")
    p.add_argument("--json", action="store_true", help="print the paths drawn as JSON")
    p.set_defaults(func=cmd_diagram)

    p = sub.add_parser("serve", help="accept emutcp connections (netcat -l)")
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--address", default="0.0.0.0")
    mode = p.add_mutually_exclusive_group()
    mode.add_argument("--echo", dest="mode", action="store_const", const="echo")
    mode.add_argument("--discard", dest="mode", action="store_const", const="discard")
    mode.add_argument("--file", help="send this file to each client, then close")
    p.set_defaults(mode="print")
    p.add_argument("--once", action="store_true", help="serve one connection, then exit")
    p.add_argument("--stats", action="store_true", help="live connection table on stderr")
    _add_tcp_options(p)
    p.set_defaults(func=cmd_serve)

    p = sub.add_parser("connect", help="connect and copy stdin/stdout (netcat)")
    p.add_argument("host")
    p.add_argument("port", type=int)
    _add_tcp_options(p)
    p.set_defaults(func=cmd_connect)

    p = sub.add_parser("bench", help="iperf-like goodput to a host, or --local over loopback")
    p.add_argument("host", nargs="?")
    p.add_argument("port", nargs="?", type=int)
    p.add_argument("--local", action="store_true", help="benchmark over loopback UDP")
    p.add_argument("--seconds", type=float, default=5.0, help="send for this long")
    p.add_argument("--bytes", type=int, help="send exactly this many bytes instead")
    p.add_argument("--stats", action="store_true", help="live connection table on stderr")
    _add_tcp_options(p)
    p.set_defaults(func=cmd_bench)

    p = sub.add_parser("experiment", help="lossy-link sweeps in virtual time: tables, CSV, plots")
    p.add_argument("file", nargs="?", help="an experiment TOML file (benchmarks/experiments/)")
    p.add_argument("--name", default="experiment")
    p.add_argument(
        "--sweep",
        action="append",
        metavar="KEY=V1,V2",
        help="sweep a parameter, e.g. loss=0.005,0.01,0.02 (repeatable)",
    )
    p.add_argument(
        "--set",
        action="append",
        metavar="KEY=VALUE",
        help="set a parameter, e.g. rate=10mbit delay=25ms congestion=cubic",
    )
    p.add_argument("--seeds", type=int, help="repetitions per combination")
    p.add_argument("--duration", type=float, help="seconds per trial")
    p.add_argument("--processes", type=int, help="parallel trials (default: all cores)")
    p.add_argument("--out", default="experiment-results", help="directory for CSV/JSON/PNG")
    p.add_argument("--no-plots", action="store_true")
    p.add_argument(
        "--real",
        action="store_true",
        help="run over real loopback UDP through the relay, in real time",
    )
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_experiment)

    p = sub.add_parser("relay", help="a UDP impairment proxy (loss, delay, ...) between hosts")
    p.add_argument("--listen", type=int, required=True, help="UDP port clients send to")
    p.add_argument("--listen-address", default="0.0.0.0")
    p.add_argument("--to", required=True, help="HOST:PORT to forward to")
    p.add_argument("--loss", type=float, default=0.0, help="loss probability per datagram")
    p.add_argument("--burst", help="Gilbert-Elliott burst loss 'p,r'")
    p.add_argument("--delay", default="0", help="one-way delay, e.g. 40ms")
    p.add_argument("--jitter", default="0", help="delay jitter, e.g. 5ms")
    p.add_argument("--rate", help="bottleneck rate, e.g. 10mbit")
    p.add_argument("--queue", type=int, help="drop-tail queue length in packets")
    p.add_argument("--duplicate", type=float, default=0.0)
    p.add_argument("--reorder", type=float, default=0.0)
    p.add_argument("--corrupt", type=float, default=0.0)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--duration", type=float, help="stop after this many seconds")
    p.add_argument("--json", action="store_true", help="print per-direction counters at exit")
    _add_trace_options(p)
    p.set_defaults(func=cmd_relay)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return args.func(args)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
