"""The impairment relay and impaired real UDP, over loopback."""

from __future__ import annotations

import hashlib
import os

import pytest
import trio

import emutcp
from emutcp import LinkProfile
from emutcp.lab.bulk import bulk_transfer
from emutcp.lab.relay import Relay
from emutcp.lab.units import parse_duration, parse_rate

LO = "127.0.0.1"


def test_parsers():
    assert parse_duration("40ms") == pytest.approx(0.04)
    assert parse_duration("1.5s") == 1.5
    assert parse_duration("0.2") == 0.2
    assert parse_rate("10mbit") == 10e6
    assert parse_rate("2M") == 2e6
    with pytest.raises(ValueError):
        parse_duration("fast")
    with pytest.raises(ValueError):
        parse_rate("10 furlongs")


async def _send_through(server_addr, client_host, data: bytes, listener) -> bytes:
    r = await bulk_transfer(
        client_host, None, data, listener=listener, connect_to=server_addr, keep=True, timeout=60
    )
    return r.received


async def test_relay_carries_an_emutcp_transfer_through_loss_and_delay():
    config = emutcp.Config(rto_min=0.2, initial_rto=0.2)
    host = emutcp.UdpHost(config=config)
    listener = host.socket()
    await listener.bind((LO, 0))
    listener.listen(1)
    profile = LinkProfile(loss=0.03, delay=0.002, duplicate=0.02)
    relay = Relay(listen=(LO, 0), target=listener.getsockname(), forward=profile, reverse=profile)
    data = os.urandom(200_000)
    async with trio.open_nursery() as nursery:
        await nursery.start(relay.run)
        got = await _send_through(relay.local, host, data, listener)
        nursery.cancel_scope.cancel()
    assert hashlib.sha256(got).digest() == hashlib.sha256(data).digest()
    stats = relay.stats()["sessions"][0]
    assert stats["forward"]["dropped"]["loss"] > 0
    assert stats["forward"]["duplicated"] > 0
    listener.close()


async def test_impaired_udp_host_survives_loss():
    config = emutcp.Config(rto_min=0.2, initial_rto=0.2)
    server_host = emutcp.UdpHost(config=config)
    client_host = emutcp.UdpHost(config=config, impair=LinkProfile(loss=0.05, delay=0.001))
    listener = server_host.socket()
    await listener.bind((LO, 0))
    listener.listen(1)
    data = os.urandom(150_000)
    got = await _send_through(listener.getsockname(), client_host, data, listener)
    assert got == data
    listener.close()


async def test_relay_carries_any_udp_protocol_not_just_emutcp():
    echo = trio.socket.socket(trio.socket.AF_INET, trio.socket.SOCK_DGRAM)
    await echo.bind((LO, 0))
    relay = Relay(
        listen=(LO, 0), target=echo.getsockname(), forward=LinkProfile(), reverse=LinkProfile()
    )
    client = trio.socket.socket(trio.socket.AF_INET, trio.socket.SOCK_DGRAM)
    async with trio.open_nursery() as nursery:
        await nursery.start(relay.run)

        async def echo_server():
            while True:
                data, addr = await echo.recvfrom(100)
                await echo.sendto(data.upper(), addr)

        nursery.start_soon(echo_server)
        with trio.fail_after(10):
            await client.sendto(b"plain udp, not a segment", relay.local)
            assert await client.recv(100) == b"PLAIN UDP, NOT A SEGMENT"
        nursery.cancel_scope.cancel()
    client.close()
    echo.close()


async def test_relay_exports_the_segments_it_carries_as_pcap(tmp_path):
    from emutcp.pcap import PcapWriter

    host = emutcp.UdpHost()
    listener = host.socket()
    await listener.bind((LO, 0))
    listener.listen(1)
    writer = PcapWriter(str(tmp_path / "relay.pcapng"), directions=("out",))
    relay = Relay(
        listen=(LO, 0),
        target=listener.getsockname(),
        forward=LinkProfile(),
        reverse=LinkProfile(),
        observer=writer,
    )
    async with trio.open_nursery() as nursery:
        await nursery.start(relay.run)
        got = await _send_through(relay.local, host, b"z" * 50_000, listener)
        nursery.cancel_scope.cancel()
    writer.close()
    assert got == b"z" * 50_000
    assert writer.packets > 40  # both directions: data one way, ACKs the other
    listener.close()
