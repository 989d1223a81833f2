"""emutcp under plain ``asyncio.run``: streams, protocols, sockets, cancellation.

The emulated network runs on asyncio's real clock here (links without delay,
so nothing waits on a timer it need not); the trio face of the same checks
runs in virtual time elsewhere.  Every transfer is sha256-checked.
"""

from __future__ import annotations

import asyncio
import hashlib
import random
import socket as stdsocket
import subprocess
import sys
import textwrap
import time

import pytest

import emutcp
from emutcp import aio
from emutcp.core.state import State

A, B = "10.0.0.1", "10.0.0.2"


def payload(n: int, seed: int = 7) -> bytes:
    return random.Random(seed).randbytes(n)


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def two_hosts(seed: int = 0, **link: object):
    net = emutcp.EmulatedNetwork(seed=seed)
    a, b = net.add_host(A), net.add_host(B)
    net.add_link(A, B, **link)  # type: ignore[arg-type]
    return net, a, b


def run(coro_fn, *args, limit: float = 30.0):
    async def bounded():
        async with asyncio.timeout(limit):
            return await coro_fn(*args)

    return asyncio.run(bounded())


_OPEN = (State.SYN_SENT, State.SYN_RCVD, State.ESTABLISHED, State.CLOSE_WAIT)


def no_leak(*hosts: emutcp.Host) -> None:
    """Every endpoint left serves no socket and holds only closing connections."""
    for host in hosts:
        for ep in host.endpoints():
            assert ep.users == 0, ep
            for c in ep.mux.connections.values():  # closing, never left open
                assert c.state not in _OPEN, c


# ------------------------------------------------------------------ streams


def test_streams_move_2mb_each_way_intact():
    up, down = payload(2_000_000, 1), payload(2_000_000, 2)

    async def main():
        _net, a, b = two_hosts(seed=1)
        got: dict[str, bytes] = {}

        async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter):
            writer.write(down)  # both ways at once: the write overlaps the read
            got["up"] = await reader.readexactly(len(up))
            await writer.drain()
            writer.close()
            await writer.wait_closed()

        server = await aio.start_server(handle, B, 80, emu_host=b)
        reader, writer = await aio.open_connection(B, 80, emu_host=a)
        writer.write(up)
        got["down"] = await reader.readexactly(len(down))
        await writer.drain()
        assert await reader.read() == b""  # the server closed: EOF
        assert reader.at_eof()
        assert writer.get_extra_info("peername") == (B, 80)
        assert writer.get_extra_info("socket").state is State.CLOSE_WAIT
        writer.close()
        await writer.wait_closed()
        server.close()
        await server.wait_closed()
        no_leak(a, b)
        return got

    got = run(main)
    assert sha(got["up"]) == sha(up)
    assert sha(got["down"]) == sha(down)


def test_streams_over_real_udp_loopback():
    data = payload(500_000, 3)

    async def main():
        host = emutcp.UdpHost()

        async def echo(reader, writer):
            while chunk := await reader.read(65536):
                writer.write(chunk)
                await writer.drain()
            writer.write_eof()
            await writer.drain()
            writer.close()

        async with await aio.start_server(echo, "127.0.0.1", 0, emu_host=host) as server:
            port = server.sockets[0].getsockname()[1]
            reader, writer = await aio.open_connection("127.0.0.1", port, emu_host=host)
            assert writer.can_write_eof()

            async def send():
                writer.write(data)
                await writer.drain()
                writer.write_eof()

            sender = asyncio.create_task(send())
            back = await reader.read()  # to EOF
            await sender
            writer.close()
            await writer.wait_closed()
        return back

    assert sha(run(main)) == sha(data)


