"""ECN over real UDP (loopback): the ECN field in the IP header, a marking relay."""

from __future__ import annotations

import hashlib
import os

import trio

import emutcp
from emutcp import LinkProfile
from emutcp.lab.relay import Relay
from emutcp.testing import connection_of
from emutcp.transport.udp import UdpTransport

LO = "127.0.0.1"


async def test_udp_carries_the_ecn_field_both_ways():
    a, b = UdpTransport((LO, 0)), UdpTransport((LO, 0))
    assert a.enable_ecn() and b.enable_ecn()
    for ecn in (0, 2, 3, 1, 0):
        assert a.send(b"x", b.local, ecn)
        with trio.fail_after(5):
            await b.wait_readable()
        assert b.recv_batch(10) == [(b"x", a.local, ecn)]
    plain = UdpTransport((LO, 0))  # without enable_ecn: pairs, as before
    a.send(b"y", plain.local, 2)
    with trio.fail_after(5):
        await plain.wait_readable()
    assert plain.recv_batch(10) == [(b"y", a.local)]
    for t in (a, b, plain):
        t.close()


async def test_transfer_through_a_marking_relay_has_no_drops():
    """CoDel on a 4 Mbit/s relay with --ecn: the queue is signalled by CE marks,
    not drops; the receiver counts them, the sender never retransmits."""
    config = emutcp.Config(ecn=True, rto_min=0.2, initial_rto=0.2)
    host = emutcp.UdpHost(config=config)
    listener = host.socket()
    await listener.bind((LO, 0))
    listener.listen(1)
    forward = LinkProfile(
        rate=4e6,
        delay=0.005,
        queue=500,
        qdisc="codel",
        qdisc_params={"target": 0.002, "interval": 0.02},
    )
    relay = Relay(
        listen=(LO, 0),
        target=listener.getsockname(),
        forward=forward,
        reverse=LinkProfile(),
        ecn=True,
    )
    data = os.urandom(600_000)
    got = bytearray()
    async with trio.open_nursery() as nursery:
        await nursery.start(relay.run)
        client = host.socket()
        with trio.fail_after(30):
            await client.connect(relay.local)
            server, _ = await listener.accept()
            nursery.start_soon(client.sendall, data)
            while len(got) < len(data):
                got += await server.recv(1 << 20)
        receiver, sender = connection_of(server), connection_of(client)
        nursery.cancel_scope.cancel()
    assert hashlib.sha256(got).digest() == hashlib.sha256(data).digest()
    assert sender.ecn.ok and receiver.ecn.ok
    fwd = relay.stats()["sessions"][0]["forward"]
    assert fwd["queue"]["marked"] > 0 and fwd["queue"]["dropped"] == 0 and not fwd["dropped"]
    assert receiver.ecn.ce_received > 0  # the CE marks crossed real UDP to the receiver
    assert sender.ecn.reductions > 0 and sender.stats.retransmits == 0
    for s in (client, server, listener):
        s.close()
