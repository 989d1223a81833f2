"""Fault survival over the emulated network, in virtual time.

Each transfer moves at least 4 MB and checks sha256 equality unless it says
otherwise.  Virtual time: `mock_clock` makes trio jump to the next deadline
whenever every task sleeps, so minutes of link time take seconds of wall time.
"""

from __future__ import annotations

import pytest
import trio
from emunet import A, B, connected_sockets, payload, transfer, two_hosts

import emutcp
from emutcp import GilbertElliott, State

MB4 = 4_000_000


@pytest.mark.parametrize("loss", [0.01, 0.05, 0.20])
async def test_bernoulli_loss(mock_clock, loss):
    net, a, b = two_hosts(seed=11, loss=loss, delay=0.01, rate=50e6, queue=200)
    r = await transfer(a, b, payload(MB4))
    assert r.intact
    assert r.client_info.retransmits > 0
    dropped = net.link(A, B).stats.dropped["loss"] + net.link(B, A).stats.dropped["loss"]
    assert dropped > 0


async def test_gilbert_elliott_bursts(mock_clock):
    burst = GilbertElliott(p=0.01, r=0.25)  # mean burst 4, about 4 % average loss
    assert 0.03 < burst.average_loss < 0.05
    # Seed 13: the model's bursts are per datagram, so a direction that carries
    # one retransmission per RTO can stay "bad" for many RTOs (with seed 12 the
    # ACK direction drew 12 losses in a row, 0.75**12, and the sender gave up).
    net, a, b = two_hosts(seed=13, burst=burst, delay=0.01)
    r = await transfer(a, b, payload(MB4))
    assert r.intact
    assert net.link(A, B).stats.dropped["loss"] > 20


async def test_reordering_and_duplication_deliver_each_byte_once(mock_clock):
    net, a, b = two_hosts(seed=13, reorder=0.25, reorder_gap=5, duplicate=0.30, delay=0.005)
    r = await transfer(a, b, payload(MB4))
    assert len(r.received) == r.nbytes  # no byte delivered twice
    assert r.intact
    assert net.link(A, B).stats.reordered > 100
    assert net.link(A, B).stats.duplicated > 100


async def test_bit_flips_and_truncation_never_deliver_corrupt_bytes(mock_clock):
    net, a, b = two_hosts(seed=14, corrupt=0.01, truncate=0.01, delay=0.005)
    r = await transfer(a, b, payload(MB4))
    assert r.intact
    link = net.link(A, B).stats
    assert link.corrupted > 10 and link.truncated > 10
    malformed = b.endpoint_stats().get("malformed", 0) + b.stats.get("malformed", 0)
    assert malformed > 0


async def test_blackout_mid_transfer_resumes_within_one_capped_rto(mock_clock):
    outage = (2.0, 22.0)
    _net, a, b = two_hosts(seed=15, delay=0.02, rate=10e6, queue=100, outages=(outage,))
    arrivals: list[float] = []
    a.trace = lambda rec, local, remote: (
        arrivals.append(rec.time)
        if isinstance(rec, emutcp.SegmentRecord) and rec.direction == "in"
        else None
    )
    rto_at_end: list[float] = []

    async def watch():
        await trio.sleep_until(outage[1])
        conns = [c for ep in a.endpoints() for c in ep.mux.connections.values()]
        rto_at_end.append(conns[0].rtt.rto)

    async with trio.open_nursery() as nursery:
        nursery.start_soon(watch)
        r = await transfer(a, b, payload(MB4))
    assert r.intact
    first_after = min(t for t in arrivals if t >= outage[1])
    assert first_after - outage[1] <= min(rto_at_end[0], 60.0) + 0.1


async def test_partition_longer_than_retry_limit_times_out_both_ends(mock_clock):
    config = emutcp.Config(max_retries=5)
    _net, a, b = two_hosts(seed=16, config=config, delay=0.01, outages=((1.0, 10_000.0),))
    _server, client, conn = await connected_sockets(a, b)
    errors = {}

    async def pump(name, sock):
        try:
            with trio.fail_after(1000):
                while True:
                    await sock.send(b"z" * 10_000)
        except TimeoutError as exc:
            errors[name] = exc

    async with trio.open_nursery() as nursery:
        nursery.start_soon(pump, "client", client)
        nursery.start_soon(pump, "server", conn)
    assert set(errors) == {"client", "server"}
    assert all(isinstance(e, TimeoutError) for e in errors.values())
    assert client.state is State.CLOSED and conn.state is State.CLOSED
    assert trio.current_time() < 200  # 1+2+4+8+16+32 s of backoff, then give up