def test_impaired_real_udp_loopback():
    """``UdpHost(impair=...)`` under asyncio: real loopback UDP through the link
    model (5 % loss, seeded), repaired by retransmission."""
    data = payload(300_000, 12)

    async def main():
        impair = emutcp.LinkProfile(loss=0.05, delay=0.002)
        config = emutcp.Config(rto_min=0.05, initial_rto=0.2)  # real time: short timers
        host = emutcp.UdpHost(impair=impair, rng=random.Random(12), config=config)

        async def echo(reader, writer):
            writer.write(await reader.readexactly(len(data)))
            await writer.drain()
            writer.close()

        async with await aio.start_server(echo, "127.0.0.1", 0, emu_host=host) as server:
            port = server.sockets[0].getsockname()[1]
            reader, writer = await aio.open_connection("127.0.0.1", port, emu_host=host)
            writer.write(data)
            back = await reader.readexactly(len(data))
            retransmits = writer.get_extra_info("socket").info().retransmits
            writer.close()
            await writer.wait_closed()
        return back, retransmits

    back, retransmits = run(main)
    assert sha(back) == sha(data)
    assert retransmits > 0


def test_readline_readuntil_and_incomplete_read():
    async def main():
        _net, a, b = two_hosts(seed=2)

        async def handle(reader, writer):
            writer.write(b"line one\nrecord;tail")
            await writer.drain()
            writer.close()

        server = await aio.start_server(handle, B, 80, emu_host=b)
        reader, writer = await aio.open_connection(B, 80, emu_host=a)
        assert await reader.readline() == b"line one\n"
        assert await reader.readuntil(b";") == b"record;"
        with pytest.raises(asyncio.IncompleteReadError) as info:
            await reader.readexactly(10)
        assert info.value.partial == b"tail"
        writer.close()
        await writer.wait_closed()
        server.close()
        await server.wait_closed()

    run(main)


# ---------------------------------------------------------------- protocols


class EchoServer(asyncio.Protocol):
    def connection_made(self, transport):
        self.transport = transport

    def data_received(self, data):
        self.transport.write(data)

    def eof_received(self):
        self.transport.write_eof()
        return True

    def pause_writing(self):  # the echo outruns the reader: stop reading
        self.transport.pause_reading()

    def resume_writing(self):
        self.transport.resume_reading()


class EchoClient(asyncio.Protocol):
    def __init__(self, data: bytes) -> None:
        self.data = data
        self.received = bytearray()
        self.done = asyncio.get_running_loop().create_future()
        self.paused = 0

    def connection_made(self, transport):
        self.transport = transport
        transport.write(self.data)
        transport.write_eof()

    def pause_writing(self):
        self.paused += 1

    def data_received(self, data):
        self.received += data

    def eof_received(self):
        self.done.set_result(bytes(self.received))

    def connection_lost(self, exc):
        if not self.done.done():
            self.done.set_exception(exc or ConnectionError("lost before EOF"))


def test_protocol_echo_1mb():
    data = payload(1_000_000, 4)

    async def main():
        _net, a, b = two_hosts(seed=3)
        server = await aio.create_server(EchoServer, B, 7, emu_host=b)
        transport, client = await aio.create_connection(lambda: EchoClient(data), B, 7, emu_host=a)
        assert isinstance(transport, asyncio.Transport)
        assert transport.get_write_buffer_size() >= 0
        back = await client.done
        assert client.paused >= 1  # 1 MB exceeds the high-water mark: flow control ran
        transport.close()
        server.close()
        server.close_clients()  # the echo keeps its half-closed transport open
        await server.wait_closed()
        no_leak(a, b)
        return back

    assert sha(run(main)) == sha(data)


def test_abort_resets_the_peer():
    async def main():
        _net, a, b = two_hosts(seed=4)
        lost: asyncio.Future = asyncio.get_running_loop().create_future()

        class Watcher(asyncio.Protocol):
            def connection_lost(self, exc):
                lost.set_result(exc)

        server = await aio.create_server(Watcher, B, 7, emu_host=b)
        transport, _ = await aio.create_connection(asyncio.Protocol, B, 7, emu_host=a)
        await asyncio.sleep(0)
        transport.abort()
        exc = await lost
        server.close()
        return exc

    assert isinstance(run(main), ConnectionResetError)


