"""The socket API over real loopback UDP: the seed lab's calls and their errors."""

from __future__ import annotations

import errno
import hashlib
import os
import socket as stdsocket

import pytest
import trio

import emutcp
from emutcp import State
from emutcp.testing import wait_until

LO = "127.0.0.1"


async def listening_socket(backlog: int = 8, **kw) -> emutcp.Socket:
    sock = emutcp.socket(**kw)
    await sock.bind((LO, 0))
    sock.listen(backlog)
    return sock


async def test_seed_lab_paths_through_the_state_diagram():
    server = await listening_socket()
    assert server.state is State.LISTEN
    port = server.getsockname()[1]
    async with trio.open_nursery() as nursery:

        async def serve():
            conn, peer = await server.accept()
            assert peer == conn.getpeername()
            assert await conn.recv(100) == b"ping"
            await conn.sendall(b"pong")
            assert await conn.recv(100) == b""  # client shut down first
            assert conn.state is State.CLOSE_WAIT
            conn.shutdown(emutcp.SHUT_WR)
            await conn.wait_closed()
            assert [str(t.new) for t in conn.transitions] == [
                "SYN-RECEIVED",
                "ESTABLISHED",
                "CLOSE-WAIT",
                "LAST-ACK",
                "CLOSED",
            ]
            assert conn.transitions[0].old is State.LISTEN
            conn.close()

        nursery.start_soon(serve)
        client = emutcp.socket()
        await client.connect((LO, port))
        assert client.state is State.ESTABLISHED
        await client.sendall(b"ping")
        assert await client.recv(100) == b"pong"
        client.shutdown(emutcp.SHUT_WR)
        assert await client.recv(100) == b""
    await client.wait_closed()
    assert client.state is State.TIME_WAIT
    assert [t.new for t in client.transitions] == [
        State.SYN_SENT,
        State.ESTABLISHED,
        State.FIN_WAIT_1,
        State.FIN_WAIT_2,
        State.TIME_WAIT,
    ]
    assert client.transitions[0].cause == "connect: sent SYN"
    client.close()
    server.close()


async def test_bulk_transfer_is_byte_identical():
    payload = os.urandom(3_000_000)
    server = await listening_socket()
    digest = hashlib.sha256()
    async with trio.open_nursery() as nursery:

        async def sink():
            conn, _ = await server.accept()
            while data := await conn.recv(65536):
                digest.update(data)
            conn.close()

        nursery.start_soon(sink)
        with emutcp.socket() as client:
            await client.connect(server.getsockname())
            await client.sendall(payload)
            client.shutdown(emutcp.SHUT_WR)
            assert await client.recv(1) == b""
    assert digest.hexdigest() == hashlib.sha256(payload).hexdigest()
    server.close()


async def test_connect_to_a_port_with_nothing_bound_is_refused_at_once():
    # Find a UDP port that is certainly free: bind, note it, close.
    probe = stdsocket.socket(stdsocket.AF_INET, stdsocket.SOCK_DGRAM)
    probe.bind((LO, 0))
    port = probe.getsockname()[1]
    probe.close()
    sock = emutcp.socket()
    with trio.fail_after(5), pytest.raises(ConnectionRefusedError):
        await sock.connect((LO, port))
    assert sock.state is State.CLOSED


async def test_connect_to_an_emutcp_port_without_listener_gets_rst_refusal():
    bound = emutcp.socket()
    await bound.bind((LO, 0))  # bound but not listening: answers SYN with RST
    sock = emutcp.socket()
    with trio.fail_after(5), pytest.raises(ConnectionRefusedError, match="RST"):
        await sock.connect(bound.getsockname())
    bound.close()


async def test_bind_to_a_busy_port_is_eaddrinuse():
    a = await listening_socket()
    b = emutcp.socket()
    with pytest.raises(OSError) as info:
        await b.bind(a.getsockname())
    assert info.value.errno == errno.EADDRINUSE
    a.close()


async def test_reset_by_peer_is_connection_reset_error():
    server = await listening_socket()
    client = emutcp.socket()
    await client.connect(server.getsockname())
    conn, _ = await server.accept()
    conn.setsockopt(emutcp.SOL_SOCKET, emutcp.SO_LINGER, (1, 0))
    conn.close()  # SO_LINGER 0: abort with RST
    with trio.fail_after(5), pytest.raises(ConnectionResetError):
        while True:
            await client.recv(10)
    client.close()
    server.close()


