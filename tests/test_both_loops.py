"""The socket semantics on both event loops: one scenario, run under trio (in
virtual time) and under plain asyncio (real time, links without delay), must
raise the same standard exceptions and move the same bytes."""

from __future__ import annotations

import asyncio
import errno

import pytest

import emutcp
from emutcp.core.state import State

A, B = "10.0.0.1", "10.0.0.2"
TIMED_OUT = object()
LOOPS = ["trio", "asyncio"]


def run_on(loop: str, fn, *args):
    if loop == "trio":
        import trio
        import trio.testing

        return trio.run(fn, loop, *args, clock=trio.testing.MockClock(autojump_threshold=0))

    async def bounded():
        async with asyncio.timeout(20):
            return await fn(loop, *args)

    return asyncio.run(bounded())


async def within(loop: str, seconds: float, fn):
    """``await fn()``, cancelled after ``seconds`` (then ``TIMED_OUT``)."""
    if loop == "trio":
        import trio

        with trio.move_on_after(seconds):
            return await fn()
        return TIMED_OUT
    try:
        async with asyncio.timeout(seconds):
            return await fn()
    except TimeoutError:
        return TIMED_OUT


async def pair(config: emutcp.Config | None = None):
    net = emutcp.EmulatedNetwork(seed=31)
    a, b = net.add_host(A, config=config), net.add_host(B, config=config)
    net.add_link(A, B)
    listener = b.socket()
    await listener.bind((B, 80))
    listener.listen(4)
    client = a.socket()
    await client.connect((B, 80))
    server, _ = await listener.accept()
    return net, a, b, listener, client, server


@pytest.mark.parametrize("loop", LOOPS)
def test_refused(loop):
    async def main(loop):
        net = emutcp.EmulatedNetwork(seed=30)
        a = net.add_host(A)
        net.add_host(B)
        net.add_link(A, B)
        sock = a.socket()
        with pytest.raises(ConnectionRefusedError):
            await sock.connect((B, 9))
        sock.close()
        assert a.endpoints() == []

    run_on(loop, main)


@pytest.mark.parametrize("loop", LOOPS)
def test_reset_by_close_with_unread_data(loop):
    async def main(loop):
        _net, _a, _b, listener, client, server = await pair()
        await client.sendall(b"0123456789")
        assert await server.recv(1) == b"0"
        server.close()  # 9 bytes unread: RST (RFC 9293 3.10.4 as Linux)
        with pytest.raises(ConnectionResetError):
            await client.recv(10)
        with pytest.raises(ConnectionResetError):
            await client.send(b"more")
        assert client.state is State.CLOSED
        client.close()
        listener.close()

    run_on(loop, main)


@pytest.mark.parametrize("loop", LOOPS)
def test_broken_pipe_after_shutdown_and_ebadf_after_close(loop):
    async def main(loop):
        _net, _a, _b, listener, client, server = await pair()
        client.shutdown(emutcp.SHUT_WR)
        with pytest.raises(BrokenPipeError):
            await client.send(b"x")
        assert await server.recv(10) == b""  # the FIN: end of stream
        await server.sendall(b"still open that way")
        assert await client.recv(100) == b"still open that way"
        server.close()
        client.close()
        with pytest.raises(OSError) as info:
            await client.recv(1)
        assert info.value.errno == errno.EBADF
        listener.close()

    run_on(loop, main)


@pytest.mark.parametrize("loop", LOOPS)
def test_user_timeout(loop):
    async def main(loop):
        net, _a, _b, listener, client, server = await pair()
        client.setsockopt(emutcp.IPPROTO_TCP, emutcp.TCP_USER_TIMEOUT, 200)
        for link in (net.link(A, B), net.link(B, A)):
            link.profile = emutcp.LinkProfile(loss=1.0)
        await client.sendall(b"into the void")
        with pytest.raises(TimeoutError):
            await client.recv(10)
        assert client.state is State.CLOSED
        for s in (client, server, listener):
            s.close()

    run_on(loop, main)


@pytest.mark.parametrize("loop", LOOPS)
def test_address_in_use(loop):
    async def main(loop):
        _net, _a, b, listener, client, server = await pair()
        other = b.socket()
        with pytest.raises(OSError) as info:
            await other.bind((B, 80))
        assert info.value.errno == errno.EADDRINUSE
        for s in (other, client, server, listener):
            s.close()

    run_on(loop, main)


@pytest.mark.parametrize("loop", LOOPS)
def test_cancelled_recv_and_accept_leave_sockets_usable(loop):
    async def main(loop):
        _net, a, _b, listener, client, server = await pair()
        assert await within(loop, 0.05, lambda: client.recv(10)) is TIMED_OUT
        assert await within(loop, 0.05, listener.accept) is TIMED_OUT
        await server.sendall(b"after")
        assert await client.recv(10) == b"after"
        other = a.socket()
        await other.connect((B, 80))
        accepted, _ = await listener.accept()  # the listener still works
        for s in (other, accepted, client, server, listener):
            s.close()

    run_on(loop, main)


@pytest.mark.parametrize("loop", LOOPS)
def test_cancelled_connect_releases_the_endpoint(loop):
    async def main(loop):
        net = emutcp.EmulatedNetwork(seed=32)
        a = net.add_host(A)
        net.add_host(B)
        net.add_link(A, B, loss=1.0)  # the SYN never arrives
        sock = a.socket()
        assert await within(loop, 0.5, lambda: sock.connect((B, 80))) is TIMED_OUT
        assert sock.state is State.CLOSED
        sock.close()
        assert a.endpoints() == []

    run_on(loop, main)


def test_asyncio_stream_sees_the_reset():
    """asyncio's StreamReader raises the reset, as over kernel TCP."""

    async def main():
        from emutcp import aio

        net = emutcp.EmulatedNetwork(seed=33)
        a, b = net.add_host(A), net.add_host(B)
        net.add_link(A, B)
        accepted: asyncio.Queue = asyncio.Queue()

        async def handle(reader, writer):
            await accepted.put(writer)

        server = await aio.start_server(handle, B, 80, emu_host=b)
        reader, writer = await aio.open_connection(B, 80, emu_host=a)
        (await accepted.get()).transport.abort()  # RST
        with pytest.raises(ConnectionResetError):
            await reader.read(10)
        writer.close()
        server.close()

    asyncio.run(asyncio.wait_for(main(), 20))
