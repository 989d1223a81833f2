"""User-space instructions per 1-byte echo round, emutcp against trio UDP ping-pong.

    python benchmarks/echo_instructions.py [--rounds 4000] [--syscalls]

Wall-clock figures on a shared 2-core VM drift by 2x within minutes; the
number of instructions a round executes does not.  This runs each echo (both
ends in one trio run, as ``loopback.echo_and_ping_pong``) under valgrind's
callgrind twice, with 200 and 200 + ``--rounds`` rounds, and divides the
difference, so start-up and imports cancel out.  What does not cancel is
what happens at some moment of one run and not the other (a collection of
the older generations, a timer firing): with 1,000 rounds one build read
458,000-505,000 per round across runs, with 4,000 and 8,000 rounds
424,000-437,000, hence the default.  It prints instructions per round for
emutcp and for trio's UDP ping-pong, their ratio, and on the mypyc-compiled
build the share spent inside the compiled core (its entry points called
from the interpreted shell).  ``--syscalls`` adds system calls per round
(``strace -c``), the part of a round callgrind does not see.

Callgrind runs the program about 50x slower, so emutcp's 5 ms hand-back grace
(``endpoint.HANDBACK_GRACE``) is stretched by the same factor in the child,
to keep its proportion to a round.  Needs ``valgrind`` (and ``strace`` for
``--syscalls``) on PATH: ``apt install valgrind strace``.
"""

from __future__ import annotations

import argparse
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

BASE_ROUNDS = 200
SLOWDOWN = 50  # callgrind's, roughly: the grace keeps its proportion to a round


def child(kind: str, rounds: int) -> None:
    import trio

    import emutcp
    from emutcp import endpoint

    grace = getattr(endpoint, "HANDBACK_GRACE", None)  # (builds before it had none)
    if grace is not None:
        endpoint.Endpoint.handback_grace = grace * SLOWDOWN

    async def ping_pong() -> None:
        a = trio.socket.socket(trio.socket.AF_INET, trio.socket.SOCK_DGRAM)
        b = trio.socket.socket(trio.socket.AF_INET, trio.socket.SOCK_DGRAM)
        await a.bind(("127.0.0.1", 0))
        await b.bind(("127.0.0.1", 0))
        await a.connect(b.getsockname())

        async def echo() -> None:
            while True:
                data, addr = await b.recvfrom(64)
                await b.sendto(data, addr)

        async with trio.open_nursery() as nursery:
            nursery.start_soon(echo)
            for _ in range(rounds):
                await a.send(b"x")
                await a.recv(64)
            nursery.cancel_scope.cancel()

    async def emutcp_echo() -> None:
        host = emutcp.UdpHost(config=emutcp.Config(nodelay=True))
        listener = host.socket()
        await listener.bind(("127.0.0.1", 0))
        listener.listen(1)

        async def echo() -> None:
            conn, _ = await listener.accept()
            while data := await conn.recv(64):
                await conn.sendall(data)

        async with trio.open_nursery() as nursery:
            nursery.start_soon(echo)
            client = host.socket()
            await client.connect(listener.getsockname())
            for _ in range(rounds):
                await client.sendall(b"x")
                await client.recv(64)
            client.close()
            nursery.cancel_scope.cancel()

    trio.run(emutcp_echo if kind == "emutcp" else ping_pong)


def _callgrind(kind: str, rounds: int, out: Path) -> int:
    run = subprocess.run(
        [
            "valgrind",
            "--tool=callgrind",
            f"--callgrind-out-file={out}",
            sys.executable,
            __file__,
            "--child",
            kind,
            "--rounds",
            str(rounds),
        ],
        capture_output=True,
        text=True,
    )
    if run.returncode:
        sys.exit(f"echo_instructions: the {kind} child failed:\n{run.stderr[-2000:]}")
    return int(re.search(r"Collected : (\d+)", run.stderr).group(1))  # type: ignore[union-attr]


def _core_entries(path: Path) -> int:
    """Instructions inside the compiled core's entry points (mypyc's CPyPy_
    wrappers: what the interpreted shell calls); 0 on the pure build."""
    text = subprocess.run(
        ["callgrind_annotate", "--inclusive=yes", "--threshold=100", str(path)],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    total = 0
    seen = set()
    for line in text.splitlines():
        m = re.match(r"\s*([\d,]+) \(.*?\)\s+\S*:(CPyPy_\w+)", line)
        if m and m.group(2) not in seen:
            seen.add(m.group(2))
            total += int(m.group(1).replace(",", ""))
    return total


def _syscalls(kind: str, rounds: int, directory: Path) -> dict[str, float]:
    counts = []
    for n in (BASE_ROUNDS, BASE_ROUNDS + rounds):
        out = directory / f"strace-{kind}-{n}"
        child_argv = [sys.executable, __file__, "--child", kind, "--rounds", str(n)]
        subprocess.run(
            ["strace", "-f", "-c", "-o", str(out), *child_argv],
            capture_output=True,
            check=True,
        )
        table = {}
        for line in out.read_text().splitlines():
            parts = line.split()
            if len(parts) >= 5 and parts[0][0].isdigit() and parts[-1] != "total":
                table[parts[-1]] = int(parts[3])
        counts.append(table)
    return {
        name: (counts[1][name] - counts[0].get(name, 0)) / rounds
        for name in counts[1]
        if counts[1][name] - counts[0].get(name, 0) > rounds // 20
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rounds", type=int, default=4000)
    ap.add_argument("--syscalls", action="store_true", help="also system calls per round")
    ap.add_argument("--child", choices=["emutcp", "ping-pong"], help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        child(args.child, args.rounds)
        return
    if shutil.which("valgrind") is None:
        sys.exit("echo_instructions: needs valgrind on PATH (apt install valgrind)")
    import emutcp

    per_round: dict[str, float] = {}
    core = 0.0
    with tempfile.TemporaryDirectory() as tmp:
        directory = Path(tmp)
        for kind in ("ping-pong", "emutcp"):
            files = [directory / f"{kind}-{n}.out" for n in (0, 1)]
            low = _callgrind(kind, BASE_ROUNDS, files[0])
            high = _callgrind(kind, BASE_ROUNDS + args.rounds, files[1])
            per_round[kind] = (high - low) / args.rounds
            if kind == "emutcp":
                core = (_core_entries(files[1]) - _core_entries(files[0])) / args.rounds
        print(f"user-space instructions per 1-byte echo round ({emutcp.BUILD}):")
        print(f"  trio UDP ping-pong  {per_round['ping-pong']:>10,.0f}")
        print(
            f"  emutcp echo         {per_round['emutcp']:>10,.0f}"
            f"  ({per_round['emutcp'] / per_round['ping-pong']:.2f}x ping-pong)"
        )
        if core:
            print(
                f"    inside the compiled core {core:,.0f} "
                f"({core / per_round['emutcp']:.0%}); the rest is the shell and trio"
            )
        if args.syscalls:
            if shutil.which("strace") is None:
                sys.exit("echo_instructions: --syscalls needs strace on PATH")
            for kind in ("ping-pong", "emutcp"):
                calls = _syscalls(kind, args.rounds, directory)
                listed = ", ".join(f"{k} {v:.1f}" for k, v in sorted(calls.items()))
                print(f"  system calls per round, {kind}: {sum(calls.values()):.1f} ({listed})")


if __name__ == "__main__":
    main()
