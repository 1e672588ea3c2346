"""A service as the bare install runs it: a Starlette app with `exporter.instrument`, served
by a minimal HTTP/1.1 server on asyncio (the bare install has no uvicorn, and the test must
not add one). Prints `exporter <path of the imported package>` and then the port, one line
each, once it listens.

    python tests/support/bare_service.py
"""

from __future__ import annotations

import asyncio
import sys

from starlette.applications import Starlette
from starlette.responses import PlainTextResponse
from starlette.routing import Route

import exporter
from exporter.instrument import instrument


async def hello(request):
    return PlainTextResponse("hello")


app = instrument(Starlette(routes=[Route("/hello", hello)]), component_class="cpu")


async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """One request per connection (Connection: close), no body: enough for GET."""
    head = await reader.readuntil(b"\r\n\r\n")
    request_line, *header_lines = head.decode("latin-1").split("\r\n")
    method, target, _ = request_line.split(" ", 2)
    path, _, query = target.partition("?")
    headers = [
        (k.strip().lower().encode(), v.strip().encode())
        for k, _, v in (h.partition(":") for h in header_lines if h)
    ]
    scope = {
        "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": method,
        "scheme": "http", "path": path, "raw_path": path.encode(), "query_string": query.encode(),
        "root_path": "", "headers": headers, "client": writer.get_extra_info("peername")[:2],
        "server": writer.get_extra_info("sockname")[:2],
    }  # fmt: skip
    sent = False

    async def receive():
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": b"", "more_body": False}
        await asyncio.Event().wait()  # no disconnect before the answer is written

    async def send(message):
        if message["type"] == "http.response.start":
            lines = [f"HTTP/1.1 {message['status']} -".encode()]
            lines += [k + b": " + v for k, v in message.get("headers", [])]
            writer.write(b"\r\n".join([*lines, b"connection: close", b"", b""]))
        elif message["type"] == "http.response.body":
            writer.write(message.get("body", b""))

    await app(scope, receive, send)
    await writer.drain()
    writer.close()


async def main() -> None:
    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    print("exporter", exporter.__file__, flush=True)
    print(server.sockets[0].getsockname()[1], flush=True)
    async with server:
        await server.serve_forever()


if __name__ == "__main__":
    try:
        asyncio.run(main())
    except KeyboardInterrupt:
        sys.exit(0)
