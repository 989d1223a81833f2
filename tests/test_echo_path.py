"""The lean request/response path, pinned in virtual time on the emulated network.

A 1-byte echo round with TCP_NODELAY costs, over both endpoints together:

* 4 endpoint flushes and 4 output passes: one per arrival (the data segment
  that also acknowledges the previous one) and one per ``send`` from the
  caller's task; a ``recv`` that frees no window worth announcing (RFC 9293
  3.8.6.2.2) makes no output pass (it made two more per round before);
* 2 segments: each request and response carries the ACK of the one before
  (delayed ACK, RFC 9293 3.8.6.3), so no pure ACK is sent;
* a fixed number of trio task steps: a reader woken from the receive path
  returns its data without one more trip through the scheduler.

The counts are exact and deterministic (virtual time, pinned scheduling).
"""

from __future__ import annotations

import collections

import pytest
import trio

import emutcp
from emutcp.core.connection import Connection
from emutcp.testing import connected_sockets, connection_of, run_virtual, two_hosts
from emutcp.transport import runtime

# Every test here counts output passes by patching Connection (pure build only).
pytestmark = pytest.mark.patches_core

ROUNDS = 40


def _count_passes(monkeypatch: pytest.MonkeyPatch) -> collections.Counter[str]:
    """Count output passes (``segments_to_send`` calls) and the segments they make."""
    counts: collections.Counter[str] = collections.Counter()
    original = Connection.segments_to_send

    def counted(self: Connection, now: float) -> list:
        out = original(self, now)
        counts["passes"] += 1
        counts["segments"] += len(out)
        return out

    monkeypatch.setattr(Connection, "segments_to_send", counted)
    return counts


class _Steps(trio.abc.Instrument):
    def __init__(self) -> None:
        self.steps = 0

    def before_task_step(self, task: object) -> None:
        self.steps += 1


def _echo_round_costs(monkeypatch: pytest.MonkeyPatch) -> dict[str, float]:
    counts = _count_passes(monkeypatch)
    instrument = _Steps()

    async def main() -> dict[str, float]:
        trio.lowlevel.add_instrument(instrument)
        config = emutcp.Config(nodelay=True)
        _net, a, b = two_hosts(seed=1, config=config, delay=0.005)
        server, client, conn = await connected_sockets(a, b)

        async def echo() -> None:
            while data := await conn.recv(64):
                await conn.sendall(data)

        async with trio.open_nursery() as nursery:
            nursery.start_soon(echo)
            for _ in range(3):  # warm up: the handshake's ACKs are behind us
                await client.sendall(b"x")
                assert await client.recv(64) == b"x"
            endpoints = {client.endpoint, conn.endpoint}
            flushes = sum(ep.flushes for ep in endpoints if ep is not None)
            counts.clear()
            steps = instrument.steps
            start = trio.current_time()
            for i in range(ROUNDS):
                byte = bytes([i])
                await client.sendall(byte)
                assert await client.recv(64) == byte
            costs = {
                "flushes": sum(ep.flushes for ep in endpoints if ep is not None) - flushes,
                "passes": counts["passes"],
                "segments": counts["segments"],
                "steps": instrument.steps - steps,
                "rtt": trio.current_time() - start,
            }
            client.close()
        server.close()
        trio.lowlevel.remove_instrument(instrument)
        return {k: v / ROUNDS for k, v in costs.items()}

    return run_virtual(main, seed=3)


def test_an_echo_round_makes_four_output_passes_and_two_segments(monkeypatch):
    costs = _echo_round_costs(monkeypatch)
    assert costs["segments"] == 2  # request and response; the ACKs ride on them
    # Was 6.5: each recv flushed too.  The half is the endpoint waking at a
    # delayed-ACK deadline the piggybacked ACK had already cleared (every 40
    # ms of virtual time here; rare on loopback, where a round takes < 1 ms).
    assert costs["flushes"] == 4.5
    assert costs["passes"] == 4  # was 6
    # One round trip of the 5 ms link each way: nothing waits for a timer
    # (the delayed ACK never fires: the response carries it).
    assert costs["rtt"] == pytest.approx(0.010)
    # Task steps per round, both ends and the network: the client and the
    # server each send (one step to its checkpoint) and are woken once by the
    # delivery of the other's segment; the network's delivery task runs twice.
    # A recv that waited returns without a further checkpoint (was 8.5; the
    # half is the stale delayed-ACK wake-up, as for the flushes).
    assert costs["steps"] == 6.5


def test_small_write_on_idle_connection_leaves_from_the_callers_task(monkeypatch):
    """TCP_NODELAY: ``send_nowait`` (no await) puts the segment on the network
    with one flush and one output pass, as Linux sends from ``send()``."""
    counts = _count_passes(monkeypatch)

    async def main() -> None:
        _net, a, b = two_hosts(seed=2, config=emutcp.Config(nodelay=True), delay=0.01)
        server, client, conn = await connected_sockets(a, b)
        await trio.sleep(1)  # idle: every ACK of the handshake is in
        tcb = connection_of(client)
        endpoint = client.endpoint
        assert endpoint is not None
        flushes, sent = endpoint.flushes, tcb.stats.segments_sent
        counts.clear()
        assert client.send_nowait(b"q") == 1
        assert endpoint.flushes - flushes == 1
        assert counts["passes"] == 1 and counts["segments"] == 1
        assert tcb.stats.segments_sent - sent == 1
        assert tcb.flight_size == 1  # on the wire, not waiting for the endpoint task
        assert await conn.recv(8) == b"q"
        for s in (client, conn, server):
            s.close()

    run_virtual(main, seed=2)


