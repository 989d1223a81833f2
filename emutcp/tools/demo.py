"""``emutcp demo``: the seed lab's socket calls and state-diagram paths, live.

Part 1 runs the lab's scenario over loopback UDP on this machine: the server
binds, listens and accepts; the client connects, they exchange a request and a
reply; the client shuts down its side first, then the server.  Every socket
call, every state transition (with its cause) and every segment (flags,
sequence and acknowledgment numbers relative to each side's ISN, length, why
it was sent) is printed in time order: client on the left, server on the
right, segments in the middle.  Part 2 times a bulk transfer over loopback.
Part 3 repeats a transfer over an emulated lossy link in virtual time.
"""

from __future__ import annotations

import os
import random
import sys
import time
from dataclasses import dataclass

import trio
import trio.testing

from ..core.config import Config
from ..core.events import SegmentRecord, Transition
from ..emulated import EmulatedNetwork
from ..host import UdpHost
from ..lab.bulk import bulk_transfer
from ..lab.trial import pin_trio_scheduling
from ..lab.units import bdp_queue
from ..socket import SHUT_WR
from ..trace import tee


@dataclass
class Row:
    time: float
    side: str  # "client" | "server" | "wire"
    text: str
    detail: str = ""


class Timeline:
    """Collects socket calls, transitions and segments of the two demo sides.

    With ``step=True`` (``emutcp demo --step``) every row is printed as it
    happens and each socket call waits for Enter first, for a classroom; the
    stack keeps running meanwhile (ACKs, timers), as a kernel's would."""

    def __init__(self, *, step: bool = False, out=None) -> None:
        self.rows: list[Row] = []
        self.t0: float | None = None
        self.server_port: int | None = None
        self.stepping = step
        self._out = out
        self._printed = 0
        self._turn = trio.Lock() if step else None

    def _side(self, local) -> str:
        return "server" if local is not None and local[1] == self.server_port else "client"

    def now(self) -> float:
        t = trio.current_time()
        if self.t0 is None:
            self.t0 = t
        return t - self.t0

    def call(self, side: str, text: str) -> None:
        self.rows.append(Row(self.now(), side, text))
        self.print_new()

    async def step(self, side: str, text: str) -> None:
        """Record the socket call ``text`` about to be made; with ``--step``,
        first show what happened so far and wait for Enter."""
        if self._turn is not None:
            async with self._turn:
                self.print_new()
                self._write(f"\n  next, the {side} calls {text}  [Enter] ")
                await trio.to_thread.run_sync(sys.stdin.readline, abandon_on_cancel=True)
                if not sys.stdin.isatty():
                    self._write("\n")  # a terminal echoed the Enter; a pipe did not
        self.call(side, text)

    def _write(self, text: str) -> None:
        out = self._out or sys.stdout
        out.write(text)
        out.flush()

    def server_acked(self, ack: int) -> bool:
        """Has the server sent an ACK for everything up to relative ``ack``?"""
        want = f" ack={ack} "
        return any(
            r.side == "wire" and r.detail.startswith("server") and want in r.text for r in self.rows
        )

    def print_new(self) -> None:
        """Step mode: print the rows recorded since the last call."""
        if not self.stepping:
            return
        for row in self.rows[self._printed :]:
            where = {"client": "client ", "server": "        " * 6 + "server "}.get(row.side, "")
            detail = f"  ({row.detail})" if row.detail else ""
            if row.side == "wire":
                where = " " * 24
            self._write(f"{row.time * 1000:9.3f} ms  {where}{row.text}{detail}\n")
        self._printed = len(self.rows)

    def trace(self, record, local, remote) -> None:
        t = self.now()
        side = self._side(local)
        if isinstance(record, Transition):
            self.rows.append(Row(t, side, f"{record.old} -> {record.new}", record.cause))
        elif isinstance(record, SegmentRecord) and record.direction == "out":
            ack = f" ack={record.ack}" if "ACK" in record.flags else ""
            text = f"{record.flags} seq={record.seq}{ack} len={record.length}"
            arrow = "-->" if side == "client" else "<--"
            self.rows.append(Row(t, "wire", f"{arrow} {text} {arrow}", f"{side}: {record.reason}"))

    def as_dicts(self) -> list[dict]:
        return [
            {"time": round(r.time, 6), "side": r.side, "event": r.text, "detail": r.detail}
            for r in self.rows
        ]


