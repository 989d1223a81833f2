"""The ``emutcp`` command line (also ``python -m emutcp``)."""

from __future__ import annotations

import argparse
import json
import os
import signal
import socket
import sys
from collections.abc import Awaitable, Callable
from typing import TypeVar

import trio

from ..core.algorithms import CONTROLLERS, check_name
from ..core.config import Config
from ..lab.units import parse_duration, parse_rate, parse_size
from ..transport.registry import UnknownTransport

T = TypeVar("T")


class UsageError(Exception):
    """A user error found after parsing: reported like argparse's (exit 2)."""


class Terminated(Exception):
    """SIGTERM arrived: leave as after Ctrl-C (exit 143, 128 + SIGTERM)."""


def run_until_signalled(main: Callable[[], Awaitable[object]]) -> None:
    """``trio.run(main)``, ended early by SIGTERM as Ctrl-C ends it.  Either way
    the run unwinds, so every open connection tells its peer (the endpoints
    reset what is still open as their tasks end) before the process exits."""

    async def guarded() -> None:
        async with trio.open_nursery() as nursery:

            async def watch() -> None:
                with trio.open_signal_receiver(signal.SIGTERM) as signals:
                    async for _ in signals:
                        raise Terminated

            nursery.start_soon(watch)
            await main()
            nursery.cancel_scope.cancel()

    trio.run(guarded)


# argparse types: a bad value is an argparse error naming the option (exit 2).


