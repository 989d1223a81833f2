"""Hardening: hostile input, blind attacks, floods, limits, user timeout, keep-alive.

All in virtual time over the emulated network unless the test says otherwise.
"""

from __future__ import annotations

import trio
from emunet import A, B, connected_sockets, payload, transfer, two_hosts

import emutcp
from emutcp import State
from emutcp.testing import connection_of, inject_datagram, mux_of, wait_until


async def test_keepalive_finds_a_dead_peer(mock_clock):
    config = emutcp.Config(
        keepalive=True, keepalive_idle=60, keepalive_interval=10, keepalive_count=3
    )
    net, a, b = two_hosts(seed=1, config=config, delay=0.01)
    _server, client, conn = await connected_sockets(a, b)
    await client.sendall(b"hello")
    assert await conn.recv(10) == b"hello"
    t0 = trio.current_time()
    net.link(A, B).profile = emutcp.LinkProfile(delay=0.01, outages=((t0 + 1, 1e9),))
    victim = connection_of(client)
    with trio.fail_after(1000):
        await wait_until(client, lambda: client.state is State.CLOSED)
    assert isinstance(victim.error, TimeoutError)
    assert "keep-alive" in str(victim.error)
    # 60 s idle, then 3 probes 10 s apart, then give up.
    assert trio.current_time() - t0 == __import__("pytest").approx(60 + 3 * 10, abs=0.1)


async def test_keepalive_survives_one_lost_probe_and_idles_quietly(mock_clock):
    config = emutcp.Config(
        keepalive=True, keepalive_idle=60, keepalive_interval=10, keepalive_count=3
    )
    net, a, b = two_hosts(seed=1, config=config, delay=0.01)
    _server, client, conn = await connected_sockets(a, b)
    t0 = trio.current_time()
    # The first probe (at t0+60) is lost; the second is answered.
    net.link(A, B).profile = emutcp.LinkProfile(delay=0.01, outages=((t0 + 59, t0 + 61),))
    await trio.sleep(600)
    assert client.state is State.ESTABLISHED and conn.state is State.ESTABLISHED
    sent = net.link(A, B).stats.sent
    # Both ends probe once a minute (and answer the other's): about 2 x 10, not a stream.
    assert sent < 30


async def test_receiver_that_never_reads_blocks_the_sender_within_buffers(mock_clock):
    config = emutcp.Config(send_buffer=64_000, recv_buffer=64_000)
    net, a, b = two_hosts(seed=2, config=config, delay=0.01)
    _server, client, conn = await connected_sockets(a, b)
    sent = 0
    marks = []

    async def watch():
        await trio.sleep(10)  # by now the window is closed and both buffers are full
        marks.append(net.link(A, B).stats.sent)

    async with trio.open_nursery() as nursery:
        nursery.start_soon(watch)
        with trio.move_on_after(300):
            while True:
                sent += await client.send(b"x" * 10_000)
    assert sent <= 64_000 + 64_000 + 10_000  # both buffers, nothing more
    info = conn.info()
    assert info.recv_queue <= 64_000
    assert client.state is State.ESTABLISHED  # probing, not dying: the peer answers
    probes = net.link(A, B).stats.sent - marks[0]
    # Zero-window probes back off (RTO x 2^k, capped at 60 s): about 10 in 290 s, not 290.
    assert probes <= 12


async def test_user_timeout_aborts_a_stalled_sender_on_time(mock_clock):
    config = emutcp.Config(send_buffer=64_000, recv_buffer=64_000, user_timeout=30.0)
    _net, a, b = two_hosts(seed=3, config=config, delay=0.01)
    _server, client, _conn = await connected_sockets(a, b)
    start = trio.current_time()
    try:
        with trio.fail_after(300):
            while True:
                await client.send(b"x" * 10_000)
    except TimeoutError as exc:
        assert "user timeout" in str(exc)
    stalled_at = start  # the receiver's window closed within the first second
    assert trio.current_time() - stalled_at <= 32.0


