"""trio stream conformance, TLS and HTTP/1.1 over emutcp."""

from __future__ import annotations

import ssl

import h11
import pytest
import trio
import trio.testing
import trustme
from streams import SMALL, clog, stream_pair

import emutcp

LO = "127.0.0.1"


async def test_half_closeable_stream_conformance_over_loopback_udp():
    host = emutcp.default_host()

    async def maker():
        return await stream_pair(host, LO)

    async def clogged():
        client, server = await stream_pair(host, LO, config=SMALL)
        await clog(client)  # both directions: trio also flips the pair
        await clog(server)
        return client, server

    await trio.testing.check_half_closeable_stream(maker, clogged)


async def test_half_closeable_stream_conformance_over_emulated_link(mock_clock):
    net = emutcp.EmulatedNetwork(seed=3)
    a = net.add_host("10.0.0.1")
    b = net.add_host("10.0.0.2")
    net.add_link("10.0.0.1", "10.0.0.2", delay=0.01, loss=0.01)

    async def maker():
        return await stream_pair(b, "10.0.0.2", client_host=a)

    async def clogged():
        client, server = await stream_pair(b, "10.0.0.2", config=SMALL, client_host=a)
        await clog(client)  # both directions: trio also flips the pair
        await clog(server)
        return client, server

    await trio.testing.check_half_closeable_stream(maker, clogged)


async def test_listener_works_with_serve_listeners():
    async def echo(stream):
        async for chunk in stream:
            await stream.send_all(chunk)

    async with trio.open_nursery() as nursery:
        listeners = await nursery.start(
            emutcp.serve,
            echo,
            0,
        )
        port = listeners[0].socket.getsockname()[1]
        stream = await emutcp.open_stream(LO, port)
        await stream.send_all(b"echo me")
        assert await stream.receive_some(100) == b"echo me"
        await stream.aclose()
        nursery.cancel_scope.cancel()


async def test_tls_over_emutcp():
    ca = trustme.CA()
    cert = ca.issue_cert("emutcp.test")
    server_ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    cert.configure_cert(server_ctx)
    client_ctx = ssl.create_default_context()
    ca.configure_trust(client_ctx)
    client_raw, server_raw = await stream_pair(emutcp.default_host(), LO)
    client = trio.SSLStream(client_raw, client_ctx, server_hostname="emutcp.test")
    server = trio.SSLStream(server_raw, server_ctx, server_side=True)

    async def serve():
        request = await server.receive_some(100)
        await server.send_all(request.upper())

    async with trio.open_nursery() as nursery:
        nursery.start_soon(serve)
        await client.send_all(b"secret over emutcp")
        assert await client.receive_some(100) == b"SECRET OVER EMUTCP"
    assert client.selected_alpn_protocol() is None
    await client.aclose()
    await server.aclose()


async def test_http11_with_h11_over_emutcp():
    client_stream, server_stream = await stream_pair(emutcp.default_host(), LO)

    async def http_server():
        conn = h11.Connection(h11.SERVER)
        while True:
            event = conn.next_event()
            if event is h11.NEED_DATA:
                conn.receive_data(await server_stream.receive_some(4096))
                continue
            if isinstance(event, h11.EndOfMessage):
                break
        body = b"hello from h11 over emutcp"
        headers = [("content-length", str(len(body))), ("content-type", "text/plain")]
        await server_stream.send_all(conn.send(h11.Response(status_code=200, headers=headers)))
        await server_stream.send_all(conn.send(h11.Data(data=body)))
        await server_stream.send_all(conn.send(h11.EndOfMessage()))

    async with trio.open_nursery() as nursery:
        nursery.start_soon(http_server)
        conn = h11.Connection(h11.CLIENT)
        req = h11.Request(method="GET", target="/", headers=[("host", "emutcp.test")])
        await client_stream.send_all(conn.send(req) + conn.send(h11.EndOfMessage()))
        status, body = None, b""
        while True:
            event = conn.next_event()
            if event is h11.NEED_DATA:
                conn.receive_data(await client_stream.receive_some(4096))
            elif isinstance(event, h11.Response):
                status = event.status_code
            elif isinstance(event, h11.Data):
                body += event.data
            elif isinstance(event, h11.EndOfMessage):
                break
    assert status == 200
    assert body == b"hello from h11 over emutcp"
    await client_stream.aclose()
    await server_stream.aclose()


async def test_open_stream_refused_is_a_plain_oserror():
    with pytest.raises(ConnectionRefusedError):
        net = emutcp.EmulatedNetwork()
        a = net.add_host("10.0.0.1")
        net.add_host("10.0.0.2")
        net.add_link("10.0.0.1", "10.0.0.2")
        await a.open_stream("10.0.0.2", 81)