# ------------------------------------------------------------------ sockets


def test_aio_socket_shows_the_seed_lab_transitions():
    async def main():
        _net, a, b = two_hosts(seed=5)
        server = aio.socket(b)
        await server.bind((B, 80))
        server.listen(1)
        client = aio.socket(a)
        await client.connect((B, 80))
        conn, peer = await server.accept()
        assert peer == client.getsockname()
        await client.sendall(b"hello from client")
        assert await conn.recv(100) == b"hello from client"
        await conn.sendall(b"HELLO FROM SERVER")
        assert await client.recv(100) == b"HELLO FROM SERVER"
        client.shutdown(emutcp.SHUT_WR)
        assert await conn.recv(100) == b""
        conn.shutdown(emutcp.SHUT_WR)
        assert await client.recv(100) == b""
        await conn.wait_closed()
        await client.wait_closed()
        info = client.info()
        paths = {
            "client": [str(t.new) for t in client.transitions],
            "server": [str(t.new) for t in conn.transitions],
            "listener": [str(t.new) for t in server.transitions],
        }
        for s in (conn, client, server):
            s.close()
        return paths, info

    paths, info = run(main)
    assert paths["client"] == ["SYN-SENT", "ESTABLISHED", "FIN-WAIT-1", "FIN-WAIT-2", "TIME-WAIT"]
    assert paths["server"] == ["SYN-RECEIVED", "ESTABLISHED", "CLOSE-WAIT", "LAST-ACK", "CLOSED"]
    assert paths["listener"] == ["LISTEN"]
    assert info.state is State.TIME_WAIT


def test_no_trio_is_imported():
    """A program using ``emutcp.aio`` under ``asyncio.run`` never loads trio."""
    code = textwrap.dedent(
        """
        import asyncio, sys
        import emutcp
        from emutcp import aio

        async def main():
            net = emutcp.EmulatedNetwork()
            a, b = net.add_host("10.0.0.1"), net.add_host("10.0.0.2")
            net.add_link("10.0.0.1", "10.0.0.2")

            async def echo(reader, writer):
                writer.write(await reader.read(100))
                writer.close()

            server = await aio.start_server(echo, "10.0.0.2", 80, emu_host=b)
            reader, writer = await aio.open_connection("10.0.0.2", 80, emu_host=a)
            writer.write(b"ping")
            assert await reader.read() == b"ping"
            writer.close()
            server.close()

        asyncio.run(main())
        print(sorted(m for m in sys.modules if m == "trio" or m.startswith("trio.")))
        """
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True
    )
    assert out.stdout.strip() == "[]", out.stderr


# ------------------------------------------------------------- cancellation


def test_cancelled_read_leaves_the_stream_usable():
    async def main():
        _net, a, b = two_hosts(seed=6)
        writers: asyncio.Queue = asyncio.Queue()

        async def handle(reader, writer):
            await writers.put(writer)

        server = await aio.start_server(handle, B, 80, emu_host=b)
        reader, writer = await aio.open_connection(B, 80, emu_host=a)
        peer = await writers.get()
        with pytest.raises(TimeoutError):
            async with asyncio.timeout(0.05):
                await reader.read(100)
        peer.write(b"after the cancel")
        assert await reader.readexactly(16) == b"after the cancel"
        writer.close()
        peer.close()
        await writer.wait_closed()
        server.close()
        await server.wait_closed()
        no_leak(a, b)

    run(main)


