"""HTTP/1.1 rules on real sockets: Upgrade ignored (h2c), pipelined requests answered before
a bad one, nothing read after `Connection: close`, Host, Expect, the request line in the
head limit, request bodies refused where a route takes none, the buffer budget, 413."""

from __future__ import annotations

import asyncio

from exporter.http.limits import Limits
from tests.http.test_fence import responses, talk
from tests.support.serving_harness import closed_within, running

H2C = (
    b"GET /h2c HTTP/1.1\r\nHost: x\r\nConnection: Upgrade, HTTP2-Settings\r\n"
    b"Upgrade: h2c\r\nHTTP2-Settings: AAMAAABkAARAAAAAAAIAAAAA\r\n\r\n"
)


async def echo_body(scope, receive, send):
    message = await receive()
    body = scope["path"].encode() + b":" + message["body"]
    headers = [(b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    await send({"type": "http.response.body", "body": body})


async def test_h2c_upgrade_is_answered_over_http11_and_the_connection_goes_on():
    async with running() as (_server, port):
        data = await talk(port, H2C + b"GET /next HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        assert [(c, b) for c, _h, b in responses(data)] == [(200, b"/h2c"), (200, b"/next")]
        assert b"101" not in data.split(b"\r\n")[0]


async def test_valid_pipelined_requests_are_answered_before_the_400():
    async with running() as (server, port):
        good = b"".join(b"GET /%d HTTP/1.1\r\nHost: x\r\n\r\n" % i for i in range(3))
        data = await talk(port, good + b"GET / HTTP/9.9\r\n\r\nGET /never HTTP/1.1\r\n\r\n")
        got = [(c, b) for c, _h, b in responses(data)]
        assert got[:3] == [(200, b"/0"), (200, b"/1"), (200, b"/2")]
        assert [c for c, _ in got[3:]] == [400] and b"/never" not in data
        assert server.stats.rejected["malformed"] == 1


async def test_what_follows_a_connection_close_request_is_ignored():
    async with running() as (server, port):
        data = await talk(
            port, b"GET /last HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n\xff\xfe junk\r\n\r\n"
        )
        [(code, headers, body)] = responses(data)
        assert (code, body, headers[b"connection"]) == (200, b"/last", b"close")
        assert sum(server.stats.rejected.values()) == 0


async def test_http11_needs_exactly_one_host():
    async with running() as (_server, port):
        assert (await talk(port, b"GET / HTTP/1.1\r\n\r\n")).startswith(b"HTTP/1.1 400 ")
        two = b"GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n"
        assert (await talk(port, two)).startswith(b"HTTP/1.1 400 ")
        ok = await talk(port, b"GET /h HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n")
        assert ok.startswith(b"HTTP/1.1 200 ")


async def test_expect_100_continue_is_answered_and_other_expectations_are_417():
    routes = {("POST", b"/in")}
    async with running(echo_body, body_routes=routes) as (_server, port):
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(
            b"POST /in HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\n"
        )
        async with asyncio.timeout(3):  # the client waits for this before sending its body
            assert await reader.readuntil(b"\r\n\r\n") == b"HTTP/1.1 100 Continue\r\n\r\n"
        writer.write(b"hello")
        async with asyncio.timeout(3):
            assert (await reader.readuntil(b"/in:hello")).startswith(b"HTTP/1.1 200 ")
        writer.close()
        odd = b"GET / HTTP/1.1\r\nHost: x\r\nExpect: something-else\r\n\r\n"
        assert (await talk(port, odd)).startswith(b"HTTP/1.1 417 ")


async def test_the_request_line_counts_in_max_head_bytes():
    limits = Limits(max_head_bytes=1024)
    async with running(limits=limits) as (server, port):

        def request(path_len: int) -> bytes:
            return b"GET /" + b"p" * path_len + b" HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"

        # head = request line + headers + blank line; the path alone stays under the limit
        fits = 1024 - len(request(0))
        assert (await talk(port, request(fits))).startswith(b"HTTP/1.1 200 ")
        assert (await talk(port, request(fits + 40))).startswith(b"HTTP/1.1 431 ")
        assert server.stats.rejected["head_too_large"] == 1


async def test_a_body_on_a_route_that_takes_none_is_refused_before_it_is_read():
    async with running() as (server, port):
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(b"POST /metrics HTTP/1.1\r\nHost: x\r\nContent-Length: 1048576\r\n\r\n")
        writer.write(b"x" * 1000)
        data = await closed_within(reader, 3)
        assert data.startswith(b"HTTP/1.1 413 ")
        assert server.stats.rejected["body_refused"] == 1 and server.buffered == 0
        writer.close()
        chunked = b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n"
        assert (await talk(port, chunked)).startswith(b"HTTP/1.1 413 ")
        # a bodiless request on the same path is the app's (here: 200)
        empty = b"POST /m HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
        assert (await talk(port, empty)).startswith(b"HTTP/1.1 200 ")


async def test_body_limit_is_413_and_a_body_within_it_reaches_the_app():
    limits = Limits(max_body_bytes=100)
    routes = {("POST", b"/in")}
    async with running(echo_body, limits=limits, body_routes=routes) as (server, port):
        ok = b"POST /in HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nConnection: close\r\n\r\nabc"
        assert (await talk(port, ok)).endswith(b"/in:abc")
        big = b"POST /in HTTP/1.1\r\nHost: x\r\nContent-Length: 101\r\n\r\n" + b"a" * 101
        assert (await talk(port, big)).startswith(b"HTTP/1.1 413 ")
        chunks = b"".join(b"20\r\n" + b"c" * 32 + b"\r\n" for _ in range(4)) + b"0\r\n\r\n"
        big_chunked = b"POST /in HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n" + chunks
        assert (await talk(port, big_chunked)).startswith(b"HTTP/1.1 413 ")
        assert server.stats.rejected["body_too_large"] == 2
        assert server.buffered == 0


async def test_the_listener_buffer_budget_bounds_all_connections_together():
    # 8 clients each holding an unfinished 3000-byte head: a 16 KiB budget takes five
    limits = Limits(max_buffered_bytes=16384, max_head_bytes=8192)
    async with running(limits=limits) as (server, port):
        conns = []
        for _ in range(8):
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.write(b"GET / HTTP/1.1\r\nHost: x\r\nX-Pad: " + b"p" * 3000)
            conns.append((reader, writer))
            await asyncio.sleep(0.05)
        assert server.buffered <= 16384
        assert server.stats.rejected["buffer_budget"] >= 2
        refused = 0
        for reader, writer in conns:
            try:
                async with asyncio.timeout(0.5):
                    data = await reader.read(100)
                refused += data.startswith(b"HTTP/1.1 503 ")
            except TimeoutError:
                pass
            writer.close()
        assert refused == server.stats.rejected["buffer_budget"]
        async with asyncio.timeout(3):
            while server.connections:
                await asyncio.sleep(0.02)
        assert server.buffered == 0  # every byte held is given back
