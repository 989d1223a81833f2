"""``emutcp bench``: iperf-like goodput, to a real host or over loopback (``--local``).

The client streams incompressible bytes for ``--seconds`` (or ``--bytes``),
half-closes and waits for the server's FIN, so the time covers delivery of
the last byte.  Against ``emutcp serve --discard`` on another host, or
``--local`` with a discard server in this process on 127.0.0.1.  Progress
goes to stderr (rich); ``--stats`` adds the live connection table.
"""

from __future__ import annotations

import json
import os
import sys
import time

import trio
from rich.progress import BarColumn, Progress, TextColumn, TransferSpeedColumn

from ..core.config import Config
from ..host import UdpHost


def _local_address(host) -> str:
    """Where --local runs: loopback, or the host's own address on a transport
    that has one (--transport emulated)."""
    return "127.0.0.1" if host.wildcard_address == "0.0.0.0" else host.wildcard_address


async def _discard_server(host, task_status=trio.TASK_STATUS_IGNORED) -> None:
    listeners = await host.open_listeners(0, address=_local_address(host))
    task_status.started(listeners[0].socket.getsockname()[1])
    stream = await listeners[0].accept()
    await listeners[0].aclose()
    while await stream.receive_some(1 << 20):
        pass
    await stream.send_eof()
    await stream.aclose()


async def bench_main(
    *,
    host_name: str | None,
    port: int | None,
    seconds: float,
    nbytes: int | None,
    stats: bool,
    as_json: bool,
    config: Config,
    trace,
    make_host=None,
) -> dict:
    host = (make_host or UdpHost)(config=config, trace=trace)
    chunk = os.urandom(1 << 20)
    async with trio.open_nursery() as nursery:
        if host_name is None:
            port = await nursery.start(_discard_server, host)
            host_name = _local_address(host)
        if stats:
            from .stats import live_stats

            nursery.start_soon(lambda: live_stats(host))
        assert port is not None
        stream = await host.open_stream(host_name, port)
        sent = 0
        t0 = time.perf_counter()
        deadline = t0 + seconds
        with Progress(
            TextColumn("[bold]emutcp bench"),
            BarColumn(),
            TransferSpeedColumn(),
            transient=True,
            console=None if not as_json else _stderr_console(),
        ) as progress:
            total = nbytes if nbytes else seconds
            task = progress.add_task("send", total=total)
            while (nbytes is None and time.perf_counter() < deadline) or (
                nbytes is not None and sent < nbytes
            ):
                piece = chunk if nbytes is None else chunk[: min(len(chunk), nbytes - sent)]
                await stream.send_all(piece)
                sent += len(piece)
                progress.update(task, completed=sent if nbytes else time.perf_counter() - t0)
        await stream.send_eof()
        await stream.receive_some(1)  # the server's FIN: everything was delivered
        elapsed = time.perf_counter() - t0
        info = stream.socket.info()
        await stream.aclose()
        nursery.cancel_scope.cancel()
    result = {
        "bytes": sent,
        "seconds": round(elapsed, 6),
        "goodput_MBps": round(sent / elapsed / 1e6, 3),
        "goodput_Mbps": round(sent * 8 / elapsed / 1e6, 3),
        "retransmits": info.retransmits,
        "srtt_ms": round((info.srtt or 0) * 1000, 3),
        "mss": info.mss,
        "congestion": info.congestion,
    }
    if as_json:
        print(json.dumps(result), flush=True)
    else:
        print(
            f"{sent / 1e6:.1f} MB in {elapsed:.2f} s: {result['goodput_MBps']:.1f} MB/s "
            f"({result['goodput_Mbps']:.0f} Mbit/s), {info.retransmits} retransmissions, "
            f"srtt {result['srtt_ms']:.2f} ms",
            flush=True,
        )
    return result


def _stderr_console():
    from rich.console import Console

    return Console(file=sys.stderr)
