"""``emutcp serve`` and ``emutcp connect``: netcat over emutcp, between real hosts.

``connect`` copies stdin to the stream and the stream to stdout; end of stdin
half-closes (``send_eof``), and the command ends when the peer closes too.
``serve`` accepts connections and, per ``--mode``: prints what arrives
(``print``, netcat's ``-l``), echoes it back (``echo``), counts and hashes it
(``discard``), or sends a file (``file``).  With ``--once`` it serves one
connection and exits; with ``--json`` it prints one JSON object per
connection (bytes, sha256, seconds, goodput, retransmits).
"""

from __future__ import annotations

import hashlib
import json
import os
import stat
import sys
import time

import trio

from ..core.config import Config
from ..host import UdpHost
from ..stream import SocketStream


def _summary(stream: SocketStream, nbytes: int, digest, seconds: float) -> dict:
    info = stream.socket.info()
    return {
        "peer": list(info.remote) if info.remote else None,
        "bytes": nbytes,
        "sha256": digest.hexdigest(),
        "seconds": round(seconds, 6),
        "goodput_MBps": round(nbytes / seconds / 1e6, 3) if seconds > 0 else None,
        "retransmits": info.retransmits,
        "srtt_ms": round((info.srtt or 0) * 1000, 3),
        "mss": info.mss,
    }


async def serve_main(
    *,
    port: int,
    address: str,
    mode: str,
    file: str | None,
    once: bool,
    as_json: bool,
    config: Config,
    trace,
    stats: bool = False,
    make_host=None,
) -> None:
    # make_host: --transport NAME's host builder (None: real UDP)
    host = (make_host or UdpHost)(config=config, trace=trace)
    listeners = await host.open_listeners(port, address=address)
    if stats:
        from .stats import live_stats

        async with trio.open_nursery() as nursery:
            nursery.start_soon(lambda: live_stats(host))
            await _serve(listeners, mode=mode, file=file, once=once, as_json=as_json)
            nursery.cancel_scope.cancel()
        return
    await _serve(listeners, mode=mode, file=file, once=once, as_json=as_json)


async def _serve(listeners, *, mode: str, file: str | None, once: bool, as_json: bool) -> None:
    listener = listeners[0]
    bound = listener.socket.getsockname()
    kind = " (UDP)" if isinstance(listener.socket.host, UdpHost) else ""
    print(f"emutcp: listening on {bound[0]}:{bound[1]}{kind}", file=sys.stderr, flush=True)
    stdout = trio.wrap_file(sys.stdout.buffer)

    async def handle(stream: SocketStream) -> None:
        digest = hashlib.sha256()
        nbytes = 0
        outcome = "closed"
        t0 = time.perf_counter()
        try:
            if mode == "file" and file:
                with open(file, "rb") as f:
                    while chunk := f.read(1 << 20):
                        await stream.send_all(chunk)
                await stream.send_eof()
            while data := await stream.receive_some(1 << 20):
                nbytes += len(data)
                digest.update(data)
                if mode == "echo":
                    await stream.send_all(data)
                elif mode == "print":
                    await stdout.write(data)
                    await stdout.flush()
            if mode != "file":
                await stream.send_eof()
            await stream.wait_closed()
        except trio.BrokenResourceError as exc:
            outcome = str(exc.__cause__ or exc)
            print(f"emutcp: connection broken: {outcome}", file=sys.stderr)
        finally:
            elapsed = time.perf_counter() - t0
            if as_json:
                summary = _summary(stream, nbytes, digest, elapsed)
                summary["outcome"] = outcome
                print(json.dumps(summary), flush=True)
            await stream.aclose()

    if once:
        stream = await listener.accept()
        await listener.aclose()
        await handle(stream)
        await stream.wait_closed()
        return
    await trio.serve_listeners(handle, listeners)


async def read_stdin(max_bytes: int) -> bytes:
    """Up to ``max_bytes`` from standard input, b"" at its end.  Waiting on an
    idle terminal or pipe is a trio wait, so Ctrl-C and SIGTERM cancel it (a
    worker thread blocked in read() would hold up the exit)."""
    fd = sys.stdin.fileno()
    if stat.S_ISREG(os.fstat(fd).st_mode):
        await trio.lowlevel.checkpoint()  # a file never blocks (and epoll refuses it)
    else:
        await trio.lowlevel.wait_readable(fd)
    return os.read(fd, max_bytes)


async def connect_main(
    *, host_name: str, port: int, as_json: bool, config: Config, trace, make_host=None
) -> None:
    host = (make_host or UdpHost)(config=config, trace=trace)
    stream = await host.open_stream(host_name, port)
    stdout = trio.wrap_file(sys.stdout.buffer)
    sent = hashlib.sha256()
    got = hashlib.sha256()
    counts = {"sent": 0, "received": 0}
    t0 = time.perf_counter()

    async def pump_out() -> None:
        while chunk := await read_stdin(1 << 16):
            sent.update(chunk)
            counts["sent"] += len(chunk)
            await stream.send_all(chunk)
        await stream.send_eof()

    async def pump_in() -> None:
        while data := await stream.receive_some(1 << 20):
            got.update(data)
            counts["received"] += len(data)
            await stdout.write(data)
        await stdout.flush()

    async with trio.open_nursery() as nursery:
        nursery.start_soon(pump_out)
        nursery.start_soon(pump_in)
    elapsed = time.perf_counter() - t0
    await stream.wait_closed()
    if as_json:
        summary = _summary(stream, counts["sent"], sent, elapsed)
        summary["received"] = counts["received"]
        summary["received_sha256"] = got.hexdigest()
        print(json.dumps(summary), file=sys.stderr, flush=True)
    await stream.aclose()
