"""Where a 1-byte echo and a bulk transfer over loopback UDP spend their time.

    python benchmarks/profile_loopback.py [echo|bulk|both] [--top 25] [--rounds 2000]

Runs ``loopback.emutcp_echo`` (``--rounds`` round trips, TCP_NODELAY, both
ends in one trio run) and a 20 MB ``loopback.emutcp_one_process`` transfer at
MSS 1400 under cProfile and prints the top functions by own time; also the
CPU and wall seconds without the profiler (the machine is shared: wall time
includes waiting for a core), and for the echo what one round costs: endpoint
flushes, output passes (``segments_to_send`` calls), datagrams, trio
scheduler batches and task steps, and the time spent inside the core's
entry points (``Mux.receive_datagram``, ``datagrams_to_send_ecn``, timers,
``Connection.send``/``receive``) against the CPU time, counted in a separate
run; for the bulk transfer, what receive-side coalescing (core/coalesce.py)
did: wire segments in, segments the receiver's core processed, ACKs it sent.
"""

from __future__ import annotations

import argparse
import collections
import contextlib
import cProfile
import io
import os
import pathlib
import pstats
import sys
import time
from collections.abc import Iterator
from typing import Any

sys.path.insert(0, str(pathlib.Path(__file__).parent))

import loopback
import trio

import emutcp
from emutcp.core.connection import Connection
from emutcp.core.mux import Mux
from emutcp.core.output import Output
from emutcp.endpoint import Endpoint
from emutcp.lab.bulk import bulk_transfer


def _run(what: str, rounds: int) -> float:
    if what == "echo":
        return loopback.emutcp_echo(rounds)[0]
    return loopback.emutcp_one_process(20_000_000, 1400)


@contextlib.contextmanager
def counting() -> Iterator[collections.Counter[str]]:
    """Count endpoint flushes, output passes and segments, and trio's task
    steps, while the block runs (wrappers: a separate run from the timed one)."""
    counts: collections.Counter[str] = collections.Counter()
    flush, passes = Endpoint.flush, Output.segments_to_send

    def counted_flush(self: Endpoint, now: float | None = None) -> None:
        counts["endpoint flushes"] += 1
        flush(self, now)

    def counted_pass(self: Output, now: float) -> list:
        counts["output passes"] += 1
        out = passes(self, now)
        counts["segments"] += len(out)
        return out

    class Steps(trio.abc.Instrument):
        def before_task_step(self, task: object) -> None:
            counts["task steps"] += 1

        def after_io_wait(self, timeout: float) -> None:
            counts["scheduler batches"] += 1

    core: dict[tuple[type, str], object] = {}
    clock = time.perf_counter

    def timed(cls: type, name: str) -> None:
        fn = core[(cls, name)] = getattr(cls, name)

        def wrapper(*args: object, **kwargs: object) -> object:
            t0 = clock()
            try:
                return fn(*args, **kwargs)  # type: ignore[operator]
            finally:
                counts["us in the core (wrapped, approximate)"] += (clock() - t0) * 1e6

        setattr(cls, name, wrapper)

    Endpoint.flush, Output.segments_to_send = counted_flush, counted_pass  # type: ignore[method-assign]
    # The core's entry points the shell calls (their time includes the wrapper's).
    for name in ("receive_datagram", "datagrams_to_send_ecn", "get_timer", "handle_timer"):
        timed(Mux, name)
    for name in ("send", "receive"):
        timed(Connection, name)
    steps = Steps()
    original_run = trio.run
    trio.run = lambda *a, **k: original_run(*a, instruments=[steps], **k)  # type: ignore[assignment]
    cpu = time.process_time()
    try:
        yield counts
    finally:
        counts["us of CPU"] += (time.process_time() - cpu) * 1e6
        Endpoint.flush, Output.segments_to_send = flush, passes  # type: ignore[method-assign]
        for (cls, name), fn in core.items():
            setattr(cls, name, fn)
        trio.run = original_run


def per_round(rounds: int) -> dict[str, float]:
    """What one echo round costs, counted over ``rounds`` rounds (setup included,
    a few steps in all)."""
    with counting() as counts:
        loopback.emutcp_echo(rounds)
    return {k: v / rounds for k, v in counts.items()}


def coalescing() -> dict[str, float]:
    """The receiving side of one bulk transfer: wire data segments in, segments
    its core processed (a merged run is one), ACKs sent (a separate run).  The
    endpoints are recorded through a host subclass, which works on both builds;
    the ACK count patches ``Connection`` and so needs the pure build."""
    endpoints: list[Endpoint] = []
    conns: list[Connection] = []
    conn_init = Connection.__init__

    class RecordingHost(emutcp.UdpHost):
        def _new_endpoint(self, transport: Any, config: emutcp.Config) -> Endpoint:
            endpoints.append(super()._new_endpoint(transport, config))
            return endpoints[-1]

    def conn_recording(self: Connection, *a: object, **k: object) -> None:
        conn_init(self, *a, **k)  # type: ignore[arg-type]
        conns.append(self)

    Connection.__init__ = conn_recording  # type: ignore[method-assign]
    try:
        data = os.urandom(20_000_000)
        config = emutcp.Config(mss=1400, send_buffer=1 << 20, recv_buffer=1 << 20)
        host = RecordingHost(config=config)
        assert trio.run(bulk_transfer, host, host, data).intact
    finally:
        Connection.__init__ = conn_init  # type: ignore[method-assign]
    rx = max(endpoints, key=lambda ep: ep.mux.stats["segments_in"])
    wire = rx.mux.stats["segments_in"]
    merged = rx.coalescer.merged if rx.coalescer is not None else 0
    counts = {
        "wire segments in": wire,
        "core segments in": wire - merged,
        "merged runs": rx.coalescer.runs if rx.coalescer is not None else 0,
    }
    if conns:  # the pure build: Connection could be patched
        counts["ACKs sent"] = max(conns, key=lambda c: c.stats.bytes_received).stats.segments_sent
    return counts


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("what", nargs="?", default="both", choices=("echo", "bulk", "both"))
    ap.add_argument("--top", type=int, default=25)
    ap.add_argument("--rounds", type=int, default=2000)
    args = ap.parse_args()
    for what in ("echo", "bulk") if args.what == "both" else (args.what,):
        cpu, wall = time.process_time(), time.perf_counter()
        value = _run(what, args.rounds)
        cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
        unit = "us median round trip" if what == "echo" else "MB/s"
        print(f"{what}: {value:.1f} {unit}; {cpu:.2f} CPU s in {wall:.2f} wall s (no profiler)")
        if what == "echo":
            print(f"  CPU per round trip: {cpu / args.rounds * 1e6:.0f} us (both ends)")
            counts = per_round(args.rounds)
            print("  per round: " + ", ".join(f"{v:.2f} {k}" for k, v in sorted(counts.items())))
        else:
            counts = coalescing()
            print("  receiver: " + ", ".join(f"{v:,.0f} {k}" for k, v in counts.items()))
        prof = cProfile.Profile()
        prof.enable()
        _run(what, args.rounds)
        prof.disable()
        out = io.StringIO()
        pstats.Stats(prof, stream=out).sort_stats("tottime").print_stats(args.top)
        print(out.getvalue())


if __name__ == "__main__":
    main()