async def test_close_with_unread_data_resets_the_peer():
    server = await listening_socket()
    client = emutcp.socket()
    await client.connect(server.getsockname())
    conn, _ = await server.accept()
    await client.sendall(b"never read")
    await wait_until(conn, lambda: conn.info().recv_queue > 0)  # woken by the endpoint
    conn.close()
    with trio.fail_after(5), pytest.raises(ConnectionResetError):
        while True:
            await client.recv(10)
    client.close()
    server.close()


async def test_api_misuse_raises_precise_errors():
    sock = emutcp.socket()
    with pytest.raises(OSError, match="not connected"):
        await sock.send(b"x")
    with pytest.raises(OSError, match="not listening"):
        await sock.accept()
    server = await listening_socket()
    client = emutcp.socket()
    await client.connect(server.getsockname())
    with pytest.raises(OSError, match="already"):
        await client.connect(server.getsockname())
    with pytest.raises(OSError, match="connected"):
        client.listen(1)
    client.shutdown(emutcp.SHUT_WR)
    with pytest.raises(BrokenPipeError):
        await client.send(b"after shutdown")
    client.close()
    with pytest.raises(OSError) as info:
        await client.recv(1)
    assert info.value.errno == errno.EBADF
    with pytest.raises(ValueError):
        await emutcp.socket().recv(-1)
    with pytest.raises(OSError) as info:
        await emutcp.socket().recv(0)  # not connected, as Linux says
    assert info.value.errno == errno.ENOTCONN
    server.close()


async def test_socket_options_round_trip():
    sock = emutcp.socket()
    sock.setsockopt(emutcp.IPPROTO_TCP, emutcp.TCP_NODELAY, 1)
    assert sock.getsockopt(emutcp.IPPROTO_TCP, emutcp.TCP_NODELAY) == 1
    sock.setsockopt(emutcp.SOL_SOCKET, emutcp.SO_SNDBUF, 100_000)
    assert sock.getsockopt(emutcp.SOL_SOCKET, emutcp.SO_SNDBUF) == 100_000
    sock.setsockopt(emutcp.IPPROTO_TCP, emutcp.TCP_CONGESTION, b"newreno")
    assert sock.getsockopt(emutcp.IPPROTO_TCP, emutcp.TCP_CONGESTION) == b"newreno"
    with pytest.raises(OSError):
        sock.setsockopt(emutcp.IPPROTO_TCP, emutcp.TCP_CONGESTION, b"bbr-not-here")
    with pytest.raises(OSError):
        sock.setsockopt(emutcp.SOL_SOCKET, 9999, 1)
    sock.close()


async def test_info_reports_progress():
    server = await listening_socket()
    client = emutcp.socket()
    await client.connect(server.getsockname())
    conn, _ = await server.accept()
    await client.sendall(b"x" * 50_000)
    got = 0
    while got < 50_000:
        got += len(await conn.recv(65536))
    info = client.info()
    assert info.state is State.ESTABLISHED
    assert info.bytes_sent == 50_000
    assert info.srtt is not None and info.srtt < 1.0
    assert conn.info().bytes_received == 50_000
    assert any(i.remote == client.getsockname() for i in emutcp.default_host().connections())
    client.close()
    conn.close()
    server.close()


async def test_garbage_datagrams_are_dropped_and_counted_while_a_transfer_runs():
    host = emutcp.UdpHost()
    server = host.socket()
    await server.bind((LO, 0))
    server.listen(4)
    addr = server.getsockname()
    junk = stdsocket.socket(stdsocket.AF_INET, stdsocket.SOCK_DGRAM)
    payload = os.urandom(1_000_000)
    digest = hashlib.sha256()
    async with trio.open_nursery() as nursery:

        async def sink():
            conn, _ = await server.accept()
            while data := await conn.recv(65536):
                digest.update(data)
            conn.close()

        async def spray():
            for i in range(2000):
                junk.sendto(os.urandom(i % 300) if i % 2 else b"\x9a" + bytes(i % 50), addr)
                if i % 50 == 0:
                    await trio.sleep(0)

        nursery.start_soon(sink)
        nursery.start_soon(spray)
        client = host.socket()
        await client.connect(addr)
        await client.sendall(payload)
        client.shutdown(emutcp.SHUT_WR)
        assert await client.recv(1) == b""
        client.close()
    junk.close()
    assert digest.digest() == hashlib.sha256(payload).digest()
    stats = host.endpoint_stats()
    assert stats.get("malformed", 0) > 1000
    assert stats["internal_errors"] == 0
    server.close()


