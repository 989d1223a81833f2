"""The public transport plugin interface (issue 19, item 1).

* a transport written only from ``transport/base.py``'s contract (below, in
  memory) moves 1 MB intact between two ``emutcp.Host(transport=...)``;
* the example plugin in ``examples/`` does, through the registry;
* a transport that raises, or returns malformed arrivals, gives the socket
  calls a clear ``OSError(EIO)`` (or is dropped and counted), never a
  ``TrioInternalError``;
* the registry lists emutcp's own transports and names them in the error
  for an unknown one.
"""

from __future__ import annotations

import errno
import hashlib
import json
import pathlib
import sys
from collections import deque

import pytest
import trio

import emutcp
from emutcp.testing import payload
from emutcp.transport import registry

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent.parent / "examples"))
import queue_transport


class PipeTransport:
    """A user's transport from the docs: sockets in one dict, no capabilities."""

    def __init__(self, sockets: dict, local: tuple[str, int]) -> None:
        self.sockets = sockets
        self.local = local
        self.closed = False
        self.junk = 0
        self.inbox: deque = deque()
        self.lot = trio.lowlevel.ParkingLot()
        sockets[local] = self

    def send(self, data, addr):
        peer = self.sockets.get(addr)
        if peer is not None:
            peer.inbox.append((bytes(data), self.local))
            peer.lot.unpark_all()
        return True

    def recv_batch(self, limit):
        return [self.inbox.popleft() for _ in range(min(limit, len(self.inbox)))]

    async def wait_readable(self):
        while not self.inbox:
            await self.lot.park()

    async def wait_writable(self):
        await trio.lowlevel.checkpoint()

    def connect(self, addr):
        return False

    def set_arrival_callback(self, callback):
        return False

    def max_datagram(self, addr):
        return None

    def take_too_big(self):
        return []

    def close(self):
        self.closed = True
        self.sockets.pop(self.local, None)


def pipe_factory(sockets: dict, ip: str):
    ports = iter(range(40_000, 50_000))

    def make(local):
        return PipeTransport(sockets, (ip, local[1] or next(ports)))

    make.address = ip
    return make


async def _transfer(server: emutcp.Host, client: emutcp.Host, data: bytes, port: int = 80):
    got = bytearray()
    async with trio.open_nursery() as nursery:
        listeners = await server.open_listeners(port)

        async def serve_one() -> None:
            stream = await listeners[0].accept()
            while chunk := await stream.receive_some(1 << 16):
                got.extend(chunk)
            await stream.aclose()
            await listeners[0].aclose()

        nursery.start_soon(serve_one)
        stream = await client.open_stream(server.wildcard_address, port)
        await stream.send_all(data)
        await stream.send_eof()
        assert await stream.receive_some(10) == b""
        await stream.aclose()
    return bytes(got)


async def test_a_transport_written_from_the_docs_moves_a_megabyte(mock_clock):
    sockets: dict = {}
    server = emutcp.Host(transport=pipe_factory(sockets, "192.0.2.1"))
    client = emutcp.Host(transport=pipe_factory(sockets, "192.0.2.2"))
    data = payload(1 << 20)
    got = await _transfer(server, client, data)
    assert hashlib.sha256(got).digest() == hashlib.sha256(data).digest()
    assert server.wildcard_address == "192.0.2.1"


async def test_the_example_plugin_through_the_registry(mock_clock):
    registry.register("queue", queue_transport.plugin)
    try:
        assert "queue" in registry.available()
        a = emutcp.Host(transport=registry.open_factory("queue", registry.TransportOptions()))
        b = emutcp.Host(
            transport=registry.open_factory(
                "queue", registry.TransportOptions(network="10.1.1.0/24")
            )
        )
        assert (a.wildcard_address, b.wildcard_address) == ("10.1.0.1", "10.1.1.1")
        data = payload(300_000, seed=3)
        got = await _transfer(a, b, data)
        assert hashlib.sha256(got).digest() == hashlib.sha256(data).digest()
    finally:
        registry.unregister("queue")


def test_registry_names_the_shipped_transports_and_refuses_unknown_ones():
    assert {"udp", "impaired", "emulated", "tun"} <= set(registry.available())
    with pytest.raises(registry.UnknownTransport) as info:
        registry.load("carrier-pigeon")
    message = str(info.value)
    assert "carrier-pigeon" in message and "udp" in message and "tun" in message
    assert "\n" not in message
    assert callable(registry.open_factory("udp"))


async def test_udp_plugin_gives_the_same_host_as_udphost():
    host = emutcp.Host(transport=registry.open_factory("udp"))
    data = payload(100_000)
    got = await _transfer(host, host, data, port=0 or _free_port())
    assert got == data


def _free_port() -> int:
    import socket

    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_a_factory_returning_something_else_is_a_typeerror():
    host = emutcp.Host(transport=lambda local: object())
    with pytest.raises(TypeError, match="lacks DatagramTransport"):
        host.make_transport(("0.0.0.0", 0))