async def test_server_restart_resets_the_client_and_a_new_connection_works(mock_clock):
    _net, a, b = two_hosts(seed=17, delay=0.01)
    server, client, conn = await connected_sockets(a, b)
    await client.sendall(b"before")
    assert await conn.recv(10) == b"before"
    b.crash()  # all of b's connections vanish
    with pytest.raises(ConnectionResetError):
        with trio.fail_after(30):
            await client.sendall(b"after the restart")
            await client.recv(10)
    server = b.socket()
    await server.bind((B, 80))
    server.listen(1)
    r = await transfer(a, b, payload(100_000), port=81)
    assert r.intact
    again = a.socket()
    await again.connect((B, 80))
    assert again.state is State.ESTABLISHED


async def test_simultaneous_open_and_close_under_loss(mock_clock):
    closing_seen = 0
    for seed in range(5):
        _net, a, b = two_hosts(seed=100 + seed, loss=0.05, delay=0.02)
        sa, sb = a.socket(), b.socket()
        await sa.bind((A, 5000))
        await sb.bind((B, 6000))
        async with trio.open_nursery() as nursery:
            nursery.start_soon(sa.connect, (B, 6000))
            nursery.start_soon(sb.connect, (A, 5000))
        assert State.SYN_RCVD in [t.new for t in sa.transitions]
        assert sa.state is sb.state is State.ESTABLISHED
        await sa.sendall(b"ping")
        assert await sb.recv(10) == b"ping"
        sa.shutdown(emutcp.SHUT_WR)
        sb.shutdown(emutcp.SHUT_WR)
        with trio.fail_after(300):
            await sa.wait_closed()
            await sb.wait_closed()
        paths = [[t.new for t in s.transitions] for s in (sa, sb)]
        # Both closed actively, so both pass TIME-WAIT (possibly expired since).
        assert all(State.TIME_WAIT in p for p in paths), paths
        closing_seen += sum(State.CLOSING in p for p in paths)
    assert closing_seen >= 2  # the FINs crossed: CLOSING, as in RFC 9293 figure 13


async def test_200_concurrent_connections_through_one_bottleneck(mock_clock):
    _net, a, b = two_hosts(seed=18, delay=0.01, rate=10e6, queue=100)
    n, size = 200, 20_000
    data = [payload(size, seed=i) for i in range(n)]
    received: dict[int, bytes] = {}
    listeners = await b.open_listeners(80, backlog=n)

    async def serve_one(stream):
        chunks = []
        while chunk := await stream.receive_some(1 << 16):
            chunks.append(chunk)
        blob = b"".join(chunks)
        received[int.from_bytes(blob[:2], "big")] = blob[2:]
        await stream.aclose()

    async def client(i):
        stream = await a.open_stream(B, 80)
        await stream.send_all(i.to_bytes(2, "big") + data[i])
        await stream.send_eof()
        await stream.receive_some(1)
        await stream.aclose()

    async with trio.open_nursery() as nursery:
        nursery.start_soon(trio.serve_listeners, serve_one, listeners)
        async with trio.open_nursery() as clients:
            for i in range(n):
                clients.start_soon(client, i)
        with trio.fail_after(600):
            while len(received) < n:
                await trio.sleep(1)
        nursery.cancel_scope.cancel()
    assert all(received[i] == data[i] for i in range(n))


def _simulate(seed: int) -> list:
    from emutcp.testing import pin_trio_scheduling

    pin_trio_scheduling(0)  # trio's run-queue order; the link RNGs come from `seed`

    async def main():
        net, a, b = two_hosts(seed=seed, loss=0.03, delay=0.01, jitter=0.005, reorder=0.05)
        net.trace_datagrams = []
        await transfer(a, b, payload(300_000))
        return net.trace_datagrams

    import trio.testing

    return trio.run(main, clock=trio.testing.MockClock(autojump_threshold=0))


def test_same_seed_same_run_datagram_for_datagram():
    first, second = _simulate(5), _simulate(5)
    assert len(first) > 200
    assert first == second
    assert _simulate(6) != first


async def test_connect_with_no_answer_times_out_after_syn_retries(mock_clock):
    config = emutcp.Config(syn_retries=3)
    _net, a, _b = two_hosts(seed=19, config=config, outages=((0.0, 1e9),))
    sock = a.socket()
    with pytest.raises(TimeoutError, match="SYN"):
        await sock.connect((B, 80))
    assert trio.current_time() == pytest.approx(1 + 2 + 4 + 8)