def test_recv_makes_an_output_pass_only_for_a_window_update(monkeypatch):
    """RFC 9293 3.8.6.2.2 (receiver SWS avoidance): reading sends a window update
    only when the window grows by min(buffer/2, MSS) from under half the
    buffer; any other read makes no output pass at all."""
    counts = _count_passes(monkeypatch)
    mss, buffer = 1000, 8000
    config = emutcp.Config(mss=mss, recv_buffer=buffer, autotune_recv=False, nodelay=True)

    async def main() -> None:
        _net, a, b = two_hosts(seed=4, config=config, delay=0.01)
        server, client, conn = await connected_sockets(a, b)
        tcb = connection_of(conn)
        await client.sendall(bytes(buffer))  # fills the receiver's buffer
        while tcb.readable_bytes < buffer:
            await conn.wait_for_wakeup()
        await trio.sleep(1)  # everything acknowledged; the window is closed
        assert tcb.rcv_wnd == 0
        endpoint = conn.endpoint
        assert endpoint is not None
        # A read that frees less than an MSS: no window update, no pass.
        counts.clear()
        flushes = endpoint.flushes
        assert len(await conn.recv(mss - 1)) == mss - 1
        assert counts["passes"] == 0 and endpoint.flushes == flushes
        # Freeing a full MSS makes the update worth sending: one pass, one ACK.
        sent = tcb.stats.segments_sent
        assert len(await conn.recv(1)) == 1
        assert counts["passes"] == 1 and endpoint.flushes == flushes + 1
        assert tcb.stats.segments_sent == sent + 1
        assert tcb.rcv_wnd >= mss
        # The rest arrives intact once the window reopens.
        got = bytearray(await conn.recv(buffer))
        while len(got) < buffer - mss:
            got += await conn.recv(buffer)
        assert bytes(got) == bytes(buffer - mss)
        for s in (client, conn, server):
            s.close()

    run_virtual(main, seed=4)


def test_echo_costs_are_repeatable(monkeypatch):
    """The counts are exact: a second run gives the same numbers."""
    first = _echo_round_costs(monkeypatch)
    monkeypatch.undo()
    assert _echo_round_costs(monkeypatch) == first


def test_real_udp_echo_waits_once_per_timer_not_per_datagram(monkeypatch):
    """Over loopback UDP the endpoint serves arrivals inside one wait whose
    deadline is the earliest timer: entering a cancel scope with a deadline
    costs as much as a scheduler round, so it is not done per datagram (it
    was twice per round).  Output passes stay at four per round."""
    counts = _count_passes(monkeypatch)
    waits: collections.Counter[str] = collections.Counter()

    async def main() -> None:
        rt = runtime.current()
        original = rt.Alarm

        class CountingAlarm:
            def __init__(self) -> None:
                self.inner = original()

            @property
            def waiting(self) -> bool:
                return self.inner.waiting

            async def wait(self, fn, deadline):  # type: ignore[no-untyped-def]
                waits["waits"] += 1
                await self.inner.wait(fn, deadline)

            def move(self, deadline: float) -> None:
                self.inner.move(deadline)

            def cancel(self) -> None:
                self.inner.cancel()

        monkeypatch.setattr(rt, "Alarm", CountingAlarm)
        host = emutcp.UdpHost(config=emutcp.Config(nodelay=True))
        listener = host.socket()
        await listener.bind(("127.0.0.1", 0))
        listener.listen(1)
        rounds = 200
        with trio.fail_after(60):
            async with trio.open_nursery() as nursery:

                async def echo() -> None:
                    conn, _ = await listener.accept()
                    while data := await conn.recv(64):
                        await conn.sendall(data)
                    conn.close()

                nursery.start_soon(echo)
                client = host.socket()
                await client.connect(listener.getsockname())
                await client.sendall(b"w")
                assert await client.recv(64) == b"w"
                waits.clear()
                counts.clear()
                for i in range(rounds):
                    await client.sendall(bytes([i]))
                    assert await client.recv(64) == bytes([i])
                measured = dict(waits), dict(counts)
                client.close()
        listener.close()
        (w, c) = measured
        # Before: 2 waits per round; now one per timer deadline that passed
        # (delayed ACK 40 ms, RTO), however slow the machine is.
        assert w.get("waits", 0) <= rounds // 2
        # A pass per arrival and per send; a delayed ACK that fires because
        # the machine stalled a round beyond 40 ms adds one now and then.
        assert 4 * rounds <= c["passes"] <= 4 * rounds + rounds // 10
        assert 2 * rounds <= c["segments"] <= 2 * rounds + rounds // 10

    trio.run(main)
