"""Receive- and send-buffer autotuning (core/autotune.py, Linux's dynamic right
sizing): the issue's utilization check in virtual time, the rules, the
SO_RCVBUF/SO_SNDBUF opt-out and the memory of idle connections."""

from __future__ import annotations

import gc
import tracemalloc

import trio
from tcptest import ACK, SYN, TcpTest

import emutcp
from emutcp.core.autotune import RecvAutotune, send_buffer_size
from emutcp.core.config import Config
from emutcp.core.segment import Options
from emutcp.lab.flows import bottleneck, run_flows
from emutcp.lab.trial import DEFAULTS, trial_config
from emutcp.testing import run_virtual


def test_check_default_buffers_fill_100_mbit_at_100_ms():
    # One NewReno flow, 100 Mbit/s, 100 ms RTT, a one-BDP drop-tail queue, the
    # library's default buffers (jumbo segments only to keep the test quick).
    config = Config(mss=8960)

    async def main():
        net, a, b = bottleneck(rate=100e6, rtt=0.1, mss=8960, config=config)
        return await run_flows(net, a, b, duration=4.0, window=(2.0, 4.0))

    result = run_virtual(main, seed=1)
    assert result["goodput"][0] >= 0.90 * 100e6, result["goodput"]
    info = result["info"][0]
    assert info.cwnd > 256 * 1024  # beyond the initial buffers' reach


def test_receive_buffer_grows_with_what_the_application_reads():
    tune = RecvAutotune(ceiling=6 << 20, now=0.0)
    tune.rtt_sample(0.1)
    assert tune.read(50_000, 0.05, 256 << 10, 1400, None) == 256 << 10  # same round
    # After one RTT: 2 * what the round read + 16 segments (Linux's rcvwin).
    size = tune.read(100_000, 0.1, 256 << 10, 1400, None)
    assert size == 2 * 150_000 + 16 * 1400
    # The next round read twice as much: still accelerating, so grow twice more.
    size = tune.read(300_000, 0.2, size, 1400, None)
    assert size == 3 * (2 * 300_000 + 16 * 1400)
    # Never beyond the ceiling, never shrinking.
    assert tune.read(5_000_000, 0.35, size, 1400, None) == 6 << 20
    assert tune.read(10, 0.5, 6 << 20, 1400, None) == 6 << 20
    off = RecvAutotune(ceiling=0, now=0.0)
    assert off.read(10_000_000, 1.0, 1000, 1400, None) == 1000


def test_send_buffer_follows_twice_cwnd_up_to_its_ceiling():
    assert send_buffer_size(256 << 10, 100_000, 4 << 20) == 256 << 10
    assert send_buffer_size(256 << 10, 1 << 20, 4 << 20) == 2 << 20
    assert send_buffer_size(256 << 10, 8 << 20, 4 << 20) == 4 << 20


def test_window_scale_covers_the_ceiling_unless_tuning_is_off():
    assert TcpTest(config=Config()).conn.rcv_wscale == 7  # 6 MiB
    fixed = Config(recv_buffer=256 << 10, autotune_recv=False)
    assert TcpTest(config=fixed).conn.rcv_wscale == 3


async def test_explicit_buffer_sizes_turn_autotuning_off(mock_clock):
    net = emutcp.EmulatedNetwork(seed=1)
    host = net.add_host("10.0.0.1")
    s = host.socket()
    assert s.config.autotune_recv and s.config.autotune_send
    s.setsockopt(emutcp.SOL_SOCKET, emutcp.SO_RCVBUF, 100_000)
    s.setsockopt(emutcp.SOL_SOCKET, emutcp.SO_SNDBUF, 50_000)
    assert not s.config.autotune_recv and not s.config.autotune_send
    assert s.getsockopt(emutcp.SOL_SOCKET, emutcp.SO_RCVBUF) == 100_000
    s.close()


def test_so_rcvbuf_on_a_connected_socket_stops_tuning_and_limits_the_window():
    # As Linux: allowed after connect; the peer then sees the smaller window
    # (and the right edge already advertised is kept), and the transfer stays intact.
    async def main():
        net = emutcp.EmulatedNetwork(seed=2)
        a, b = net.add_host("10.0.0.1"), net.add_host("10.0.0.2")
        net.add_link("10.0.0.1", "10.0.0.2", delay=0.01, rate=10e6)
        listeners = await b.open_listeners(80)
        client = await a.open_stream("10.0.0.2", 80)
        server = await listeners[0].accept()
        server.socket.setsockopt(emutcp.SOL_SOCKET, emutcp.SO_RCVBUF, 20_000)
        assert server.socket.getsockopt(emutcp.SOL_SOCKET, emutcp.SO_RCVBUF) == 20_000
        data = bytes(range(256)) * 4000  # 1 MB
        windows = []
        got = bytearray()
        async with trio.open_nursery() as nursery:
            nursery.start_soon(client.send_all, data)
            while len(got) < len(data):
                await trio.sleep(0.05)  # a slow reader: the window is the limit
                windows.append(client.socket.info().snd_wnd)
                got += await server.receive_some(1 << 20)
        return bytes(got), windows, server.socket.info()

    got, windows, info = run_virtual(main, seed=2)
    assert got == bytes(range(256)) * 4000
    assert max(windows[5:]) <= 20_000 + 128  # window scale 7: 128-byte steps
    assert info.rcv_wnd <= 20_000 + 128


def test_experiments_use_the_library_defaults_unless_they_set_buffers():
    default = trial_config(DEFAULTS)
    assert default.autotune_recv and default.recv_buffer == Config().recv_buffer
    fixed = trial_config({**DEFAULTS, "recv_buffer": 1 << 20, "send_buffer": 1 << 19})
    assert (fixed.recv_buffer, fixed.autotune_recv) == (1 << 20, False)
    assert (fixed.send_buffer, fixed.autotune_send) == (1 << 19, False)


def _idle_connection():
    t = TcpTest(config=Config(mss=1400))
    t.conn.open_active(0.0)
    t.drain()
    opts = Options(mss=1400, sack_permitted=True, wscale=7, timestamps=(1, 0))
    t.inject(SYN | ACK, 0, 1, options=opts)
    t.conn.send(b"x" * 1000, 0.0)
    t.drain()
    t.inject(ACK, 1, 1001, options=Options(timestamps=(2, 1)))
    t.drain()
    t.conn.tracer = None
    return t.conn


def test_a_thousand_idle_connections_cost_little_memory():
    _idle_connection()
    gc.collect()
    tracemalloc.start()
    try:
        before = tracemalloc.take_snapshot()
        conns = [_idle_connection() for _ in range(300)]
        gc.collect()
        after = tracemalloc.take_snapshot()
    finally:
        tracemalloc.stop()
    per_conn = sum(d.size_diff for d in after.compare_to(before, "filename")) / len(conns)
    # Measured 6.5 KB (5.6 KB before RACK, PRR, F-RTO and autotuning): buffers hold
    # only queued bytes, so the MiB ceilings cost nothing while idle.
    assert per_conn < 12_000, per_conn