def test_cancelled_drain_leaves_the_stream_usable():
    data = payload(1_600_000, 8)  # half of it exceeds both TCP buffers (256 KiB each)

    async def main():
        _net, a, b = two_hosts(seed=7)
        readers: asyncio.Queue = asyncio.Queue()

        async def handle(reader, writer):
            await readers.put((reader, writer))

        server = await aio.start_server(handle, B, 80, emu_host=b)
        _reader, writer = await aio.open_connection(B, 80, emu_host=a)
        peer_reader, peer_writer = await readers.get()
        # Fixed buffers on both ends (SO_SNDBUF/SO_RCVBUF stop autotuning, as
        # in Linux).  Autotuning would grow the peer's receive buffer with what
        # its StreamReader read before pausing (on the real clock that varies
        # from run to run): the window might then never close.
        writer.get_extra_info("socket").setsockopt(
            stdsocket.SOL_SOCKET, stdsocket.SO_SNDBUF, 256 * 1024
        )
        peer_writer.get_extra_info("socket").setsockopt(
            stdsocket.SOL_SOCKET, stdsocket.SO_RCVBUF, 256 * 1024
        )
        half = len(data) // 2
        writer.write(data[:half])  # the peer does not read: drain must block
        drain = asyncio.create_task(writer.drain())
        sock = writer.get_extra_info("socket")
        while sock.connection.snd_wnd:  # the peer's window fills and closes
            await sock.wait_for_wakeup()
        assert not drain.done()
        drain.cancel()
        with pytest.raises(asyncio.CancelledError):
            await drain
        assert not writer.is_closing()
        writer.write(data[half:])
        reading = asyncio.create_task(peer_reader.readexactly(len(data)))
        await writer.drain()
        got = await reading
        writer.close()
        await writer.wait_closed()
        peer_writer.close()
        await peer_writer.wait_closed()
        server.close()
        await server.wait_closed()
        no_leak(a, b)
        return got

    assert sha(run(main)) == sha(data)


def test_cancelled_connect_releases_the_endpoint():
    async def main():
        net, a, b = two_hosts(seed=8)
        server = aio.socket(b)
        await server.bind((B, 80))
        server.listen(1)
        for link in (net.link(A, B), net.link(B, A)):
            link.profile = emutcp.LinkProfile(loss=1.0)  # the SYN is lost
        with pytest.raises(TimeoutError):
            async with asyncio.timeout(0.05):
                await aio.open_connection(B, 80, emu_host=a)
        await asyncio.sleep(0)
        assert a.endpoints() == []  # aborted, closed and released
        server.close()

    run(main)


# ------------------------------------------------------------- virtual time


def test_virtual_time_lossy_link_repeats_for_a_seed():
    """``run_virtual``: a lossy 10 Mbit/s, 50 ms RTT link in virtual time; the
    same seed gives the same run (time, retransmissions, drops)."""
    data = payload(400_000, 9)

    async def main():
        _net, a, b = two_hosts(seed=9, delay=0.025, rate=10e6, queue=60, loss=0.01)
        loop = asyncio.get_running_loop()
        got = loop.create_future()

        async def handle(reader, writer):
            got.set_result(await reader.readexactly(len(data)))
            writer.close()

        server = await aio.start_server(handle, B, 80, emu_host=b)
        t0 = loop.time()
        _reader, writer = await aio.open_connection(B, 80, emu_host=a)
        writer.write(data)
        await writer.drain()
        back = await got
        seconds = loop.time() - t0
        info = writer.get_extra_info("socket").info()
        writer.close()
        server.close()
        await server.wait_closed()
        return sha(back), seconds, info.retransmits

    first = aio.run_virtual(main())
    assert first[0] == sha(data)
    assert 0.32 < first[1] < 10  # 400 KB at 10 Mbit/s: 0.32 s at least, virtual
    assert first[2] > 0  # the 1 % loss was repaired
    assert aio.run_virtual(main()) == first


def test_virtual_time_jumps():
    async def hour() -> float:
        await asyncio.sleep(3600)
        return asyncio.get_running_loop().time()

    wall = time.perf_counter()
    assert aio.run_virtual(hour()) >= 3600
    assert time.perf_counter() - wall < 2


# ------------------------------------------------------ server and buffers