async def test_rst_in_window_not_exact_gets_limited_challenge_acks(mock_clock):
    net, a, b = two_hosts(seed=4, delay=0.01)
    _server, client, conn = await connected_sockets(a, b)
    victim = connection_of(client)
    mux_b = b.endpoints()[0].mux
    peer_conn = connection_of(conn)
    before = net.link(A, B).stats.sent
    from emutcp.core.segment import RST, Segment, encode_segment
    from emutcp.core.seq import seq_add

    for i in range(10_000):  # 10,000 in-window, inexact RSTs in one second
        forged = Segment(
            B and 80, victim.local[1], seq_add(victim.rcv_nxt, 1 + i % 1000), 0, RST, 0
        )
        inject_datagram(client, encode_segment(forged), (B, 80))
        if i % 1000 == 0:
            await trio.sleep(0.0001)
    challenges = net.link(A, B).stats.sent - before
    assert challenges <= victim.config.challenge_ack_limit
    assert client.state is State.ESTABLISHED
    await client.sendall(b"still here")
    assert await conn.recv(20) == b"still here"
    assert peer_conn.state is State.ESTABLISHED
    assert mux_b is not None


async def test_malformed_datagrams_get_no_reply_and_transfer_stays_intact(mock_clock):
    import msgpack

    net, a, b = two_hosts(seed=5, delay=0.01)
    evil = net.add_host("10.0.0.66")
    net.add_link("10.0.0.66", B)
    forms = [
        b"",
        b"\x00" * 30,
        b"\x91" * 5000 + b"\x00",
        msgpack.packb([1, 2, 3]),
        msgpack.packb({"seq": 1}),
        msgpack.packb(msgpack.ExtType(3, b"boom")),
        msgpack.packb([1, True, 80, 0, 0, 2, 0, None, b"", 0]),
        msgpack.packb([1, 1, 80, 2**40, 0, 2, 0, None, b"", 0]),
        msgpack.packb([1, 1, 80, 0, 0, 3, 0, None, b"", 0]),  # SYN+FIN, bad CRC too
        b"\xdb\xff\xff\xff\xff",  # a str header declaring 4 GB
        b"\xc6\x7f\xff\xff\xff",  # a bin header declaring 2 GB
    ]
    transport = evil.make_transport(("10.0.0.66", 0))

    async def attack():
        for _ in range(200):
            for f in forms:
                transport.send(f, (B, 80))
            await trio.sleep(0.05)

    async with trio.open_nursery() as nursery:
        nursery.start_soon(attack)
        r = await transfer(a, b, payload(4_000_000))
    assert r.intact
    assert net.link(B, "10.0.0.66").stats.sent == 0  # never a reply
    stats = b.endpoint_stats()
    assert stats.get("internal_errors", 0) == 0


async def test_spoofed_syn_flood_keeps_the_table_bounded_and_a_real_client_connects(mock_clock):
    config = emutcp.Config(max_syn_backlog=64)
    net, a, b = two_hosts(seed=6, config=config, delay=0.01)
    net.trace_datagrams = []
    listeners = await b.open_listeners(80)
    endpoint = listeners[0].socket.endpoint
    mux = mux_of(listeners[0])
    from emutcp.core.segment import SYN, Segment, encode_segment

    received = 0
    for i in range(100_000):
        syn = encode_segment(Segment(1000 + i % 60000, 80, i * 7919, 0, SYN, 65535))
        received += len(syn)
        # Spoofed sources nobody answers from (no route back: a black hole).
        src = (f"10.99.{i // 60000}.{(i // 250) % 250}", 1000 + i % 60000)
        mux.receive_datagram(syn, src, trio.current_time())
        if i % 5000 == 0:
            endpoint.flush()
            await trio.sleep(0.01)
    endpoint.flush()
    assert len(mux.listener.half_open) <= 64
    assert mux.stats["syn_cookies_sent"] > 90_000
    # A real client still connects (its SYN is answered with a cookie) and talks.
    stream = await a.open_stream(B, 80)
    accepted = await listeners[0].accept()
    await stream.send_all(b"real")
    assert await accepted.receive_some(10) == b"real"
    await trio.sleep(200)  # let half-open SYN+ACK retransmissions run their course
    replies = sum(n for _, src, dst, n in net.trace_datagrams if dst.startswith("10.99."))
    assert replies <= 3 * received