class Faulty(PipeTransport):
    """Fails on demand: ``fail_send`` / ``fail_wait`` / ``garbage`` arrivals."""

    fail_send = False
    fail_wait = False
    garbage = False
    stuck = False  # send always "would block" and wait_writable never returns

    def send(self, data, addr):
        if self.fail_send:
            raise RuntimeError("the bus is down")
        if self.stuck:
            return False
        return super().send(data, addr)

    async def wait_writable(self):
        if self.stuck:
            await trio.sleep_forever()
        await super().wait_writable()

    async def wait_readable(self):
        if self.fail_wait:
            raise RuntimeError("the bus is gone")
        await super().wait_readable()

    def recv_batch(self, limit):
        batch = super().recv_batch(limit)
        if self.garbage and batch:
            batch = ["not a pair", (b"x", "no port"), (bytearray(b"y"), ("1.2.3.4", 1)), *batch]
        return batch


def faulty_factory(sockets, ip, **faults):
    ports = iter(range(40_000, 50_000))

    def make(local):
        t = Faulty(sockets, (ip, local[1] or next(ports)))
        for k, v in faults.items():
            setattr(t, k, v)
        return t

    make.address = ip
    return make


async def test_a_transport_that_raises_on_send_is_a_clear_error(mock_clock):
    sockets: dict = {}
    server = emutcp.Host(transport=pipe_factory(sockets, "192.0.2.1"))
    client = emutcp.Host(transport=faulty_factory(sockets, "192.0.2.2", fail_send=True))
    listeners = await server.open_listeners(80)
    sock = client.socket()
    with pytest.raises(OSError) as info:
        await sock.connect(("192.0.2.1", 80))
    assert info.value.errno == errno.EIO
    assert "Faulty failed" in str(info.value) and "the bus is down" in str(info.value)
    sock.close()
    await listeners[0].aclose()


async def test_a_transport_whose_wait_raises_fails_accept_clearly(mock_clock):
    sockets: dict = {}
    server = emutcp.Host(transport=faulty_factory(sockets, "192.0.2.1", fail_wait=True))
    listeners = await server.open_listeners(80)
    with pytest.raises(OSError) as info:
        await listeners[0].socket.accept()
    assert info.value.errno == errno.EIO and "the bus is gone" in str(info.value)
    assert server.endpoints() == []  # the endpoint closed and freed its port
    listeners[0].socket.close()


async def test_malformed_arrivals_are_dropped_and_counted(mock_clock):
    sockets: dict = {}
    server = emutcp.Host(transport=faulty_factory(sockets, "192.0.2.1", garbage=True))
    client = emutcp.Host(transport=pipe_factory(sockets, "192.0.2.2"))
    data = payload(50_000)
    async with trio.open_nursery() as nursery:
        listeners = await server.open_listeners(80)
        got = bytearray()

        async def serve_one() -> None:
            stream = await listeners[0].accept()
            while chunk := await stream.receive_some(1 << 16):
                got.extend(chunk)
            (ep,) = server.endpoints()
            assert ep.malformed_arrivals >= 3
            await stream.aclose()
            await listeners[0].aclose()

        nursery.start_soon(serve_one)
        stream = await client.open_stream("192.0.2.1", 80)
        await stream.send_all(data)
        await stream.send_eof()
        await stream.aclose()
    assert bytes(got) == data


@pytest.mark.parametrize(
    "verb", [["serve", "--port", "9"], ["connect", "h", "9"], ["bench", "--local"]]
)
def test_cli_unknown_transport_is_one_line_listing_the_names(verb, capsys):
    from emutcp.tools.cli import main

    assert main([*verb, "--transport", "pigeon"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1
    assert "unknown transport 'pigeon'" in err[0] and "udp" in err[0] and "tun" in err[0]


def test_cli_tun_without_a_network_is_a_usage_error(capsys):
    from emutcp.tools.cli import main

    assert main(["connect", "--transport", "tun", "10.0.0.1", "9"]) == 2
    assert "--tun-net" in capsys.readouterr().err


@pytest.mark.parametrize("name", ["emulated", "impaired"])
def test_cli_bench_runs_over_the_shipped_transports(name, capsys):
    from emutcp.tools.cli import main

    assert main(["bench", "--local", "--transport", name, "--bytes", "200000", "--json"]) == 0
    result = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert result["bytes"] == 200_000 and result["goodput_MBps"] > 0


async def test_a_transport_that_never_becomes_writable_times_out_instead_of_hanging(mock_clock):
    # The endpoint waits for writability under the timer deadline, so SYN
    # retransmissions still count down and connect() fails as on a dead path.
    sockets: dict = {}
    client = emutcp.Host(
        transport=faulty_factory(sockets, "192.0.2.2", stuck=True),
        config=emutcp.Config(syn_retries=2),
    )
    sock = client.socket()
    with trio.fail_after(600), pytest.raises(TimeoutError):
        await sock.connect(("192.0.2.1", 80))
    sock.close()
