"""Packetization-layer PMTUD (RFC 4821 / RFC 8899): black holes and probing up.

A black hole is a path that silently drops datagrams above some size while
the host believes its MTU is larger (a router whose "fragmentation needed"
never arrives).  In virtual time the emulated link drops datagrams above its
``mtu`` while the host is told nothing about the path (``max_datagram`` is
None): full-sized segments vanish; after two timeouts the sender falls back
to the base size (1200 bytes of UDP payload) and then probes upward, one
larger segment at a time, until the largest size the path carries is found.
"""

from __future__ import annotations

import hashlib

import pytest
import trio

from emutcp import Config
from emutcp.core.plpmtud import BASE_DATAGRAM, MAX_PROBES, PROBE_THRESHOLD, MtuSearch
from emutcp.core.segment import ACK, Segment, encode_segment, segment_overhead
from emutcp.testing import B, connection_of, payload, stream_pair, two_hosts

LINK_MTU = 1500  # datagram bytes the emulated path really carries


# ----------------------------------------------------------- the search itself


def test_search_bisects_and_stops_within_the_threshold():
    s = MtuSearch(current=1000, ceiling=2000, base=1000)
    sizes = []
    while (size := s.probe_size()) is not None:
        sizes.append(size)
        if size + 84 <= 1500:  # a path of 1500 with 84 bytes of framing
            s.acked(size, now=0.0)
        else:
            for _ in range(MAX_PROBES):
                s.lost(size, now=0.0)
    assert sizes[0] == 1500  # the midpoint first (RFC 4821 7.3)
    assert 1416 - PROBE_THRESHOLD <= s.low <= 1416 < s.high + 1
    assert s.completed_at == 0.0


def test_one_lost_probe_is_not_enough_to_give_a_size_up():
    s = MtuSearch(current=1000, ceiling=2000, base=1000)
    size = s.probe_size()
    s.lost(size, now=0.0)
    assert s.probe_size() == size  # RFC 8899 5.1.2: MAX_PROBES tries per size
    for _ in range(MAX_PROBES - 1):
        s.lost(size, now=0.0)
    assert s.high == size - 1


def test_black_hole_falls_to_base_and_searches_below_what_failed():
    s = MtuSearch(current=8000, ceiling=8000, base=1116)
    assert s.probe_size() is None  # nothing to learn yet
    assert s.black_hole(now=5.0) == 1116
    assert s.low == 1116 and s.high == 7999
    assert s.probe_size() == (1116 + 7999 + 1) // 2


def test_completed_search_reopens_after_the_raise_timer():
    s = MtuSearch(current=1200, ceiling=1400, base=1116)
    for _ in range(MAX_PROBES):
        s.lost(s.probe_size(), now=0.0)
    while (size := s.probe_size()) is not None:
        for _ in range(MAX_PROBES):
            s.lost(size, now=10.0)
    assert not s.searching
    assert not s.raise_due(now=100.0)
    assert s.raise_due(now=10.0 + 600.0)  # RFC 8899 5.1.1 PMTU_RAISE_TIMER
    assert s.high == 1400


# -------------------------------------------------- end to end, virtual time


def _black_hole_network(seed: int = 1):
    net, a, b = two_hosts(seed=seed, delay=0.002, mtu=LINK_MTU)
    net.max_datagram = lambda src, dst: None  # the hosts cannot see the path's MTU
    return net, a, b


def _assert_found_the_path_size(conn) -> None:
    """The search ended (RFC 4821 7.3) at a size the path carries (the transfer
    finished with it) and no smaller than the worst-case framing allows."""
    assert not conn.mtu_search.searching
    smallest_framing = len(encode_segment(Segment(1, 1, 1, 1, ACK, 1)))
    assert LINK_MTU - segment_overhead() <= conn.snd_mss <= LINK_MTU - smallest_framing


async def _move(client, server, data: bytes) -> None:
    """Send ``data`` and the FIN, read to EOF; sha256-equal at the far end."""
    received = bytearray()

    async def read_all() -> None:
        while chunk := await server.receive_some(65536):
            received.extend(chunk)

    with trio.fail_after(600):
        async with trio.open_nursery() as nursery:
            nursery.start_soon(read_all)
            await client.send_all(data)
            await client.send_eof()
    assert hashlib.sha256(received).hexdigest() == hashlib.sha256(data).hexdigest()


async def _transfer(config: Config, nbytes: int, net_hosts) -> tuple[bytes, object]:
    _net, a, b = net_hosts
    data = payload(nbytes)
    client, server = await stream_pair(b, B, config=config, client_host=a)
    await _move(client, server, data)
    return data, connection_of(client)


async def test_black_hole_is_detected_and_the_largest_working_size_found(mock_clock):
    # No queue to overflow and a window of 32 KB: every loss is the path's MTU.
    config = Config(mss=4000, plpmtud=True, recv_buffer=32 * 1024)
    _data, conn = await _transfer(config, 2_500_000, _black_hole_network())
    assert conn.stats.mtu_black_holes == 1
    assert conn.stats.mtu_probes > 0 and conn.stats.mtu_probes_lost > 0
    _assert_found_the_path_size(conn)
    assert conn.info().mss == conn.snd_mss
    # RFC 4821 7.5: lost probes are not congestion; no fast retransmit was taken.
    assert conn.stats.fast_retransmits == 0


async def test_without_plpmtud_a_black_hole_stalls_the_connection(mock_clock):
    config = Config(mss=8000, plpmtud=False, max_retries=3)
    _net, a, b = _black_hole_network()
    client, _server = await stream_pair(b, B, config=config, client_host=a)
    await client.send_all(payload(100_000))
    with trio.fail_after(60), pytest.raises(trio.BrokenResourceError) as failure:
        await client.receive_some(1)  # the connection's error surfaces here
    assert isinstance(failure.value.__cause__, TimeoutError)
    assert connection_of(client).stats.bytes_acked == 0


async def test_probing_up_from_a_small_start_reaches_the_path_size(mock_clock):
    """A connection that starts below what the path carries (say after the
    kernel's path-MTU cache fell) finds its way back up by probing."""
    config = Config(mss=4000, plpmtud=True, recv_buffer=32 * 1024)
    net_hosts = _black_hole_network(seed=2)
    _net, a, b = net_hosts
    client, server = await stream_pair(b, B, config=config, client_host=a)
    conn = connection_of(client)
    conn.path_mss_lowered(600, trio.current_time())  # a PTB told us 600 ...
    assert conn.snd_mss == 600
    conn.mtu_search.high = conn.mtu_search.ceiling  # ... and the path since healed
    await _move(client, server, payload(1_500_000))
    _assert_found_the_path_size(conn)
    assert conn.stats.mtu_black_holes == 0 and conn.stats.rto_expirations == 0


async def test_a_clean_path_sends_no_probes(mock_clock):
    net_hosts = two_hosts(seed=3, delay=0.01, mtu=LINK_MTU)
    config = Config(plpmtud=True)
    _data, conn = await _transfer(config, 500_000, net_hosts)
    assert conn.stats.mtu_probes == 0 and conn.stats.mtu_black_holes == 0
    assert conn.snd_mss == 1400


def test_real_udp_hosts_probe_and_emulated_ones_do_not():
    import emutcp

    _net, a, _b = two_hosts()
    assert a.socket().config.plpmtud is False
    assert emutcp.UdpHost().socket().config.plpmtud is True
    assert BASE_DATAGRAM == 1200
