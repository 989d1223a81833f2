"""Where the wall time of a 1-byte echo round goes, timed in place.

    python benchmarks/echo_breakdown.py [--rounds 3000]

Both ends in one trio run over loopback UDP, TCP_NODELAY, as
``loopback.echo_and_ping_pong`` measures them, in alternating blocks of 100
rounds with trio's UDP ping-pong (whose median round it prints beside).
During emutcp's rounds it times, with ``perf_counter_ns`` around each call,
what the round spends:

* in the sans-IO core: output passes that send and those that send nothing
  (``Mux.datagrams_to_send*``), the arrivals (``Coalescer.datagram`` and
  ``finish``: decode, ACK and data processing) and the CRC filter each
  datagram passes in the transport;
* in system calls and their thin wrappers: the sends, the receive batch
  (``recvmsg``, the ``FIONREAD`` that ends it, the copy) and the
  ``FIONREAD`` a reader asks before it waits.

The rest of the round is trio's scheduling (its waits and task switches,
as many as ping-pong makes), the shell's Python around these calls, the
core's user calls (``Connection.send``/``receive``, not reachable from
here) and the timing itself (about 0.3 us per timed call).  Wall time on
this shared VM drifts within minutes: read the parts against the round of
the same run, not against other days.

The objects are wrapped on the running endpoints (proxies for the mux and
the coalescer, instance attributes on the UDP transport), so the code
measured is the installed build, pure or compiled.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections import defaultdict
from collections.abc import Callable
from typing import Any

import trio
from loopback import _udp_echo_ping

import emutcp
from emutcp.core.segment import COMPILED

BLOCK = 100
CRC = "core: CRC filter of each datagram"
RECEIVE = "system: receive batch (recvmsg, FIONREAD, copy)"
_ns = time.perf_counter_ns


class Parts:
    """Nanoseconds and calls per named part."""

    def __init__(self) -> None:
        self.ns: defaultdict[str, int] = defaultdict(int)
        self.calls: defaultdict[str, int] = defaultdict(int)
        self.on = False

    def timed(self, name: str, fn: Callable[..., Any]) -> Callable[..., Any]:
        def call(*args: Any) -> Any:
            if not self.on:
                return fn(*args)
            t0 = _ns()
            try:
                return fn(*args)
            finally:
                self.ns[name] += _ns() - t0
                self.calls[name] += 1

        return call

    def reset(self) -> None:
        self.ns.clear()
        self.calls.clear()


class _Forward:
    """Everything not timed goes to the wrapped object: its methods bound here
    once (a ``__getattr__`` per call would add its own cost to the round),
    its data through ``__getattr__``."""

    def __init__(self, target: Any, parts: Parts) -> None:
        self._target = target
        self._parts = parts
        for name in dir(target):
            if not name.startswith("__") and not hasattr(type(self), name):
                value = getattr(target, name, None)
                if callable(value) and not isinstance(value, type):
                    setattr(self, name, value)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._target, name)


class TimedMux(_Forward):
    def _output(self, name: str, now: float) -> Any:
        parts = self._parts
        if not parts.on:
            return getattr(self._target, name)(now)
        t0 = _ns()
        out = getattr(self._target, name)(now)
        part = "core: output passes that send" if out else "core: output passes that send nothing"
        parts.ns[part] += _ns() - t0
        parts.calls[part] += 1
        return out

    def datagrams_to_send_ecn(self, now: float) -> Any:
        return self._output("datagrams_to_send_ecn", now)

    def datagrams_to_send(self, now: float) -> Any:
        return self._output("datagrams_to_send", now)


class TimedCoalescer(_Forward):
    def __init__(self, target: Any, parts: Parts) -> None:
        super().__init__(target, parts)
        arrivals = "core: arrivals (decode, ACK and data processing)"
        self.datagram = parts.timed(arrivals, target.datagram)
        self.finish = parts.timed(arrivals, target.finish)
        self.icmp_unreachable = parts.timed(arrivals, target.icmp_unreachable)


def instrument(endpoint: Any, parts: Parts) -> None:
    endpoint.mux = TimedMux(endpoint.mux, parts)
    if endpoint.coalescer is not None:
        endpoint.coalescer = TimedCoalescer(endpoint.coalescer, parts)
    udp = endpoint.transport
    if isinstance(udp, emutcp.transport.udp.UdpTransport):
        if udp._accept is not None:
            udp._accept = parts.timed(CRC, udp._accept)
        udp.send = parts.timed("system: send", udp.send)  # type: ignore[method-assign]
        udp.recv_batch = parts.timed(RECEIVE, udp.recv_batch)  # type: ignore[method-assign]
        udp.has_queued = parts.timed(  # type: ignore[method-assign]
            "system: FIONREAD before a reader waits", udp.has_queued
        )


async def measure(rounds: int) -> tuple[float, float, dict[str, tuple[float, float]]]:
    parts = Parts()
    host = emutcp.UdpHost(config=emutcp.Config(nodelay=True))
    listener = host.socket()
    await listener.bind(("127.0.0.1", 0))
    listener.listen(1)
    async with trio.open_nursery() as nursery:

        async def echo() -> None:
            conn, _ = await listener.accept()
            while data := await conn.recv(64):
                await conn.sendall(data)

        nursery.start_soon(echo)
        client = host.socket()
        await client.connect(listener.getsockname())
        for _ in range(10):  # the server's connection is accepted by now
            await client.sendall(b"x")
            await client.recv(64)
        for endpoint in {client.endpoint, listener.endpoint}:
            instrument(endpoint, parts)

        async def emutcp_ping() -> None:
            await client.sendall(b"x")
            await client.recv(64)

        async with _udp_echo_ping() as udp_ping:
            for ping in (udp_ping, emutcp_ping):  # warm-up
                for _ in range(3 * BLOCK):
                    await ping()
            pp: list[float] = []
            echo_rounds: list[float] = []
            for _ in range(max(1, rounds // BLOCK)):
                for _ in range(BLOCK):
                    t0 = _ns()
                    await udp_ping()
                    pp.append(_ns() - t0)
                parts.on = True
                for _ in range(BLOCK):
                    t0 = _ns()
                    await emutcp_ping()
                    echo_rounds.append(_ns() - t0)
                parts.on = False
        client.close()
        nursery.cancel_scope.cancel()
    listener.close()
    n = len(echo_rounds)
    # The receive batch runs the CRC filter on each datagram: count that once.
    parts.ns[RECEIVE] -= parts.ns.get(CRC, 0)
    table = {name: (ns / n / 1000, parts.calls[name] / n) for name, ns in parts.ns.items()}
    return statistics.median(pp) / 1000, sum(echo_rounds) / n / 1000, table


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=3000)
    args = parser.parse_args()
    pp, mean_round, table = trio.run(measure, args.rounds)
    build = "compiled core" if COMPILED else "pure Python"
    print(f"1-byte echo round, both ends ({build}), {args.rounds} rounds:")
    print(f"  {'part':55s} {'us/round':>9s} {'calls/round':>12s}")
    timed = 0.0
    for name in sorted(table):
        us, calls = table[name]
        timed += us
        print(f"  {name:55s} {us:9.1f} {calls:12.2f}")
    print(f"  {'the rest: trio, the shell, user calls, timing':55s} {mean_round - timed:9.1f}")
    print(f"  {'whole round (mean)':55s} {mean_round:9.1f}")
    print(f"  trio UDP ping-pong round, same run (median): {pp:.1f} us")


if __name__ == "__main__":
    main()