def test_syn_cookies_reject_forged_and_stale_cookies():
    import random

    from emutcp.core.syncookies import SynCookies

    jar = SynCookies(random.Random(1))
    local, remote = ("10.0.0.2", 80), ("10.0.0.1", 4000)
    cookie = jar.make(local, remote, 12345, mss=1400, wscale=7, sack=True, now=1000.0)
    assert jar.check(local, remote, 12345, cookie, 1000.0) == (1400, 7, True)
    assert jar.check(local, remote, 12345, cookie, 1050.0) == (1400, 7, True)  # next slot
    assert jar.check(local, remote, 12345, cookie, 1200.0) is None  # two slots on: stale
    assert jar.check(local, remote, 12346, cookie, 1000.0) is None  # other client ISN
    assert jar.check(local, ("10.0.0.9", 4000), 12345, cookie, 1000.0) is None
    assert jar.check(local, remote, 12345, cookie ^ 1, 1000.0) is None  # forged
    other = SynCookies(random.Random(2))
    assert other.check(local, remote, 12345, cookie, 1000.0) is None  # another secret


async def test_half_open_peer_gets_at_most_3x_its_bytes(mock_clock):
    net, _a, b = two_hosts(seed=7, delay=0.01)
    net.trace_datagrams = []
    listeners = await b.open_listeners(80)
    from emutcp.core.segment import SYN, Segment, encode_segment

    syn = encode_segment(Segment(5555, 80, 42, 0, SYN, 65535))
    inject_datagram(listeners[0], syn, ("10.66.0.1", 5555))
    await trio.sleep(300)  # all SYN+ACK retransmissions would take ~127 s
    sent = [n for _, _, dst, n in net.trace_datagrams if dst.startswith("10.66.")]
    assert len(sent) >= 1 and sum(sent) <= 3 * len(syn)


async def test_desynchronizing_man_in_the_middle_causes_no_ack_storm(mock_clock):
    from emutcp.core.segment import ACK, PSH, Segment, encode_segment

    net, a, b = two_hosts(seed=8, delay=0.01)
    _server, client, conn = await connected_sockets(a, b)
    await client.sendall(b"before")
    assert await conn.recv(10) == b"before"
    # The MITM injects 1,000 bytes into the server's stream as if from the client:
    # the server's RCV.NXT jumps past everything the client will ever send there.
    victim = connection_of(conn)
    forged = Segment(
        client.getsockname()[1],
        80,
        victim.rcv_nxt,
        victim.snd_nxt,
        ACK | PSH,
        1000,
        payload=b"X" * 1000,
    )
    inject_datagram(conn, encode_segment(forged), victim.remote)
    before = net.link(A, B).stats.sent + net.link(B, A).stats.sent
    with trio.move_on_after(60):
        await client.sendall(b"after")  # the client's data now looks old to the server
        await trio.sleep(1000)
    exchanged = net.link(A, B).stats.sent + net.link(B, A).stats.sent - before
    # Without rate limiting each side would ACK the other's ACKs at line rate.
    assert exchanged < 400


async def test_host_connection_limit_gives_a_clear_error(mock_clock):
    import pytest

    config = emutcp.Config(max_connections=3)
    _net, a, b = two_hosts(seed=9, config=config, delay=0.01)
    listeners = await b.open_listeners(80, backlog=10)  # kept: a dropped one closes
    socks = []
    for _ in range(3):
        s = a.socket()
        await s.connect((B, 80))
        socks.append(s)
    with pytest.raises(OSError, match="too many connections"):
        await a.socket().connect((B, 80))
    assert listeners[0].socket.is_listening


async def test_time_wait_entries_are_evicted_first_when_the_table_is_full(mock_clock):
    config = emutcp.Config(max_connections=2)
    _net, a, b = two_hosts(seed=10, config=config, delay=0.01)
    listeners = await b.open_listeners(80, backlog=10)
    first = a.socket()
    await first.connect((B, 80))
    accepted = await listeners[0].accept()
    first.shutdown(emutcp.SHUT_WR)
    await accepted.send_eof()  # both sides close: the client ends in TIME-WAIT
    await first.wait_closed()
    assert first.state is State.TIME_WAIT
    second = a.socket()
    await second.connect((B, 80))
    third = a.socket()
    await third.connect((B, 80))  # evicts the client's TIME-WAIT entry
    assert second.state is third.state is State.ESTABLISHED
