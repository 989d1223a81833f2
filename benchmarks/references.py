"""Reference measurements taken in the same run as emutcp's: kernel TCP through
trio, aioquic (Python QUIC) bulk transfer, and a UDP ping-pong for latency.
Each returns a number; benchmarks/run.py puts them next to emutcp's figures.
"""

from __future__ import annotations

import asyncio
import os
import socket
import ssl
import statistics
import tempfile
import time

import trio

import emutcp


async def _kernel_tcp(nbytes: int) -> float:
    listeners = await trio.open_tcp_listeners(0, host="127.0.0.1")
    port = listeners[0].socket.getsockname()[1]
    chunk = os.urandom(1 << 20)
    async with trio.open_nursery() as nursery:

        async def sink():
            stream = await listeners[0].accept()
            while await stream.receive_some(1 << 20):
                pass
            await stream.aclose()

        nursery.start_soon(sink)
        client = await trio.open_tcp_stream("127.0.0.1", port)
        t0 = time.perf_counter()
        sent = 0
        while sent < nbytes:
            await client.send_all(chunk)
            sent += len(chunk)
        await client.send_eof()
        elapsed = time.perf_counter() - t0
        await client.aclose()
    for lst in listeners:
        await lst.aclose()
    return sent / elapsed / 1e6


def kernel_tcp(nbytes: int = 200_000_000) -> float:
    """MB/s of kernel TCP over loopback, driven from trio."""
    return trio.run(_kernel_tcp, nbytes)


async def _udp_ping_pong(rounds: int) -> float:
    a = trio.socket.socket(trio.socket.AF_INET, trio.socket.SOCK_DGRAM)
    b = trio.socket.socket(trio.socket.AF_INET, trio.socket.SOCK_DGRAM)
    await a.bind(("127.0.0.1", 0))
    await b.bind(("127.0.0.1", 0))
    samples = []
    async with trio.open_nursery() as nursery:

        async def echo():
            while True:
                data, addr = await b.recvfrom(64)
                await b.sendto(data, addr)

        nursery.start_soon(echo)
        for _ in range(rounds):
            t0 = time.perf_counter()
            await a.sendto(b"x", b.getsockname())
            await a.recv(64)
            samples.append(time.perf_counter() - t0)
        nursery.cancel_scope.cancel()
    a.close()
    b.close()
    return statistics.median(samples) * 1e6


def udp_ping_pong(rounds: int = 3000) -> float:
    """Median microseconds for a 1-byte UDP round trip between two trio sockets."""
    return trio.run(_udp_ping_pong, rounds)


async def _emutcp_echo(rounds: int) -> float:
    config = emutcp.Config(nodelay=True)
    host = emutcp.UdpHost(config=config)
    listener = host.socket()
    await listener.bind(("127.0.0.1", 0))
    listener.listen(1)
    samples = []
    async with trio.open_nursery() as nursery:

        async def echo():
            conn, _ = await listener.accept()
            while data := await conn.recv(64):
                await conn.sendall(data)
            conn.close()

        nursery.start_soon(echo)
        client = host.socket()
        await client.connect(listener.getsockname())
        for _ in range(rounds):
            t0 = time.perf_counter()
            await client.sendall(b"x")
            await client.recv(64)
            samples.append(time.perf_counter() - t0)
        client.close()
    listener.close()
    return statistics.median(samples) * 1e6


def emutcp_echo(rounds: int = 3000) -> float:
    """Median microseconds for a 1-byte emutcp echo round trip (TCP_NODELAY)."""
    return trio.run(_emutcp_echo, rounds)


def aioquic_bulk(nbytes: int = 20_000_000) -> float | None:
    """MB/s of one aioquic stream over loopback, or None if aioquic is missing."""
    try:
        import trustme
        from aioquic.asyncio import connect, serve
        from aioquic.quic.configuration import QuicConfiguration
    except ImportError:
        return None

    ca = trustme.CA()
    cert = ca.issue_cert("localhost")
    with tempfile.TemporaryDirectory() as tmp:
        cert_path, key_path = os.path.join(tmp, "c.pem"), os.path.join(tmp, "k.pem")
        cert.private_key_and_cert_chain_pem.write_to_path(cert_path)
        cert.private_key_pem.write_to_path(key_path)
        server_cfg = QuicConfiguration(is_client=False, alpn_protocols=["bench"])
        server_cfg.load_cert_chain(cert_path, key_path)
        client_cfg = QuicConfiguration(is_client=True, alpn_protocols=["bench"])
        client_cfg.verify_mode = ssl.CERT_NONE

        async def main() -> float:
            done = asyncio.Event()
            received = 0

            async def handle(reader, writer):
                nonlocal received
                while data := await reader.read(1 << 20):
                    received += len(data)
                writer.write(b"ok")
                writer.write_eof()
                done.set()

            port = _free_udp_port()  # aioquic's server does not report its port
            server = await serve(
                "127.0.0.1",
                port,
                configuration=server_cfg,
                stream_handler=lambda r, w: asyncio.ensure_future(handle(r, w)),
            )
            async with connect("127.0.0.1", port, configuration=client_cfg) as client:
                reader, writer = await client.create_stream()
                chunk = os.urandom(1 << 16)
                t0 = time.perf_counter()
                sent = 0
                while sent < nbytes:
                    writer.write(chunk)
                    sent += len(chunk)
                    await writer.drain()
                writer.write_eof()
                await reader.read()
                elapsed = time.perf_counter() - t0
            server.close()
            return sent / elapsed / 1e6

        return asyncio.run(main())


def _free_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]