def test_serve_forever_until_cancelled():
    async def main():
        _net, a, b = two_hosts(seed=10)

        async def hello(reader, writer):
            writer.write(b"hello " + await reader.readline())
            await writer.drain()
            writer.close()

        server = await aio.start_server(hello, B, 80, emu_host=b, start_serving=False)
        assert not server.is_serving()
        serving = asyncio.create_task(server.serve_forever())
        reader, writer = await aio.open_connection(B, 80, emu_host=a)
        assert server.is_serving()
        assert writer.get_extra_info("sockname")[0] == A
        writer.write(b"world\n")
        assert await reader.read() == b"hello world\n"
        writer.close()
        await writer.wait_closed()
        serving.cancel()
        with pytest.raises(asyncio.CancelledError):
            await serving
        assert not server.is_serving()
        assert server.sockets == ()
        with pytest.raises(ConnectionRefusedError):  # nobody listens any more
            await aio.open_connection(B, 80, emu_host=a)
        no_leak(a, b)

    run(main)


def test_buffered_protocol_small_buffers():
    data = payload(200_000, 11)

    class Collect(asyncio.BufferedProtocol):
        def __init__(self) -> None:
            self.buf = bytearray(1000)  # smaller than what arrives at once
            self.got = bytearray()
            self.done = asyncio.get_running_loop().create_future()

        def get_buffer(self, sizehint):
            return self.buf

        def buffer_updated(self, nbytes):
            self.got += self.buf[:nbytes]

        def eof_received(self):
            self.done.set_result(bytes(self.got))

    async def main():
        _net, a, b = two_hosts(seed=11)
        protocols: list[Collect] = []

        def factory():
            protocols.append(Collect())
            return protocols[-1]

        server = await aio.create_server(factory, B, 80, emu_host=b)
        _reader, writer = await aio.open_connection(B, 80, emu_host=a)
        writer.write(data)
        writer.write_eof()
        await writer.drain()
        while not protocols:
            await asyncio.sleep(0)
        got = await protocols[0].done
        writer.close()
        server.close()
        server.close_clients()
        await server.wait_closed()
        return got

    assert sha(run(main)) == sha(data)


def test_pause_reading_closes_the_window_and_resume_reopens_it():
    """A protocol that stops reading stops the sender (TCP's window closes),
    as over kernel TCP; the sender's transport pauses its protocol."""
    data = payload(1_500_000, 13)

    class Slow(asyncio.Protocol):
        def __init__(self) -> None:
            self.got = bytearray()
            self.done = asyncio.get_running_loop().create_future()

        def connection_made(self, transport):
            self.transport = transport
            transport.pause_reading()

        def data_received(self, chunk):
            self.got += chunk

        def eof_received(self):
            self.done.set_result(bytes(self.got))

    class Sender(asyncio.Protocol):
        paused = resumed = 0

        def pause_writing(self):
            self.paused += 1

        def resume_writing(self):
            self.resumed += 1

    async def main():
        _net, a, b = two_hosts(seed=13)
        slow: list[Slow] = []
        server = await aio.create_server(lambda: slow.append(Slow()) or slow[-1], B, 80, emu_host=b)
        transport, sender = await aio.create_connection(Sender, B, 80, emu_host=a)
        transport.set_write_buffer_limits(high=100_000)
        assert transport.get_write_buffer_limits() == (25_000, 100_000)
        transport.write(data)
        transport.write_eof()
        with pytest.raises(RuntimeError):
            transport.write(b"after write_eof")
        sock = transport.get_extra_info("socket")
        while sock.connection.snd_wnd:  # the receiver's window fills and closes
            await sock.wait_for_wakeup()  # re-checked on every event, never polled
        assert not slow[0].got
        assert sender.paused == 1 and transport.get_write_buffer_size() > 100_000
        slow[0].transport.resume_reading()
        got = await slow[0].done
        assert sender.resumed == 1 and transport.get_write_buffer_size() == 0
        transport.close()
        server.close()
        server.close_clients()
        await server.wait_closed()
        return got

    assert sha(run(main)) == sha(data)
