"""Loopback benchmarks: emutcp goodput next to the raw UDP ceiling, measured in one run.

    python benchmarks/loopback.py [--runs 5] [--bytes 50000000] [--quick]

Prints a table of medians (and min/max) over ``--runs`` runs and writes JSON to
benchmarks/results/loopback.json.  Rows:

* raw UDP ceiling: one plain non-blocking socket sending datagrams of the
  same size to another, drained in a loop until it would block (one process),
  and the same with the receiver in a second process;
* emutcp bulk goodput client -> server, sha256-checked, in one process (both
  endpoints in one trio run) and across two processes (`emutcp serve`);
* 1,000 idle connections on one listener: memory per connection in the server
  process (tracemalloc) and connection setup rate.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import json
import os
import pathlib
import resource
import socket
import statistics
import struct
import subprocess
import sys
import time

import trio

import emutcp
from emutcp.lab.bulk import bulk_transfer

RESULTS = pathlib.Path(__file__).parent / "results"
OVERHEAD = 40  # emutcp framing per datagram (bytes), roughly
# Linux UDP segmentation offload (see emutcp/transport/udp.py).
SOL_UDP, UDP_SEGMENT, UDP_GRO, IP_MTU = 17, 103, 104, 14


def path_mss() -> int:
    """The loopback path MSS: lo's MTU (IP_MTU of a connected socket) less the IP,
    UDP and emutcp headers, capped at what Config.mss accepts (65,000)."""
    from emutcp.core.segment import segment_overhead

    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        probe.connect(("127.0.0.1", 9))
        try:
            mtu = probe.getsockopt(socket.IPPROTO_IP, IP_MTU)
        except OSError:
            mtu = 65_535
    return min(65_000, mtu - 20 - 8 - segment_overhead())


def raw_udp_gso_one_process(size: int, seconds: float = 1.0) -> float | None:
    """As ``raw_udp_one_process``, the sender handing runs of datagrams to the kernel
    as one GSO ``sendmsg`` (64 KiB at most) and the receiver reading with GRO;
    None where the system has no UDP GSO."""
    per = min(64, 65_000 // size)
    if not sys.platform.startswith("linux") or per < 2:
        return None
    rx = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    rx.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
    rx.bind(("127.0.0.1", 0))
    rx.setblocking(False)
    tx = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        rx.setsockopt(SOL_UDP, UDP_GRO, 1)
        tx.connect(rx.getsockname())
        tx.setblocking(False)
        chunks = [os.urandom(size)] * per
        cmsg = [(SOL_UDP, UDP_SEGMENT, struct.pack("=H", size))]
        buf = bytearray(65_536)
        space = socket.CMSG_SPACE(4)
        received = 0
        t0 = time.perf_counter()
        deadline = t0 + seconds
        while time.perf_counter() < deadline:
            for _ in range(4):
                try:
                    tx.sendmsg(chunks, cmsg)
                except BlockingIOError:
                    break
            while True:
                try:
                    received += rx.recvmsg_into([buf], space)[0]
                except BlockingIOError:
                    break
        elapsed = time.perf_counter() - t0
    except OSError:
        return None
    finally:
        tx.close()
        rx.close()
    return received / elapsed / 1e6


def raw_udp_one_process(size: int, seconds: float = 1.0) -> float:
    """MB/s of payload through a plain non-blocking UDP socket pair, drained in a loop."""
    rx = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    rx.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
    rx.bind(("127.0.0.1", 0))
    rx.setblocking(False)
    tx = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    tx.connect(rx.getsockname())
    tx.setblocking(False)
    payload = os.urandom(size)
    received = 0
    t0 = time.perf_counter()
    deadline = t0 + seconds
    while time.perf_counter() < deadline:
        for _ in range(64):
            try:
                tx.send(payload)
            except BlockingIOError:
                break
        while True:
            try:
                received += len(rx.recv(65536))
            except BlockingIOError:
                break
    elapsed = time.perf_counter() - t0
    tx.close()
    rx.close()
    return received / elapsed / 1e6


_RAW_RECEIVER = r"""
import socket, sys, time
rx = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
rx.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
rx.bind(("127.0.0.1", 0))
print(rx.getsockname()[1], flush=True)
rx.settimeout(2.0)
total = 0
t0 = None
try:
    while True:
        n = len(rx.recv(65536))
        if t0 is None:
            t0 = time.perf_counter()
        total += n
        t1 = time.perf_counter()
