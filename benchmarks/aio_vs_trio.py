"""asyncio next to trio: the same emutcp shell under both loops, in one run.

    python benchmarks/aio_vs_trio.py [--runs 5] [--bytes 20000000] [--pings 500]

Rows (medians of ``--runs``, runs alternating between the loops; min-max shown):

* bulk goodput over loopback UDP, client -> server in one process,
  sha256-checked: trio streams (``emutcp.open_stream`` / ``SocketStream``)
  and asyncio streams (``emutcp.aio.open_connection`` / ``StreamWriter``);
* echo latency: 1-byte request, 1-byte reply, round trips over loopback UDP
  (median of ``--pings`` per run), through the same two faces;
* emulated-network simulation speed for each loop at the socket level with
  zero-delay links (CPU bound: trio in virtual time, asyncio in real time).

Writes benchmarks/results/aio_vs_trio.json.  Target (issue 18): asyncio
within 20 % of trio.  The machine is shared: compare figures of one run.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import os
import pathlib
import statistics
import time

import emutcp
from emutcp import aio

RESULTS = pathlib.Path(__file__).parent / "results"
CONFIG = emutcp.Config(mss=1400, send_buffer=1 << 20, recv_buffer=1 << 20)
CHUNK = 65_536


# ------------------------------------------------------------------- trio


async def trio_bulk(data: bytes) -> float:
    import trio

    host = emutcp.UdpHost(config=CONFIG)
    listener = (await host.open_listeners(0, address="127.0.0.1"))[0]
    port = listener.socket.getsockname()[1]
    digest = hashlib.sha256()
    async with trio.open_nursery() as nursery:

        async def receive() -> None:
            stream = await listener.accept()
            while chunk := await stream.receive_some(CHUNK):
                digest.update(chunk)
            await stream.aclose()

        nursery.start_soon(receive)
        client = await host.open_stream("127.0.0.1", port)
        t0 = time.perf_counter()
        await client.send_all(data)
        await client.send_eof()
    elapsed = time.perf_counter() - t0  # the receiver has read to EOF
    await client.aclose()
    await listener.aclose()
    assert digest.digest() == hashlib.sha256(data).digest(), "corrupted transfer"
    return len(data) / elapsed / 1e6


async def trio_echo(pings: int) -> float:
    import trio

    host = emutcp.UdpHost(config=CONFIG.replace(nodelay=True))
    listener = (await host.open_listeners(0, address="127.0.0.1"))[0]
    port = listener.socket.getsockname()[1]
    async with trio.open_nursery() as nursery:

        async def echo() -> None:
            stream = await listener.accept()
            while byte := await stream.receive_some(1):
                await stream.send_all(byte)
            await stream.aclose()

        nursery.start_soon(echo)
        client = await host.open_stream("127.0.0.1", port)
        rtts = []
        for _ in range(pings):
            t0 = time.perf_counter()
            await client.send_all(b"x")
            await client.receive_some(1)
            rtts.append(time.perf_counter() - t0)
        await client.aclose()
    await listener.aclose()
    return statistics.median(rtts) * 1e6


# ---------------------------------------------------------------- asyncio


async def aio_bulk(data: bytes) -> float:
    host = emutcp.UdpHost(config=CONFIG)
    digest = hashlib.sha256()
    done = asyncio.get_running_loop().create_future()

    async def receive(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while chunk := await reader.read(CHUNK):
            digest.update(chunk)
        done.set_result(time.perf_counter())
        writer.close()

    server = await aio.start_server(receive, "127.0.0.1", 0, emu_host=host)
    port = server.sockets[0].getsockname()[1]
    _, writer = await aio.open_connection("127.0.0.1", port, emu_host=host)
    t0 = time.perf_counter()
    for i in range(0, len(data), CHUNK):  # as an application writes: chunk, drain
        writer.write(data[i : i + CHUNK])
        await writer.drain()
    writer.write_eof()
    elapsed = await done - t0
    writer.close()
    server.close()
    await server.wait_closed()
    assert digest.digest() == hashlib.sha256(data).digest(), "corrupted transfer"
    return len(data) / elapsed / 1e6


async def aio_echo(pings: int) -> float:
    host = emutcp.UdpHost(config=CONFIG.replace(nodelay=True))

    async def echo(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while byte := await reader.read(1):
            writer.write(byte)
            await writer.drain()
        writer.close()

    server = await aio.start_server(echo, "127.0.0.1", 0, emu_host=host)
    port = server.sockets[0].getsockname()[1]
    reader, writer = await aio.open_connection("127.0.0.1", port, emu_host=host)
    rtts = []
    for _ in range(pings):
        t0 = time.perf_counter()
        writer.write(b"x")
        await writer.drain()
        await reader.readexactly(1)
        rtts.append(time.perf_counter() - t0)
    writer.close()
    server.close()
    await server.wait_closed()  # the echo task has seen EOF and closed
    return statistics.median(rtts) * 1e6


# ------------------------------------------- emulated network, socket level


async def emulated_bulk(loop: str, nbytes: int) -> float:
    """MB of payload moved per wall second over the emulated network (the
    socket calls, identical code on both loops)."""
    net = emutcp.EmulatedNetwork(seed=1)
    a, b = net.add_host("10.0.0.1", config=CONFIG), net.add_host("10.0.0.2", config=CONFIG)
    net.add_link("10.0.0.1", "10.0.0.2")
    listener = b.socket()
    await listener.bind(("10.0.0.2", 80))
    listener.listen(1)
    client = a.socket()
    await client.connect(("10.0.0.2", 80))
    server, _ = await listener.accept()
    data = os.urandom(nbytes)
    t0 = time.perf_counter()
    received = 0

    async def send() -> None:
        await client.sendall(data)
        client.shutdown(emutcp.SHUT_WR)

    if loop == "trio":
        import trio

        async with trio.open_nursery() as nursery:
            nursery.start_soon(send)
            while chunk := await server.recv(CHUNK):
                received += len(chunk)
    else:
        sender = asyncio.create_task(send())
        while chunk := await server.recv(CHUNK):
            received += len(chunk)
        await sender
    elapsed = time.perf_counter() - t0
    assert received == nbytes
    for s in (client, server, listener):
        s.close()
    return nbytes / elapsed / 1e6


def on_trio(fn, *args):
    import trio
    import trio.testing

    if fn is emulated_bulk:
        return trio.run(fn, *args, clock=trio.testing.MockClock(autojump_threshold=0))
    return trio.run(fn, *args)


def on_asyncio(fn, *args):
    return asyncio.run(fn(*args))


def summarize(samples: list[float]) -> dict:
    return {"median": statistics.median(samples), "min": min(samples), "max": max(samples)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--bytes", type=int, default=20_000_000)
    ap.add_argument("--pings", type=int, default=500)
    ap.add_argument("--quick", action="store_true", help="3 runs, 5 MB, 200 pings")
    args = ap.parse_args()
    if args.quick:
        args.runs, args.bytes, args.pings = 3, 5_000_000, 200
    data = os.urandom(args.bytes)
    rows = {
        "bulk goodput, loopback UDP (MB/s)": (
            lambda: on_trio(trio_bulk, data),
            lambda: on_asyncio(aio_bulk, data),
            True,
        ),
        "echo round trip, loopback UDP (us)": (
            lambda: on_trio(trio_echo, args.pings),
            lambda: on_asyncio(aio_echo, args.pings),
            False,
        ),
        "emulated network, socket calls (MB/s)": (
            lambda: on_trio(emulated_bulk, "trio", args.bytes // 4),
            lambda: on_asyncio(emulated_bulk, "asyncio", args.bytes // 4),
            True,
        ),
    }
    out: dict = {}
    from rich.console import Console
    from rich.table import Table

    console = Console()
    table = Table(title=f"emutcp on trio and asyncio, medians of {args.runs} (shared machine)")
    for col in ("", "trio", "asyncio", "asyncio / trio"):
        table.add_column(col, justify="right")
    for name, (trio_fn, aio_fn, higher_better) in rows.items():
        samples: dict[str, list[float]] = {"trio": [], "asyncio": []}
        with console.status(name):
            for _ in range(args.runs):  # alternate, so drift hits both alike
                samples["trio"].append(trio_fn())
                samples["asyncio"].append(aio_fn())
        t, a = summarize(samples["trio"]), summarize(samples["asyncio"])
        ratio = a["median"] / t["median"]
        out[name] = {"trio": t, "asyncio": a, "asyncio_over_trio": ratio}
        table.add_row(
            name,
            f"{t['median']:.1f} ({t['min']:.1f}-{t['max']:.1f})",
            f"{a['median']:.1f} ({a['min']:.1f}-{a['max']:.1f})",
            f"{ratio:.2f}" + ("" if higher_better else " (lower is better)"),
        )
    console.print(table)
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "aio_vs_trio.json").write_text(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
