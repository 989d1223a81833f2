"""Where a 1-byte echo and a bulk transfer over loopback UDP spend their time.

    python benchmarks/profile_loopback.py [echo|bulk|both] [--top 25]

Runs ``references.emutcp_echo`` (2,000 round trips, TCP_NODELAY) and a 20 MB
``loopback.emutcp_one_process`` transfer at MSS 1400 under cProfile and prints
the top functions by own time; also the CPU and wall seconds without the
profiler (the machine is shared: wall time includes waiting for a core).
"""

from __future__ import annotations

import argparse
import cProfile
import io
import pathlib
import pstats
import sys
import time

sys.path.insert(0, str(pathlib.Path(__file__).parent))

import loopback
import references


def _run(what: str) -> float:
    if what == "echo":
        return references.emutcp_echo(2000)
    return loopback.emutcp_one_process(20_000_000, 1400)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("what", nargs="?", default="both", choices=("echo", "bulk", "both"))
    ap.add_argument("--top", type=int, default=25)
    args = ap.parse_args()
    for what in ("echo", "bulk") if args.what == "both" else (args.what,):
        cpu, wall = time.process_time(), time.perf_counter()
        value = _run(what)
        cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
        unit = "us median round trip" if what == "echo" else "MB/s"
        print(f"{what}: {value:.1f} {unit}; {cpu:.2f} CPU s in {wall:.2f} wall s (no profiler)")
        prof = cProfile.Profile()
        prof.enable()
        _run(what)
        prof.disable()
        out = io.StringIO()
        pstats.Stats(prof, stream=out).sort_stats("tottime").print_stats(args.top)
        print(out.getvalue())


if __name__ == "__main__":
    main()