except socket.timeout:
    pass
print(total / (t1 - t0) / 1e6 if t0 and t1 > t0 else 0.0, flush=True)
"""


def raw_udp_two_processes(size: int, seconds: float = 1.0) -> float:
    proc = subprocess.Popen(
        [sys.executable, "-c", _RAW_RECEIVER], stdout=subprocess.PIPE, text=True
    )
    port = int(proc.stdout.readline())
    tx = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    tx.connect(("127.0.0.1", port))
    payload = os.urandom(size)
    deadline = time.perf_counter() + seconds
    while time.perf_counter() < deadline:
        with contextlib.suppress(OSError):
            tx.send(payload)
    tx.close()
    rate = float(proc.stdout.readline())
    proc.wait()
    return rate


async def _emutcp_one_process(data: bytes, mss: int) -> float:
    config = emutcp.Config(
        mss=mss, send_buffer=max(1 << 20, 8 * mss), recv_buffer=max(1 << 20, 8 * mss)
    )
    host = emutcp.UdpHost(config=config)
    r = await bulk_transfer(host, host, data)
    assert r.intact, "corrupted transfer"
    return r.wall_goodput_Bps / 1e6


def emutcp_one_process(nbytes: int, mss: int) -> float:
    return trio.run(_emutcp_one_process, os.urandom(nbytes), mss)


def emutcp_one_process_cpu(nbytes: int, mss: int) -> tuple[float, float]:
    """(MB/s, CPU seconds per GB moved) of one in-process transfer: the CPU of
    both ends, so it is not inflated by waiting for a core on a busy machine.  The
    payload is made before the clock starts (os.urandom costs about 2.5 s per GB)."""
    data = os.urandom(nbytes)
    cpu = time.process_time()
    rate = trio.run(_emutcp_one_process, data, mss)
    return rate, (time.process_time() - cpu) / (nbytes / 1e9)


async def _round_trips(ping, rounds: int) -> tuple[float, float]:
    samples = []
    for _ in range(rounds):
        t0 = time.perf_counter()
        await ping()
        samples.append(time.perf_counter() - t0)
    return _summary(samples)


def _summary(samples: list[float]) -> tuple[float, float]:
    """(median, p99) of round-trip times in seconds, as microseconds."""
    samples = sorted(samples)
    return statistics.median(samples) * 1e6, samples[int(0.99 * (len(samples) - 1))] * 1e6


@contextlib.asynccontextmanager
async def _udp_echo_ping():
    """Two trio UDP sockets, one echoing: yields a 1-byte round trip from the other."""
    a = trio.socket.socket(trio.socket.AF_INET, trio.socket.SOCK_DGRAM)
    b = trio.socket.socket(trio.socket.AF_INET, trio.socket.SOCK_DGRAM)
    await a.bind(("127.0.0.1", 0))
    await b.bind(("127.0.0.1", 0))
    await a.connect(b.getsockname())

    async def echo():
        while True:
            data, addr = await b.recvfrom(64)
            await b.sendto(data, addr)

    async def ping():
        await a.send(b"x")
        await a.recv(64)

    async with trio.open_nursery() as nursery:
        nursery.start_soon(echo)
        yield ping
        nursery.cancel_scope.cancel()
    a.close()
    b.close()


@contextlib.asynccontextmanager
async def _emutcp_echo_ping():
    """An emutcp echo server and a client (TCP_NODELAY) in this run: yields the
    client's 1-byte round trip; on exit the client closes and the server ends."""
    host = emutcp.UdpHost(config=emutcp.Config(nodelay=True))
    listener = host.socket()
    await listener.bind(("127.0.0.1", 0))
    listener.listen(1)

    async def echo():
        conn, _ = await listener.accept()
        while data := await conn.recv(64):
            await conn.sendall(data)
        conn.close()

    async with trio.open_nursery() as nursery:
        nursery.start_soon(echo)
        client = host.socket()
        await client.connect(listener.getsockname())

        async def ping():
            await client.sendall(b"x")
            await client.recv(64)

        yield ping
        client.close()
    listener.close()


