"""Run an `exporter.http` server inside a test's loop on a free loopback port, and a raw
socket client that shows exactly what the server sends and when it closes."""

from __future__ import annotations

import asyncio
import contextlib
import ssl
from collections.abc import AsyncIterator

from exporter.http.limits import Limits
from exporter.http.server import HttpServer
from exporter.serving import bind


async def fixed_app(scope, receive, send) -> None:
    """200 with the path echoed back (any method)."""
    body = scope["path"].encode()
    headers = [(b"content-type", b"text/plain"), (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    await send({"type": "http.response.body", "body": body})


@contextlib.asynccontextmanager
async def running(
    app=fixed_app, limits: Limits | None = None, tls=None, **kw
) -> AsyncIterator[tuple[HttpServer, int]]:
    server = HttpServer(app, "test", limits or Limits(), tls, **kw)
    sock = bind("127.0.0.1:0")
    task = asyncio.create_task(server.serve([sock]))
    try:
        while not server.started:
            await asyncio.sleep(0.01)
        yield server, sock.getsockname()[1]
    finally:
        server.should_exit = True
        await asyncio.wait_for(task, 10)
        sock.close()


async def closed_within(reader: asyncio.StreamReader, seconds: float) -> bytes:
    """Everything the server sends until it closes; TimeoutError if it keeps it open."""
    data = b""
    async with asyncio.timeout(seconds):
        while True:
            try:
                chunk = await reader.read(65536)
            except (ConnectionResetError, ssl.SSLError):
                return data
            if not chunk:
                return data
            data += chunk


async def get(port: int, path: str = "/", ctx=None, extra: str = "") -> tuple[int, bytes]:
    reader, writer = await asyncio.open_connection("127.0.0.1", port, ssl=ctx)
    try:
        writer.write(f"GET {path} HTTP/1.1\r\nHost: x\r\n{extra}Connection: close\r\n\r\n".encode())
        data = await closed_within(reader, 5)
    finally:
        writer.close()
    head, _, body = data.partition(b"\r\n\r\n")
    return int(head.split(b" ")[1]), body