def _checked(
    parse: Callable[[str], T], valid: Callable[[T], bool], expected: str
) -> Callable[[str], T]:
    """An argparse ``type=``: ``parse`` the text, then insist on ``valid``."""

    def convert(text: str) -> T:
        try:
            value = parse(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected {expected}, got {text!r}") from None
        if not valid(value):
            raise argparse.ArgumentTypeError(f"expected {expected}, got {text!r}")
        return value

    return convert


port_number = _checked(int, lambda p: 0 <= p <= 65_535, "a port number (0-65535)")
positive_int = _checked(int, lambda n: n >= 1, "a whole number >= 1")
probability = _checked(float, lambda p: 0.0 <= p <= 1.0, "a probability in [0, 1]")
duration = _checked(parse_duration, lambda d: d >= 0, "a duration (40ms, 1.5s)")
rate = _checked(parse_rate, lambda r: r > 0, "a rate (10mbit, 500k)")
size = _checked(parse_size, lambda n: n >= 1, "a size (256K, 4M)")


def host_port(text: str) -> tuple[str, int]:
    host, _, port = text.rpartition(":")
    if not host:
        raise argparse.ArgumentTypeError(f"expected HOST:PORT, got {text!r}")
    return host.strip("[]"), port_number(port)


# ``emutcp serve`` reaps clients that vanished (SIGKILL, a pulled cable): after
# 5 s idle, 4 probes 3 s apart, so a dead client is gone within 17 s, and a
# live one answers every probe and stays.
SERVE_KEEPALIVE = "5,3,4"


def keepalive_triple(text: str) -> tuple[float, float, int]:
    if text.strip().lower() in ("off", "0", "no"):
        return (0.0, 0.0, 0)
    parts = text.split(",")
    if len(parts) != 3:
        raise argparse.ArgumentTypeError(
            f"expected IDLE,INTERVAL,COUNT (e.g. {SERVE_KEEPALIVE}) or off, got {text!r}"
        )
    idle, interval = duration(parts[0]), duration(parts[1])
    if interval <= 0:
        raise argparse.ArgumentTypeError("the probe interval must be > 0")
    return idle, interval, positive_int(parts[2])


def burst_pair(text: str) -> tuple[float, float]:
    parts = text.split(",")
    if len(parts) != 2:
        raise argparse.ArgumentTypeError(f"expected 'p,r' (two probabilities), got {text!r}")
    return probability(parts[0]), probability(parts[1])


class _Sinks:
    """The tracers ``--trace`` and ``--pcap`` ask for, closed at exit."""

    def __init__(self, args, *, directions=("in", "out")) -> None:
        from ..pcap import PcapWriter
        from ..trace import JsonlTrace, TextTrace, tee

        self.closers: list[JsonlTrace | PcapWriter | TextTrace] = []
        trace: JsonlTrace | TextTrace | None = None
        pcap = None
        target = getattr(args, "trace", None)
        if target == "-":  # readable, on stderr (metrics samples go to a FILE only)
            trace = TextTrace(sys.stderr, raw_seq=getattr(args, "raw_seq", False))
        elif target:
            jsonl = JsonlTrace(target)
            self.closers.append(jsonl)
            trace = jsonl
        if getattr(args, "pcap", None):
            pcap = PcapWriter(args.pcap, directions=directions)
            self.closers.append(pcap)
        self.tracer = tee(trace, pcap)

    def close(self) -> None:
        for c in self.closers:
            c.close()


def host_maker(args) -> Callable[..., object] | None:
    """The ``Host`` builder ``--transport NAME`` asks for (None: the default,
    real UDP).  Builds the plugin's factory now, outside trio: a TUN device is
    created here and removed when the process exits."""
    name = getattr(args, "transport", None) or "udp"
    if name == "udp" and not getattr(args, "tun_net", None):
        return None
    from ..core.segment import plausible_segment
    from ..host import Host
    from ..transport import registry

    plugin = registry.load(name)  # UnknownTransport: one line, exit 2 (main)
    options = registry.TransportOptions(
        accept=plausible_segment, network=args.tun_net, mtu=getattr(args, "tun_mtu", None)
    )
    try:
        factory = plugin(options)
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    return lambda **kwargs: Host(transport=factory, **kwargs)


def congestion_name(text: str) -> str:
    """argparse type: a known congestion control name, else a usage error."""
    try:
        check_name(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    return text


def config_from_args(args) -> Config:
    changes = {}
    for name in ("mss", "congestion"):
        value = getattr(args, name, None)
        if value is not None:
            changes[name] = value
    if getattr(args, "nodelay", False):
        changes["nodelay"] = True
    if getattr(args, "window", None):  # -w: both socket buffers, as iperf3
        changes["send_buffer"] = changes["recv_buffer"] = args.window
    keepalive = getattr(args, "keepalive", None)
    if keepalive is not None:  # (idle, interval, count); idle 0: off
        idle, interval, count = keepalive
        changes.update(
            keepalive=idle > 0,
            keepalive_idle=idle or Config().keepalive_idle,
            keepalive_interval=interval,
            keepalive_count=count,
        )
    from ..core.congestion import CONTROLLERS

    if changes.get("congestion", "newreno") not in CONTROLLERS:
        known = ", ".join(sorted(CONTROLLERS))
        raise UsageError(f"unknown congestion control {changes['congestion']!r} (known: {known})")
    try:
        return Config(**changes)
    except ValueError as exc:  # a buffer below one MSS
        raise UsageError(str(exc)) from None


def cmd_demo(args) -> int:
    from . import demo

    timeline = demo.Timeline(step=args.step)
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
    if args.step:
        print(f"\nclient path: {' -> '.join(paths['client'])}")
        print(f"server path: {' -> '.join(paths['server'])}")
        sys.stdout.flush()
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

    make_host = host_maker(args)
    sinks = _Sinks(args)
    trace = sinks.tracer
    mode = "file" if args.file else args.mode
    try:
        run_until_signalled(
            lambda: serve_main(
                port=args.port,
                address=args.address,
                mode=mode,
                file=args.file,
                once=args.once,
                as_json=args.json,
                config=config_from_args(args),
                trace=trace,
                stats=args.stats,
                make_host=make_host,
            )
        )
    finally:
        sinks.close()
    return 0


def cmd_connect(args) -> int:
    from .netcat import connect_main

    make_host = host_maker(args)
    sinks = _Sinks(args)
    trace = sinks.tracer
    try:
        run_until_signalled(
            lambda: connect_main(
                host_name=args.host,
                port=args.port,
                as_json=args.json,
                config=config_from_args(args),
                trace=trace,
                make_host=make_host,
            )
        )
    finally:
        sinks.close()
    return 0


def cmd_diagram(args) -> int:
    from ..trace import read_jsonl
    from .diagram import choose, connections, draw, paths_from_trace

    records = read_jsonl(args.trace_file)
    conns = connections(records)
    if args.list:
        if args.json:
            print(json.dumps(conns))
        for c in [] if args.json else conns:
            mark = "*" if c is choose(conns) else " "
            print(
                f"{mark}{c['index']:3d}  {c['role']:<6} {c['local']} <-> {c['remote']}  "
                f"{' -> '.join(c['states'])}  ({c['end']})"
            )
        return 0
    if args.connection is not None and choose(conns, args.connection) is None:
        raise UsageError(f"no connection {args.connection!r} in {args.trace_file} (see --list)")
    paths = paths_from_trace(records, args.connection)
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
        try:
            exp = load_experiment(args.file)
        except ValueError as exc:  # tomllib.TOMLDecodeError and bad keys
            raise UsageError(f"{args.file}: {exc}") from None
    else:
        exp = {"name": args.name, "base": {}, "sweep": {}, "seeds": 3}
    try:
        for item in args.set or []:
            key, _, value = item.partition("=")
            exp["base"][key] = coerce(key, value)
        for item in args.sweep or []:
            key, _, values = item.partition("=")
            exp["sweep"][key] = [coerce(key, v) for v in values.split(",")]
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    if args.seeds is not None:
        exp["seeds"] = args.seeds
    if args.duration is not None:
        exp["base"]["duration"] = args.duration
    if args.engine is not None:
        exp["base"]["engine"] = args.engine
    if args.real:
        exp["name"] += "-real"
    if args.real and (args.pcap_dir or args.trace_dir):
        raise UsageError("--pcap-dir and --trace-dir keep emulated trials (not --real)")
    exp["pcap_dir"], exp["trace_dir"] = args.pcap_dir, args.trace_dir
    if args.cluster and args.real:
        raise UsageError("--cluster runs trials in virtual time; it does not combine with --real")
    from ..lab.cluster import ClusterError

    try:
        trials = run_sweep(
            exp,
            processes=args.processes,
            real=args.real,
            progress=not args.json,
            cluster=args.cluster,
            out_dir=args.out,
            resume=args.resume,
        )
    except ClusterError as exc:
        raise UsageError(str(exc)) from None
    rows = summarize(exp, trials)
    files = write_outputs(exp, trials, rows, args.out, plots=not args.no_plots)
    if args.json:
        print(json.dumps({"summary": rows, "files": files}, default=str))
    else:
        # Piped output gets room for every column (rich assumes 80 off a terminal).
        console = Console(width=None if sys.stdout.isatty() else 160)
        console.print(render_table(exp, rows))
        for f in files:
            console.print(f"wrote {f}")
    return 0


def cmd_bench(args) -> int:
    from .bench import bench_main, emulated_bench

    if args.emulated:
        args.local = True
    if not args.local and (args.host is None or args.port is None):
        raise UsageError("give HOST PORT, or --local")
    if args.interval <= 0:
        raise UsageError("-i must be > 0")
    make_host = host_maker(args)
    sinks = _Sinks(args)
    config = config_from_args(args)
    common = dict(
        seconds=args.seconds,
        nbytes=args.bytes,
        as_json=args.json,
        config=config,
        trace=sinks.tracer,
        streams=args.parallel,
        interval=args.interval,
        reverse=args.reverse,
    )
    try:
        if args.emulated:
            emulated_bench(
                **common,
                rate=args.rate,
                delay=args.delay,
                loss=args.loss,
                queue=args.queue,
                seed=args.seed,
            )
        else:
            run_until_signalled(
                lambda: bench_main(
                    host_name=None if args.local else args.host,
                    port=None if args.local else args.port,
                    stats=args.stats,
                    make_host=make_host,
                    **common,
                )
            )
    finally:
        sinks.close()
    return 0


def cmd_relay(args) -> int:
    from ..transport.link import GilbertElliott, LinkProfile
    from .relay import relay_main

    host, port = args.to
    burst = None
    if args.burst:
        p, r = args.burst
        burst = GilbertElliott(p=p, r=r)
    profile = LinkProfile(
        loss=args.loss,
        burst=burst,
        delay=args.delay,
        jitter=args.jitter,
        rate=args.rate,
        queue=args.queue,
        duplicate=args.duplicate,
        reorder=args.reorder,
        corrupt=args.corrupt,
        qdisc=args.qdisc,
    )
    sinks = _Sinks(args, directions=("out",))
    try:
        run_until_signalled(
            lambda: relay_main(
                listen=(args.listen_address, args.listen),
                target=(host, port),
                forward=profile,
                reverse=profile,
                seed=args.seed,
                duration=args.duration,
                as_json=args.json,
                observer=sinks.tracer,
                ecn=args.ecn,
                control=args.control,
            )
        )
    except BaseException as exc:
        if isinstance(_user_facing(exc), KeyboardInterrupt):
            print("emutcp relay: stopped", file=sys.stderr)
            return 0  # Ctrl-C is how a relay is stopped (its counters were printed)
        raise
    finally:
        sinks.close()
    return 0


def cmd_ss(args) -> int:
    from .ss import normalize_state, ss_main

    try:
        states = {normalize_state(s) for s in args.state} if args.state else None
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    if args.listening:
        states = {"LISTEN"}
    return ss_main(states=states, port=args.port, as_json=args.json, watch=args.watch)


def cmd_plot(args) -> int:
    from ..trace import read_jsonl

    try:
        from ..lab.plots import plot_trace
    except ImportError:
        print("emutcp plot: needs matplotlib (pip install 'emutcp[plot]')", file=sys.stderr)
        return 1
    try:
        records = read_jsonl(args.trace_file)
    except ValueError as exc:
        raise UsageError(f"{args.trace_file}: not a JSON Lines trace ({exc})") from None
    n = plot_trace(records, args.output, title=args.trace_file)
    if n == 0:
        print("emutcp plot: no metrics samples in that trace", file=sys.stderr)
        return 1
    print(f"emutcp: wrote {args.output} ({n} flows)", file=sys.stderr)
    return 0


def cmd_dissector(args) -> int:
    import shutil

    from ..dissector import LUA_NAME, lua_path, personal_plugin_dir

    path = lua_path()
    if args.install:
        target = os.path.join(personal_plugin_dir(), LUA_NAME)
        os.makedirs(os.path.dirname(target), exist_ok=True)
        shutil.copyfile(path, target)
        print(target)
        print("emutcp: installed; Wireshark and tshark load it at start", file=sys.stderr)
        return 0
    print(path)  # stdout: the path alone, for -X lua_script:$(emutcp dissector)
    print(
        f"live:      tshark -i lo -X lua_script:{path} -Y emutcp\n"
        f"Wireshark: copy it to {personal_plugin_dir()}/ (or: emutcp dissector --install)",
        file=sys.stderr,
    )
    return 0


def _add_tcp_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--mss", type=positive_int, help="maximum segment size (payload bytes)")
    p.add_argument(
        "-C",
        "--congestion",
        type=congestion_name,
        help="congestion control algorithm (as iperf3 -C): " + ", ".join(sorted(CONTROLLERS)),
    )
    p.add_argument("-w", "--window", type=size, help="socket buffer sizes, e.g. 256K (as iperf3)")
    p.add_argument("--nodelay", action="store_true", help="disable Nagle's algorithm")
    _add_trace_options(p)
    p.add_argument("--json", action="store_true", help="machine-readable output")


def _add_transport_options(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--transport",
        default="udp",
        metavar="NAME",
        help="carry segments over this transport plugin: udp (default), impaired, "
        "emulated, tun, or any installed in the emutcp.transports entry-point group",
    )
    p.add_argument(
        "--tun-net",
        metavar="NET",
        help="with --transport tun: the TUN device's subnet, e.g. 10.77.0.0/24 "
        "(the kernel gets .1, emutcp .2; needs root)",
    )
    p.add_argument(
        "--tun-mtu",
        type=_checked(int, lambda v: 1280 <= v <= 65_535, "an MTU in 1280..65535"),
        metavar="BYTES",
        help="the TUN device's MTU (default 1500); with a large one, raise --mss too",
    )


def _add_trace_options(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--trace",
        nargs="?",
        const="-",
        metavar="FILE",
        help="transitions and segments: readable on stderr, or JSON Lines to FILE",
    )
    p.add_argument("--pcap", metavar="FILE", help="write segments as TCP packets (pcapng)")
    p.add_argument(
        "--raw-seq", action="store_true", help="--trace: absolute sequence numbers, as on the wire"
    )


def _version() -> str:
    import emutcp

    return f"emutcp {emutcp.__version__} ({emutcp.BUILD})"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="emutcp", description="TCP (RFC 9293) in Python over UDP: see it, run it, measure it."
    )
    parser.add_argument("--version", action="version", version=_version())
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("demo", help="the socket-call / state-diagram lab, live over loopback UDP")
    p.add_argument("--bytes", type=positive_int, default=20_000_000, help="bulk transfer size")
    p.add_argument("--emulated-bytes", type=positive_int, default=2_000_000)
    p.add_argument("--loss", type=probability, default=0.02, help="emulated link loss rate")
    p.add_argument("--delay", type=duration, default=0.02, help="emulated one-way delay (s)")
    p.add_argument("--no-emulated", action="store_true", help="skip the emulated-link part")
    p.add_argument("--json", action="store_true", help="print the timeline and results as JSON")
    p.add_argument("--diagram", metavar="PNG", help="draw both paths on the state diagram")
    p.add_argument("--step", action="store_true", help="wait for Enter before each socket call")
    _add_trace_options(p)
    p.set_defaults(func=cmd_demo)

    p = sub.add_parser("diagram", help="draw a trace's paths on the RFC 9293 state diagram")
    p.add_argument("trace_file", metavar="TRACE", help="a JSON Lines trace (--trace FILE)")
    p.add_argument("-o", "--output", default="diagram.png")
    p.add_argument("--list", action="store_true", help="list the trace's connections (* = default)")
    p.add_argument(
        "--connection",
        "-c",
        metavar="N|HOST:PORT",
        help="draw this connection (an index from --list, or an address of either end); "
        "default: the first that reached ESTABLISHED",
    )
    p.add_argument("--json", action="store_true", help="print the paths drawn as JSON")
    p.set_defaults(func=cmd_diagram)

    p = sub.add_parser("serve", help="accept emutcp connections (netcat -l)")
    p.add_argument("--port", type=port_number, required=True)
    p.add_argument("--address", default="0.0.0.0")
    mode = p.add_mutually_exclusive_group()
    mode.add_argument("--echo", dest="mode", action="store_const", const="echo")
    mode.add_argument("--discard", dest="mode", action="store_const", const="discard")
    mode.add_argument("--file", help="send this file to each client, then close")
    p.set_defaults(mode="print")
    p.add_argument("--once", action="store_true", help="serve one connection, then exit")
    p.add_argument(
        "--keepalive",
        type=keepalive_triple,
        default=keepalive_triple(SERVE_KEEPALIVE),
        metavar="IDLE,INTERVAL,COUNT",
        help=f"probe idle clients and drop dead ones (default {SERVE_KEEPALIVE}: "
        "gone within 17 s); 'off' to disable",
    )
    p.add_argument("--stats", action="store_true", help="live connection table on stderr")
    _add_tcp_options(p)
    _add_transport_options(p)
    p.set_defaults(func=cmd_serve)

    p = sub.add_parser("connect", help="connect and copy stdin/stdout (netcat)")
    p.add_argument("host")
    p.add_argument("port", type=port_number)
    _add_tcp_options(p)
    _add_transport_options(p)
    p.set_defaults(func=cmd_connect)

    p = sub.add_parser("bench", help="iperf-like goodput to a host, or --local over loopback")
    p.add_argument("host", nargs="?")
    p.add_argument("port", nargs="?", type=port_number)
    p.add_argument("--local", action="store_true", help="benchmark over loopback UDP")
    p.add_argument("-t", "--seconds", type=duration, default=5.0, help="send for this long")
    p.add_argument("--bytes", "-n", type=size, help="send exactly this many bytes instead")
    p.add_argument("-P", "--parallel", type=positive_int, default=1, help="parallel streams")
    p.add_argument("-i", "--interval", type=duration, default=1.0, help="seconds per report")
    p.add_argument("-R", "--reverse", action="store_true", help="the server sends")
    p.add_argument("--stats", action="store_true", help="live connection table on stderr")
    p.add_argument(
        "--emulated", action="store_true", help="--local on an emulated link, in virtual time"
    )
    p.add_argument("--rate", type=rate, default=10e6, help="--emulated link rate")
    p.add_argument("--delay", type=duration, default=0.01, help="--emulated one-way delay")
    p.add_argument("--loss", type=probability, default=0.0, help="--emulated loss rate")
    p.add_argument("--queue", type=positive_int, help="--emulated queue, packets (default 1 BDP)")
    p.add_argument("--seed", type=int, default=0, help="--emulated seed")
    _add_tcp_options(p)
    _add_transport_options(p)
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
    p.add_argument("--seeds", type=positive_int, help="repetitions per combination")
    p.add_argument("--duration", type=duration, help="seconds per trial")
    p.add_argument("--processes", type=positive_int, help="parallel trials (default: all cores)")
    p.add_argument(
        "--engine",
        choices=("sim", "trio"),
        help="sim: the discrete-event engine (default, fast); trio: the emulated network",
    )
    p.add_argument(
        "--cluster",
        metavar="ADDRESS",
        help="run the trials on Dask: tcp://HOST:8786 (a running scheduler) or local:N",
    )
    p.add_argument(
        "--resume",
        action="store_true",
        help="skip the trials already in OUT/NAME.trials.jsonl (an interrupted sweep)",
    )
    p.add_argument("--out", default="experiment-results", help="directory for CSV/JSON/PNG")
    p.add_argument("--no-plots", action="store_true")
    p.add_argument("--pcap-dir", metavar="DIR", help="keep a capture (pcapng) of each trial here")
    p.add_argument("--trace-dir", metavar="DIR", help="keep a JSON Lines trace of each trial here")
    p.add_argument(
        "--real",
        action="store_true",
        help="run over real loopback UDP through the relay, in real time",
    )
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_experiment)

    p = sub.add_parser("relay", help="a UDP impairment proxy (loss, delay, ...) between hosts")
    p.add_argument("--listen", type=port_number, required=True, help="UDP port clients send to")
    p.add_argument("--listen-address", default="0.0.0.0")
    p.add_argument("--to", type=host_port, required=True, help="HOST:PORT to forward to")
    p.add_argument("--loss", type=probability, default=0.0, help="loss probability per datagram")
    p.add_argument("--burst", type=burst_pair, help="Gilbert-Elliott burst loss 'p,r'")
    p.add_argument("--delay", type=duration, default=0.0, help="one-way delay, e.g. 40ms")
    p.add_argument("--jitter", type=duration, default=0.0, help="delay jitter, e.g. 5ms")
    p.add_argument("--rate", type=rate, help="bottleneck rate, e.g. 10mbit")
    p.add_argument("--queue", type=positive_int, help="queue length in packets")
    p.add_argument(
        "--qdisc",
        choices=("fifo", "red", "codel", "fq_codel", "pie"),
        help="queue discipline at the bottleneck (default: closed-form drop-tail)",
    )
    p.add_argument(
        "--ecn", action="store_true", help="carry the ECN field; the qdisc marks CE, not drops"
    )
    p.add_argument("--duplicate", type=probability, default=0.0)
    p.add_argument("--reorder", type=probability, default=0.0)
    p.add_argument("--corrupt", type=probability, default=0.0)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--duration", type=duration, help="stop after this many seconds")
    p.add_argument("--json", action="store_true", help="print per-direction counters at exit")
    p.add_argument(
        "--control",
        action="append",
        metavar="-|PATH",
        help="take live commands (loss 0.1, delay 50ms, down, up, show, help) from stdin (-) "
        "or a Unix socket PATH; repeatable",
    )
    _add_trace_options(p)
    p.set_defaults(func=cmd_relay)

    p = sub.add_parser("ss", help="every emutcp socket of your processes, like ss -tani")
    p.add_argument("--state", "-s", action="append", help="only this state (repeatable)")
    p.add_argument("--listening", "-l", action="store_true", help="only listeners")
    p.add_argument("--port", "-p", type=port_number, help="only sockets with this port")
    p.add_argument("--json", action="store_true", help="a JSON list of objects")
    p.add_argument(
        "--watch", nargs="?", const=1.0, type=duration, metavar="SECS", help="refresh until Ctrl-C"
    )
    p.set_defaults(func=cmd_ss)

    p = sub.add_parser("plot", help="cwnd, ssthresh, srtt and in-flight over time from a trace")
    p.add_argument("trace_file", metavar="TRACE", help="a JSON Lines trace (--trace FILE)")
    p.add_argument("-o", "--output", default="trace.png")
    p.set_defaults(func=cmd_plot)

    p = sub.add_parser("dissector", help="where the Wireshark Lua dissector for emutcp is")
    p.add_argument(
        "--install", action="store_true", help="copy it to your Wireshark Lua plugins folder"
    )
    p.set_defaults(func=cmd_dissector)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run one verb.  User errors never show a traceback: a bad argument is an
    argparse-style error (exit 2), a refused, reset or timed-out connection or
    a missing file one line on stderr (exit 1), Ctrl-C exit 130."""
    parser = build_parser()
    args = parser.parse_args(argv)
    verb = f"emutcp {args.command}"
    try:
        return int(args.func(args))
    except BaseException as exc:
        leaf = _user_facing(exc)
        if isinstance(leaf, KeyboardInterrupt):
            print(f"{verb}: interrupted", file=sys.stderr)
            return 130
        if isinstance(leaf, Terminated):
            print(f"{verb}: terminated", file=sys.stderr)
            return 128 + signal.SIGTERM
        if isinstance(leaf, UnknownTransport):  # one line naming the available ones
            print(f"{verb}: error: {leaf}", file=sys.stderr)
            return 2
        if isinstance(leaf, UsageError):
            print(f"usage: {verb} ... (see {verb} --help)", file=sys.stderr)
            print(f"{verb}: error: {leaf}", file=sys.stderr)
            return 2
        if isinstance(leaf, (OSError, *_NETWORK_ERRORS)):
            print(f"{verb}: {_describe(leaf)}", file=sys.stderr)
            return 1
        raise


# Raised by trio streams when the connection failed under them (reset, timeout).
_NETWORK_ERRORS = (trio.TooSlowError, trio.BrokenResourceError)


def _user_facing(exc: BaseException) -> BaseException | None:
    """The one error a user should hear about: ``exc`` itself, or the single
    user-facing leaf of an exception group (trio nurseries wrap errors)."""
    if isinstance(exc, BaseExceptionGroup):
        leaves = [_user_facing(e) for e in exc.exceptions]
        leaves = [e for e in leaves if e is not None]
        for kind in (KeyboardInterrupt, Terminated, UsageError, OSError, *_NETWORK_ERRORS):
            for leaf in leaves:
                if isinstance(leaf, kind):
                    return leaf
        return None
    if isinstance(exc, (KeyboardInterrupt, Terminated, UsageError, OSError, *_NETWORK_ERRORS)):
        return exc
    if isinstance(exc, UnknownTransport):
        return exc
    return None


def _describe(exc: BaseException) -> str:
    if isinstance(exc, socket.gaierror):
        return f"cannot resolve host name: {exc.strerror or exc}"
    if isinstance(exc, FileNotFoundError | PermissionError | IsADirectoryError):
        return f"{exc.strerror}: {exc.filename}"
    if isinstance(exc, trio.TooSlowError):
        return "timed out"
    if isinstance(exc, trio.BrokenResourceError) and isinstance(exc.__cause__, OSError):
        return _describe(exc.__cause__)
    return exc.strerror or str(exc) if isinstance(exc, OSError) and exc.strerror else str(exc)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