async def _udp_ping_pong(rounds: int) -> tuple[float, float]:
    async with _udp_echo_ping() as ping:
        return await _round_trips(ping, rounds)


def udp_ping_pong(rounds: int = 2000) -> tuple[float, float]:
    """(median, p99) microseconds of a 1-byte round trip between two trio UDP sockets."""
    return trio.run(_udp_ping_pong, rounds)


async def _emutcp_echo(rounds: int) -> tuple[float, float]:
    async with _emutcp_echo_ping() as ping:
        return await _round_trips(ping, rounds)


def emutcp_echo(rounds: int = 2000) -> tuple[float, float]:
    """(median, p99) microseconds of a 1-byte emutcp echo round trip (TCP_NODELAY)."""
    return trio.run(_emutcp_echo, rounds)


async def _interleaved(pings, rounds: int, block: int) -> list[tuple[float, float]]:
    """Round trips of each of ``pings`` in alternating blocks of ``block``,
    ``rounds`` each: this VM's speed drifts by 2x within minutes, and figures
    measured minutes apart would compare two machines, not two stacks."""
    samples: list[list[float]] = [[] for _ in pings]
    for ping in pings:  # warm-up: connections, caches, descriptors
        for _ in range(block):
            await ping()
    clock = time.perf_counter
    for _ in range(max(1, rounds // block)):
        for ping, out in zip(pings, samples, strict=True):
            for _ in range(block):
                t0 = clock()
                await ping()
                out.append(clock() - t0)
    return [_summary(s) for s in samples]


async def _echo_and_ping_pong(rounds: int, block: int) -> tuple[float, float, float, float, float]:
    async with _udp_echo_ping() as udp_ping, _emutcp_echo_ping() as emutcp_ping:
        (pp, pp99), (echo, echo99) = await _interleaved([udp_ping, emutcp_ping], rounds, block)
    return pp, pp99, echo, echo99, echo / pp


def echo_and_ping_pong(
    rounds: int = 2000, block: int = 100
) -> tuple[float, float, float, float, float]:
    """(ping-pong median, p99, emutcp echo median, p99, echo median / ping-pong
    median) in microseconds: a 1-byte round trip between two trio UDP sockets
    and over emutcp (TCP_NODELAY), all in one trio run, measured in alternating
    blocks (``_interleaved``)."""
    return trio.run(_echo_and_ping_pong, rounds, block)


def echo_and_ping_pong_two_processes(
    rounds: int = 2000, block: int = 100
) -> tuple[float, float, float, float, float]:
    """As ``echo_and_ping_pong``, each echoing end in a process of its own."""
    udp_server, udp_port = _echo_server("udp")
    emutcp_server, emutcp_port = _echo_server("emutcp")

    async def client() -> tuple[float, float, float, float, float]:
        sock = trio.socket.socket(trio.socket.AF_INET, trio.socket.SOCK_DGRAM)
        await sock.connect(("127.0.0.1", udp_port))
        conn = emutcp.socket(config=emutcp.Config(nodelay=True))
        await conn.connect(("127.0.0.1", emutcp_port))

        async def udp_ping():
            await sock.send(b"x")
            await sock.recv(64)

        async def emutcp_ping():
            await conn.sendall(b"x")
            await conn.recv(64)

        (pp, pp99), (echo, echo99) = await _interleaved([udp_ping, emutcp_ping], rounds, block)
        sock.close()
        conn.close()
        with trio.move_on_after(5):
            await conn.wait_closed()  # the server's FIN acknowledged: it can exit
        return pp, pp99, echo, echo99, echo / pp

    try:
        return trio.run(client)
    finally:
        udp_server.kill()
        udp_server.wait()
        try:
            emutcp_server.wait(timeout=10)
        except subprocess.TimeoutExpired:
            emutcp_server.kill()
            emutcp_server.wait()


_ECHO_SERVER = r"""
import sys, trio, emutcp
async def main():
    if sys.argv[1] == "udp":  # the reference: a trio UDP socket echoing datagrams
        sock = trio.socket.socket(trio.socket.AF_INET, trio.socket.SOCK_DGRAM)
        await sock.bind(("127.0.0.1", 0))
        print(sock.getsockname()[1], flush=True)
        while True:
            data, addr = await sock.recvfrom(64)
            await sock.sendto(data, addr)
    listener = emutcp.socket(config=emutcp.Config(nodelay=True))
    await listener.bind(("127.0.0.1", 0))
    listener.listen(1)
    print(listener.getsockname()[1], flush=True)
    conn, _ = await listener.accept()
    while data := await conn.recv(64):
        await conn.sendall(data)
    conn.close()
    with trio.move_on_after(5):
        await conn.wait_closed()
trio.run(main)
"""


def _echo_server(kind: str) -> tuple[subprocess.Popen, int]:
    proc = subprocess.Popen(
        [sys.executable, "-c", _ECHO_SERVER, kind], stdout=subprocess.PIPE, text=True
    )
    return proc, int(proc.stdout.readline())


def emutcp_two_processes(nbytes: int, mss: int) -> float:
    probe = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    probe.bind(("127.0.0.1", 0))
    port = probe.getsockname()[1]
    probe.close()
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "emutcp",
            "serve",
            "--port",
            str(port),
            "--address",
            "127.0.0.1",
            "--discard",
            "--once",
            "--json",
            "--mss",
            str(mss),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    server.stderr.readline()
    payload = os.urandom(nbytes)

    async def client() -> float:
        config = emutcp.Config(mss=mss, send_buffer=max(1 << 20, 8 * mss))
        sock = emutcp.socket(config=config)
        await sock.connect(("127.0.0.1", port))
        t0 = time.perf_counter()
        await sock.sendall(payload)
        sock.shutdown(emutcp.SHUT_WR)
        await sock.recv(1)
        elapsed = time.perf_counter() - t0
        sock.close()
        return nbytes / elapsed / 1e6

    rate = trio.run(client)
    out, _ = server.communicate(timeout=60)
    result = json.loads(out.strip().splitlines()[-1])
    assert result["sha256"] == hashlib.sha256(payload).hexdigest(), "corrupted transfer"
    return rate


_IDLE_SERVER = r"""
import sys, tracemalloc, trio, emutcp, json
N = int(sys.argv[1])
async def main():
    tracemalloc.start()
    listener = emutcp.socket()
    await listener.bind(("127.0.0.1", 0))
    listener.listen(N)
    base = tracemalloc.get_traced_memory()[0]
    print(listener.getsockname()[1], flush=True)
    conns = []
    while len(conns) < N:
        conn, _ = await listener.accept()
        conns.append(conn)
    used = tracemalloc.get_traced_memory()[0] - base
    print(json.dumps({"bytes_per_connection": used / N}), flush=True)
    await trio.sleep(1)
trio.run(main)
"""


def idle_connections(n: int) -> dict:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, max(soft, 4 * n + 100)), hard))
    server = subprocess.Popen(
        [sys.executable, "-c", _IDLE_SERVER, str(n)], stdout=subprocess.PIPE, text=True
    )
    port = int(server.stdout.readline())

    async def clients() -> float:
        socks = []
        t0 = time.perf_counter()

        async def one():
            s = emutcp.socket()
            await s.connect(("127.0.0.1", port))
            socks.append(s)

        for start in range(0, n, 100):
            async with trio.open_nursery() as nursery:
                for _ in range(min(100, n - start)):
                    nursery.start_soon(one)
        rate = n / (time.perf_counter() - t0)
        line = await trio.to_thread.run_sync(server.stdout.readline)
        for s in socks:
            s.close()
        return rate, json.loads(line)

    rate, mem = trio.run(clients)
    server.wait(timeout=30)
    return {"setup_per_second": rate, "bytes_per_connection": mem["bytes_per_connection"]}