async def run_lab(timeline: Timeline, *, address: str = "127.0.0.1", extra_trace=None) -> dict:
    """The seed scenario over real loopback UDP; returns both sides' paths.

    The server reads the request only after its stack has acknowledged it: the
    ACK leaves on receipt, from the 40 ms delayed-ACK timer (RFC 9293
    3.8.6.3), not from the application's ``recv()``, as the lab says."""
    config = Config(msl=0.5)
    host = UdpHost(trace=tee(timeline.trace, extra_trace), config=config)
    server = host.socket()
    await timeline.step("server", "socket()")
    await timeline.step("server", f"bind(({address!r}, 0))")
    await server.bind((address, 0))
    timeline.server_port = server.getsockname()[1]
    timeline.call("server", f"bound to port {timeline.server_port}")
    await timeline.step("server", "listen(1): passive open, nothing sent")
    server.listen(1)
    paths: dict = {}
    request = b"hello from client"

    async def server_side(task_status=trio.TASK_STATUS_IGNORED):
        task_status.started()
        await timeline.step("server", "accept(): waiting for a connection")
        conn, peer = await server.accept()
        timeline.call("server", f"accept() -> new socket for {peer[0]}:{peer[1]}")
        # The application is busy: the request waits in the receive buffer, and
        # the stack acknowledges it by itself when the delayed-ACK timer fires.
        with trio.fail_after(10):
            while not timeline.server_acked(1 + len(request)):
                await trio.sleep(0.005)
        timeline.call("server", "(busy: the stack ACKed the request before any recv())")
        await timeline.step("server", "recv(100)")
        got = await conn.recv(100)
        timeline.call("server", f"recv() -> {got!r}")
        await timeline.step("server", "send(b'HELLO FROM SERVER')")
        await conn.sendall(b"HELLO FROM SERVER")
        eof = await conn.recv(100)
        timeline.call("server", f"recv() -> {eof!r}: the client shut down its side")
        await timeline.step("server", "shutdown(SHUT_WR): sends FIN")
        conn.shutdown(SHUT_WR)
        await conn.wait_closed()
        conn.close()
        timeline.call("server", "close()")
        listening = [str(t.old) for t in server.transitions]  # CLOSED -> LISTEN
        paths["server"] = listening + [str(t.old) for t in conn.transitions] + [str(conn.state)]

    async with trio.open_nursery() as nursery:
        await nursery.start(server_side)
        client = host.socket()
        await timeline.step("client", "socket()  (no bind: an ephemeral port is chosen)")
        await timeline.step(
            "client", f"connect(({address!r}, {timeline.server_port})): active open"
        )
        await client.connect((address, timeline.server_port))
        timeline.call(
            "client",
            f"connect() returned, local port {client.getsockname()[1]}, "
            f"MSS {client.info().mss} (the path's MTU allows it)",
        )
        await timeline.step("client", f"send({request!r})")
        await client.sendall(request)
        reply = await client.recv(100)
        timeline.call("client", f"recv() -> {reply!r}")
        await timeline.step("client", "shutdown(SHUT_WR): sends FIN")
        client.shutdown(SHUT_WR)
        eof = await client.recv(100)
        timeline.call("client", f"recv() -> {eof!r}: the server shut down too")
    # TIME-WAIT lasts 2*MSL; the demo uses MSL = 0.5 s so it ends in a second.
    await client.wait_closed()
    while client.state.name != "CLOSED":
        await trio.sleep(0.05)
    timeline.call("client", "TIME-WAIT over (2*MSL = 1 s here; 60 s by default)")
    client.close()
    server.close()
    paths["client"] = [str(t.old) for t in client.transitions] + [str(client.state)]
    timeline.print_new()
    return paths


async def loopback_goodput(nbytes: int, *, address: str = "127.0.0.1") -> dict:
    """Send ``nbytes`` client -> server over loopback UDP; sha256-checked goodput."""
    host = UdpHost()
    r = await bulk_transfer(host, host, os.urandom(nbytes), address=address)
    return {
        "bytes": nbytes,
        "seconds": r.wall_seconds,
        "goodput_MBps": r.wall_goodput_Bps / 1e6,
        "intact": r.intact,
        "retransmits": r.client_info.retransmits,
        "srtt_ms": (r.client_info.srtt or 0) * 1000,
    }


def emulated_transfer(
    nbytes: int,
    *,
    loss: float = 0.02,
    delay: float = 0.02,
    rate: float = 10e6,
    seed: int = 1,
    config: Config | None = None,
) -> dict:
    """Send ``nbytes`` over an emulated lossy link, in virtual time."""

    async def main() -> dict:
        net = EmulatedNetwork(seed=seed)
        a = net.add_host("10.0.0.1", config=config)
        b = net.add_host("10.0.0.2", config=config)
        mss = (config or Config()).mss
        queue = bdp_queue(rate, 2 * delay, mss, minimum=10)
        net.add_link("10.0.0.1", "10.0.0.2", loss=loss, delay=delay, rate=rate, queue=queue)
        r = await bulk_transfer(a, b, random_bytes(nbytes, seed), port=80)
        link = net.link("10.0.0.1", "10.0.0.2")
        info = r.client_info
        return {
            "bytes": nbytes,
            "virtual_seconds": r.seconds,
            "goodput_Mbps": r.goodput_bps / 1e6,
            "intact": r.intact,
            "retransmits": info.retransmits,
            "rto_expirations": info.rto_expirations,
            "fast_retransmits": info.fast_retransmits,
            "dropped_by_link": dict(link.stats.dropped),
        }

    pin_trio_scheduling(seed)
    wall0 = time.perf_counter()
    result = trio.run(main, clock=trio.testing.MockClock(autojump_threshold=0))
    result["wall_seconds"] = time.perf_counter() - wall0
    return result


def random_bytes(n: int, seed: int) -> bytes:
    """Deterministic, incompressible test data."""
    return random.Random(seed).randbytes(n)
