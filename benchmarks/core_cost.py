"""What the sans-IO core alone costs: an echo round and a bulk segment, no I/O.

    python benchmarks/core_cost.py [--rounds 20000] [--bytes 20000000] [--runs 3]

Two ``Mux`` objects talk directly, driven the way the real-UDP endpoint
drives them (``endpoint.py``: arrivals through the transport's junk filter
and a ``Coalescer``, then timers, then ``datagrams_to_send_ecn``), with a
clock that advances 10 us per step:

* **echo**: a 1-byte request and its 1-byte response with TCP_NODELAY, as
  ``loopback.emutcp_echo`` makes them (four output passes per round): CPU
  microseconds per round, to hold against trio's whole UDP ping-pong round
  (``benchmarks/run.py``), which the core's share has to fit in;
* **bulk**: a one-way transfer at MSS 1400, datagrams drained 64 at a time:
  CPU microseconds per data segment, both ends' core work together.

Medians of ``--runs``; the title says which build ran (pure or compiled, and
the CRC library).
"""

from __future__ import annotations

import argparse
import random
import statistics
import time
from typing import Any

import emutcp
from emutcp.core.coalesce import Coalescer
from emutcp.core.config import Config
from emutcp.core.mux import Mux
from emutcp.core.segment import plausible_segment

A = ("127.0.0.1", 1000)
B = ("127.0.0.1", 2000)
BATCH = 64  # datagrams per receive batch


class Pair:
    """Two muxes, A (client) and B (server), connected, and a clock."""

    def __init__(self, config: Config) -> None:
        self.t = 0.0
        self.mux = {
            A: Mux(local=A, config=config, rng=random.Random(1)),
            B: Mux(local=B, config=config, rng=random.Random(2)),
        }
        self.coalescer = {addr: Coalescer(m) for addr, m in self.mux.items()}
        for c in self.coalescer.values():
            c.crc_checked = True  # as the endpoint sets it: the filter below checked
        self.mux[B].listen(8, self.now())
        self.client = self.mux[A].connect(B, self.now())
        for _ in range(4):
            self.deliver(A, B, self.flush(A))
            self.deliver(B, A, self.flush(B))
        server = self.mux[B].accept()
        assert server is not None
        self.server = server

    def now(self) -> float:
        self.t += 1e-5
        return self.t

    def flush(self, addr: tuple[str, int]) -> list[Any]:
        """The endpoint's flush: what the core queued, and its wakeups."""
        mux = self.mux[addr]
        out = mux.datagrams_to_send_ecn(self.now())
        mux.take_wakeups()
        return out

    def deliver(self, src: tuple[str, int], dst: tuple[str, int], datagrams: list[Any]) -> None:
        """The endpoint's service pass at ``dst``: filter, coalesce, timers."""
        now = self.now()
        coalescer = self.coalescer[dst]
        for data, _addr, ecn in datagrams:
            if plausible_segment(memoryview(data)):
                coalescer.datagram(data, src, now, ecn)
        coalescer.finish(now)
        self.mux[dst].handle_timer(now)


def echo(rounds: int) -> float:
    """CPU us per 1-byte echo round (TCP_NODELAY)."""
    p = Pair(Config(nodelay=True))
    client, server = p.client, p.server

    def one_round() -> None:
        client.send(b"x", p.now())
        p.mux[A].touch(client)
        p.deliver(A, B, p.flush(A))  # the request leaves from the caller's task
        p.flush(B)  # the server's pass after the arrival (the ACK is delayed)
        server.send(server.receive(64, p.now()), p.now())
        p.mux[B].touch(server)
        p.deliver(B, A, p.flush(B))  # the response, carrying the ACK
        p.flush(A)
        assert client.receive(64, p.now()) == b"x"

    for _ in range(200):
        one_round()
    cpu = time.process_time()
    for _ in range(rounds):
        one_round()
    return (time.process_time() - cpu) / rounds * 1e6


def bulk(nbytes: int) -> float:
    """CPU us per data segment of a one-way transfer at MSS 1400."""
    p = Pair(Config(mss=1400, send_buffer=1 << 20, recv_buffer=1 << 20))
    client, server = p.client, p.server
    chunk = bytes(65536)
    inbox: dict[tuple[str, int], list[Any]] = {A: [], B: []}

    def drain(addr: tuple[str, int], peer: tuple[str, int]) -> None:
        box = inbox[addr]
        while box:
            batch, box[:] = box[:BATCH], box[BATCH:]
            p.deliver(peer, addr, batch)
            inbox[peer].extend(p.flush(addr))

    def transfer(total: int) -> int:
        sent = got = segments = 0
        while got < total:
            if sent < total:
                sent += client.send(chunk[: min(len(chunk), total - sent)], p.now())
                p.mux[A].touch(client)
            out = p.flush(A)
            inbox[B].extend(out)
            segments += sum(1 for d in out if len(d[0]) > 200)
            drain(B, A)
            while data := server.receive(1 << 20, p.now()):
                got += len(data)
            p.mux[B].touch(server)
            inbox[A].extend(p.flush(B))
            if not inbox[A] and not out:  # nothing in flight: on to the next timer
                timers = [t for t in (p.mux[A].get_timer(), p.mux[B].get_timer()) if t]
                p.t = max(p.t, min(timers))
                p.deliver(B, A, [])
                p.deliver(A, B, [])
            drain(A, B)
        return segments

    transfer(2_000_000)
    cpu = time.process_time()
    segments = transfer(nbytes)
    return (time.process_time() - cpu) / segments * 1e6


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=20_000)
    ap.add_argument("--bytes", type=int, default=20_000_000)
    ap.add_argument("--runs", type=int, default=3)
    args = ap.parse_args()
    echoes = [echo(args.rounds) for _ in range(args.runs)]
    bulks = [bulk(args.bytes) for _ in range(args.runs)]
    print(f"the core alone ({emutcp.BUILD}; medians of {args.runs} runs)")
    print(f"  echo round, 1 byte each way, TCP_NODELAY: {statistics.median(echoes):.1f} us CPU")
    print(f"  bulk at MSS 1400, per data segment:       {statistics.median(bulks):.2f} us CPU")


if __name__ == "__main__":
    main()
