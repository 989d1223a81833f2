"""Third-party asyncio software over emutcp, unchanged: an aiohttp web server
(a custom site over ``emutcp.aio.create_server``) answering an httpx client
(through an httpcore network backend over ``emutcp.aio.open_connection``) and
a hand-driven h11 client.  Under plain ``asyncio.run`` on the emulated network.
"""

from __future__ import annotations

import asyncio
import hashlib
import random

import pytest

import emutcp
from emutcp import aio

web = pytest.importorskip("aiohttp.web")
httpx = pytest.importorskip("httpx")
httpcore = pytest.importorskip("httpcore")
h11 = pytest.importorskip("h11")

A, B = "10.0.0.1", "10.0.0.2"
BODY = random.Random(11).randbytes(300_000)


class EmutcpSite(web.BaseSite):
    """An aiohttp site listening on an emutcp host (as ``web.TCPSite`` on the kernel's)."""

    def __init__(self, runner: web.BaseRunner, host: str, port: int, *, emu_host: emutcp.Host):
        super().__init__(runner)
        self._where = (host, port)
        self._emu_host = emu_host

    @property
    def name(self) -> str:
        return f"http://{self._where[0]}:{self._where[1]} (emutcp)"

    async def start(self) -> None:
        await super().start()
        server = self._runner.server
        assert server is not None
        self._server = await aio.create_server(server, *self._where, emu_host=self._emu_host)


class EmutcpStream(httpcore.AsyncNetworkStream):
    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer

    async def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        return await self.reader.read(max_bytes)

    async def write(self, buffer: bytes, timeout: float | None = None) -> None:
        self.writer.write(buffer)
        await self.writer.drain()

    async def aclose(self) -> None:
        self.writer.close()

    def get_extra_info(self, info: str):
        return self.writer.get_extra_info(info)


class EmutcpBackend(httpcore.AsyncNetworkBackend):
    """httpcore's seam for the network: its TCP connections are emutcp's."""

    def __init__(self, emu_host: emutcp.Host) -> None:
        self.emu_host = emu_host

    async def connect_tcp(self, host, port, timeout=None, local_address=None, socket_options=None):
        reader, writer = await aio.open_connection(host, port, emu_host=self.emu_host)
        return EmutcpStream(reader, writer)

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(seconds)


class EmutcpHttpx(httpx.AsyncBaseTransport):
    """An httpx transport: httpcore's connection pool over ``EmutcpBackend``."""

    def __init__(self, emu_host: emutcp.Host) -> None:
        self.pool = httpcore.AsyncConnectionPool(network_backend=EmutcpBackend(emu_host))

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        url = request.url
        response = await self.pool.handle_async_request(
            httpcore.Request(
                method=request.method,
                url=httpcore.URL(
                    scheme=url.raw_scheme, host=url.raw_host, port=url.port, target=url.raw_path
                ),
                headers=request.headers.raw,
                content=request.stream,
                extensions=request.extensions,
            )
        )
        content = await response.aread()
        await response.aclose()
        return httpx.Response(response.status, headers=response.headers, content=content)

    async def aclose(self) -> None:
        await self.pool.aclose()


def app() -> web.Application:
    async def hello(request: web.Request) -> web.Response:
        return web.Response(text=f"hello {request.match_info['name']}")

    async def blob(request: web.Request) -> web.Response:
        return web.Response(body=BODY, content_type="application/octet-stream")

    async def digest(request: web.Request) -> web.Response:
        return web.Response(text=hashlib.sha256(await request.read()).hexdigest())

    application = web.Application()
    application.add_routes(
        [web.get("/hello/{name}", hello), web.get("/blob", blob), web.post("/digest", digest)]
    )
    return application


async def serving(emu_host: emutcp.Host) -> web.AppRunner:
    runner = web.AppRunner(app())
    await runner.setup()
    await EmutcpSite(runner, B, 8080, emu_host=emu_host).start()
    return runner


def hosts():
    net = emutcp.EmulatedNetwork(seed=21)
    a, b = net.add_host(A), net.add_host(B)
    net.add_link(A, B)
    return a, b


def test_aiohttp_server_answers_httpx_client():
    upload = random.Random(12).randbytes(200_000)

    async def main():
        a, b = hosts()
        runner = await serving(b)
        try:
            async with httpx.AsyncClient(transport=EmutcpHttpx(a)) as client:
                hello = await client.get(f"http://{B}:8080/hello/emutcp")
                blob = await client.get(f"http://{B}:8080/blob")
                posted = await client.post(f"http://{B}:8080/digest", content=upload)
                missing = await client.get(f"http://{B}:8080/nothing")
        finally:
            await runner.cleanup()
        return hello, blob, posted, missing

    hello, blob, posted, missing = asyncio.run(asyncio.wait_for(main(), 30))
    assert (hello.status_code, hello.text) == (200, "hello emutcp")
    assert blob.status_code == 200
    assert hashlib.sha256(blob.content).digest() == hashlib.sha256(BODY).digest()
    assert posted.text == hashlib.sha256(upload).hexdigest()
    assert missing.status_code == 404


def test_h11_client_exchange_with_aiohttp():
    async def main():
        a, b = hosts()
        runner = await serving(b)
        try:
            reader, writer = await aio.open_connection(B, 8080, emu_host=a)
            conn = h11.Connection(our_role=h11.CLIENT)
            writer.write(
                conn.send(
                    h11.Request(
                        method="GET",
                        target="/blob",
                        headers=[("Host", f"{B}:8080"), ("Connection", "close")],
                    )
                )
            )
            writer.write(conn.send(h11.EndOfMessage()))
            await writer.drain()
            status, body = None, bytearray()
            while True:
                event = conn.next_event()
                if event is h11.NEED_DATA:
                    conn.receive_data(await reader.read(65536))
                elif isinstance(event, h11.Response):
                    status = event.status_code
                elif isinstance(event, h11.Data):
                    body += event.data
                elif isinstance(event, h11.EndOfMessage):
                    break
            writer.close()
            await writer.wait_closed()
        finally:
            await runner.cleanup()
        return status, bytes(body)

    status, body = asyncio.run(asyncio.wait_for(main(), 30))
    assert status == 200
    assert hashlib.sha256(body).digest() == hashlib.sha256(BODY).digest()