def summarize(samples: list[float]) -> dict:
    return {
        "median": statistics.median(samples),
        "min": min(samples),
        "max": max(samples),
        "runs": len(samples),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--bytes", type=int, default=50_000_000)
    ap.add_argument("--idle", type=int, default=1000, help="idle connections to open")
    ap.add_argument("--quick", action="store_true", help="1 run, 10 MB, 200 idle")
    args = ap.parse_args()
    if args.quick:
        args.runs, args.bytes, args.idle = 1, 10_000_000, 200

    from rich.console import Console
    from rich.table import Table

    console = Console()
    rows: dict[str, dict] = {}
    for mss in (1400, 60_000):
        size = mss + OVERHEAD
        with console.status(f"MSS {mss}: raw UDP ceiling"):
            rows[f"raw UDP {size} B, 1 process"] = summarize(
                [raw_udp_one_process(size) for _ in range(args.runs)]
            )
            rows[f"raw UDP {size} B, 2 processes"] = summarize(
                [raw_udp_two_processes(size) for _ in range(args.runs)]
            )
        with console.status(f"MSS {mss}: emutcp goodput"):
            rows[f"emutcp MSS {mss}, 1 process"] = summarize(
                [emutcp_one_process(args.bytes, mss) for _ in range(args.runs)]
            )
            rows[f"emutcp MSS {mss}, 2 processes"] = summarize(
                [emutcp_two_processes(args.bytes, mss) for _ in range(args.runs)]
            )
    with console.status(f"{args.idle} idle connections"):
        idle = idle_connections(args.idle)

    table = Table(title=f"emutcp over loopback UDP (medians of {args.runs} runs, MB/s)")
    table.add_column("measurement")
    table.add_column("median MB/s", justify="right")
    table.add_column("min-max", justify="right")
    table.add_column("vs raw UDP, same size", justify="right")
    for name, s in rows.items():
        ratio = ""
        if name.startswith("emutcp"):
            mss = int(name.split()[2].rstrip(","))
            procs = name.split(", ")[1]
            ref = rows[f"raw UDP {mss + OVERHEAD} B, {procs}"]["median"]
            ratio = f"{s['median'] / ref:.2f}x"
            s["ratio_to_raw_udp"] = s["median"] / ref
        table.add_row(name, f"{s['median']:.1f}", f"{s['min']:.1f}-{s['max']:.1f}", ratio)
    console.print(table)
    console.print(
        f"{args.idle} idle connections: {idle['bytes_per_connection'] / 1024:.1f} KiB per "
        f"connection (server process, tracemalloc), {idle['setup_per_second']:.0f} connections/s"
    )
    RESULTS.mkdir(exist_ok=True)
    out = {
        "bytes": args.bytes,
        "runs": args.runs,
        "rows": rows,
        "idle": idle,
        "when": time.strftime("%Y-%m-%dT%H:%M:%S"),
    }
    (RESULTS / "loopback.json").write_text(json.dumps(out, indent=2))
    console.print(f"wrote {RESULTS / 'loopback.json'}")


if __name__ == "__main__":
    main()
