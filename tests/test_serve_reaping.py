"""``emutcp serve`` reaps clients that vanished, and never a live idle one.

The serve command's keep-alive defaults, run in virtual time over an emulated
link: a client host that crashes mid-transfer (SIGKILL, a pulled cable: it
never answers again) is noticed within 20 s; an idle client that is alive
answers every probe and stays for good.
"""

from __future__ import annotations

import pytest
import trio

import emutcp
from emutcp.testing import A, B, connected_sockets, two_hosts
from emutcp.tools.cli import build_parser, config_from_args


def _serve_config(*extra: str):
    return config_from_args(build_parser().parse_args(["serve", "--port", "80", *extra]))


@pytest.mark.parametrize("how", ["process killed", "cable pulled"])
async def test_a_client_that_vanishes_mid_transfer_is_reaped_within_20_s(how, mock_clock):
    config = _serve_config()
    assert config.keepalive
    net, client_host, server_host = two_hosts(seed=1, delay=0.01)
    server_host.config = config  # the server runs with serve's defaults
    server, client, conn = await connected_sockets(client_host, server_host)
    await client.sendall(b"x" * 100_000)
    while await conn.recv(1 << 16) and conn.info().bytes_received < 100_000:
        pass
    t0 = trio.current_time()
    if how == "process killed":
        client_host.crash()  # its host answers the probes' port with RST
    else:  # nothing answers at all: only the probes can tell
        net.link(A, B).profile = emutcp.LinkProfile(delay=0.01, outages=((t0, 1e9),))
        net.link(B, A).profile = emutcp.LinkProfile(delay=0.01, outages=((t0, 1e9),))
    with pytest.raises((ConnectionResetError, TimeoutError)), trio.fail_after(20):
        while await conn.recv(1 << 16):
            pass
    assert trio.current_time() - t0 <= 20
    server.close()
    conn.close()


async def test_a_live_idle_client_is_never_dropped(mock_clock):
    _net, client_host, server_host = two_hosts(seed=2, delay=0.01)
    server_host.config = _serve_config()
    server, client, conn = await connected_sockets(client_host, server_host)
    await trio.sleep(3600)  # an hour of silence from the application
    await client.sendall(b"still here")
    assert await conn.recv(100) == b"still here"
    for s in (server, client, conn):
        s.close()


def test_keepalive_can_be_tuned_or_turned_off():
    assert not _serve_config("--keepalive", "off").keepalive
    tuned = _serve_config("--keepalive", "10,2,5")
    assert (tuned.keepalive_idle, tuned.keepalive_interval, tuned.keepalive_count) == (10, 2, 5)