async def test_ipv6_loopback():
    try:
        probe = stdsocket.socket(stdsocket.AF_INET6, stdsocket.SOCK_DGRAM)
        probe.bind(("::1", 0))
        probe.close()
    except OSError:
        pytest.skip("no IPv6 loopback on this machine")
    server = emutcp.socket()
    await server.bind(("::1", 0))
    server.listen(1)
    client = emutcp.socket()
    await client.connect(server.getsockname())
    conn, peer = await server.accept()
    assert peer[0] == "::1"
    await client.sendall(b"over IPv6")
    assert await conn.recv(20) == b"over IPv6"
    for s in (client, conn, server):
        s.close()


# ------------------------------------------------ bad input from the application


async def _pair() -> tuple[emutcp.Socket, emutcp.Socket, emutcp.Socket]:
    server = await listening_socket()
    client = emutcp.socket()
    await client.connect(server.getsockname())
    conn, _ = await server.accept()
    return server, client, conn


async def test_send_counts_bytes_of_any_buffer_not_items():
    from array import array

    server, client, conn = await _pair()
    numbers = array("i", [1, 2, 3])  # 3 items, 12 bytes
    assert await client.send(numbers) == numbers.itemsize * 3
    await client.sendall(array("d", [0.5, 1.5]))  # 16 bytes
    assert await client.send(b"") == 0  # nothing to queue: returns at once
    client.shutdown(emutcp.SHUT_WR)
    got = b""
    while chunk := await conn.recv(1000):
        got += chunk
    assert got == numbers.tobytes() + array("d", [0.5, 1.5]).tobytes()
    for s in (client, conn, server):
        s.close()


@pytest.mark.parametrize("unspecified", ["0.0.0.0", ""])
async def test_connect_to_the_unspecified_address_reaches_this_host(unspecified):
    server = await listening_socket()
    port = server.getsockname()[1]
    client = emutcp.socket()
    with trio.fail_after(5):  # Linux connects to itself at once; no SYN retries
        await client.connect((unspecified, port))
        conn, _ = await server.accept()
    await client.sendall(b"hi")
    assert await conn.recv(10) == b"hi"
    for s in (client, conn, server):
        s.close()


async def test_type_and_range_errors_are_pythons():
    server, client, conn = await _pair()
    port = server.getsockname()[1]
    with pytest.raises(TypeError):
        await emutcp.socket().connect((None, port))
    with pytest.raises(TypeError):
        await emutcp.socket().connect((LO, float(port)))
    with pytest.raises(TypeError):
        await emutcp.socket().connect(LO)
    with pytest.raises(OverflowError):
        await emutcp.socket().connect((LO, 70_000))
    with pytest.raises(TypeError):
        await conn.recv(1.5)
    with pytest.raises(ValueError):
        await conn.recv(-1)
    assert await conn.recv(0) == b""
    with pytest.raises(TypeError):
        await client.send("text is not bytes")
    with pytest.raises(OSError) as info:
        client.setsockopt(emutcp.IPPROTO_TCP, emutcp.TCP_USER_TIMEOUT, -5)
    assert info.value.errno == errno.EINVAL
    for bad in (b"\x01", (1,), "linger", (1, -3)):
        with pytest.raises(OSError) as info:
            client.setsockopt(emutcp.SOL_SOCKET, emutcp.SO_LINGER, bad)
        assert info.value.errno == errno.EINVAL
    with pytest.raises(TypeError):
        client.setsockopt(emutcp.SOL_SOCKET, emutcp.SO_SNDBUF, "big")
    for s in (client, conn, server):
        s.close()
