"""The HTTP server between the app and the wire, on real loopback sockets: headers the app
gives are checked, an app that fails is a 500, streamed responses, the disconnect reaching
the app, bodiless responses, TLS close_notify, HTTP/1.0."""

from __future__ import annotations

import asyncio
import socket
import ssl

import pytest

from exporter.http.limits import Limits
from exporter.tls import server_context
from tests.support.pki import CA, client_context
from tests.support.serving_harness import closed_within, running


async def talk(port: int, data: bytes, seconds: float = 3.0, ctx=None) -> bytes:
    """Send `data`, return all the server sends until it closes."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port, ssl=ctx)
    try:
        writer.write(data)
        return await closed_within(reader, seconds)
    finally:
        writer.close()


def responses(
    data: bytes, heads: list[bool] | None = None
) -> list[tuple[int, dict[bytes, bytes], bytes]]:
    """Split a stream of Content-Length framed responses; `heads[i]`: the i-th answered a
    HEAD (its Content-Length is not followed by a body)."""
    out = []
    while data:
        head, _, rest = data.partition(b"\r\n\r\n")
        lines = head.split(b"\r\n")
        code = int(lines[0].split(b" ")[1])
        headers = dict(line.lower().split(b": ", 1) for line in lines[1:])
        n = int(headers.get(b"content-length", b"0"))
        if heads is not None and len(out) < len(heads) and heads[len(out)]:
            n = 0
        out.append((code, headers, rest[:n]))
        data = rest[n:]
    return out


def app_with(headers):
    async def app(scope, receive, send):
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": b"hello"})

    return app


@pytest.mark.parametrize(
    "bad",
    [
        (b"x-evil", b"a\r\nset-cookie: pwned=1"),
        (b"x-evil", b"a\nb"),
        (b"x-evil", b"a\x00b"),
        (b"x-evil\r\nset-cookie", b"1"),
        (b"bad name", b"1"),
        (b"", b"1"),
    ],
)
async def test_a_response_header_with_cr_lf_or_nul_is_a_500_counted_and_closed(bad):
    async with running(app_with([(b"content-type", b"text/plain"), bad])) as (server, port):
        data = await talk(port, b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        assert data.startswith(b"HTTP/1.1 500 ")
        assert b"pwned" not in data and b"set-cookie" not in data.lower()
        assert b"connection: close" in data
        assert server.stats.rejected["bad_response_header"] == 1


async def test_an_app_exception_is_a_500_and_the_connection_closes(caplog):
    async def app(scope, receive, send):
        raise RuntimeError("boom")

    async with running(app) as (server, port):
        data = await talk(
            port, b"GET /a HTTP/1.1\r\nHost: x\r\n\r\nGET /b HTTP/1.1\r\nHost: x\r\n\r\n"
        )
        [(code, headers, _body)] = responses(data)
        assert code == 500 and headers[b"connection"] == b"close"
        assert server.stats.rejected["app_error"] == 1
    assert "boom" in caplog.text


async def test_an_app_that_sends_nothing_is_a_500():
    async def app(scope, receive, send):
        return

    async with running(app) as (_server, port):
        data = await talk(port, b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        assert data.startswith(b"HTTP/1.1 500 ")


async def test_more_body_streams_chunked_on_http11_and_close_delimited_on_http10():
    release = asyncio.Event()

    async def app(scope, receive, send):
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"first;", "more_body": True})
        await release.wait()
        await send({"type": "http.response.body", "body": b"second", "more_body": True})
        await send({"type": "http.response.body", "body": b"", "more_body": False})

    async with running(app) as (_server, port):
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        # the first chunk arrives before the app has finished: streamed, not buffered
        async with asyncio.timeout(3):
            head = await reader.readuntil(b"first;\r\n")
        assert b"transfer-encoding: chunked" in head and b"content-length" not in head
        release.set()
        async with asyncio.timeout(3):
            rest = await reader.readuntil(b"0\r\n\r\n")
        assert rest == b"6\r\nsecond\r\n0\r\n\r\n"
        # the connection stays usable
        release.clear()
        writer.write(b"GET / HTTP/1.0\r\n\r\n")
        await asyncio.sleep(0.05)
        release.set()
        data = await closed_within(reader, 3)
        assert b"transfer-encoding" not in data and data.endswith(b"\r\n\r\nfirst;second")
        writer.close()


async def test_the_disconnect_reaches_the_app():
    seen: list[dict] = []
    asked = asyncio.Event()

    async def app(scope, receive, send):
        seen.append(await receive())
        asked.set()
        seen.append(await receive())  # waits until the client goes away

    async with running(app) as (server, port):
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        async with asyncio.timeout(3):
            await asyncio.wait_for(asyncio.shield(asked.wait()), 3)
        writer.close()
        async with asyncio.timeout(3):
            while len(seen) < 2:
                await asyncio.sleep(0.01)
        assert seen[0]["type"] == "http.request" and seen[1] == {"type": "http.disconnect"}
        async with asyncio.timeout(3):
            while server.connections:
                await asyncio.sleep(0.01)


@pytest.mark.parametrize("status", [204, 304])
async def test_204_and_304_carry_no_body(status):
    async def app(scope, receive, send):
        await send({"type": "http.response.start", "status": status, "headers": []})
        await send({"type": "http.response.body", "body": b"must not be sent"})

    async with running(app) as (_server, port):
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(b"GET / HTTP/1.1\r\nHost: x\r\n\r\nGET / HTTP/1.1\r\nHost: x\r\n\r\n")
        await asyncio.sleep(0.3)
        writer.write_eof()
        data = await closed_within(reader, 3)
        assert data.count(b"HTTP/1.1 %d " % status) == 2
        assert b"must not" not in data and b"content-length" not in data
        writer.close()


async def test_head_has_the_length_and_no_body():
    async with running() as (_server, port):
        data = await talk(port, b"HEAD /abc HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        head, _, body = data.partition(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 200 ") and b"content-length: 4" in head
        assert body == b""


async def test_http10_is_answered_and_closed_unless_keep_alive():
    async with running() as (_server, port):
        data = await talk(port, b"GET /old HTTP/1.0\r\n\r\n")  # no Host: fine in HTTP/1.0
        [(code, headers, body)] = responses(data)
        assert (code, body, headers[b"connection"]) == (200, b"/old", b"close")
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(b"GET /k HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
        async with asyncio.timeout(3):
            await reader.readuntil(b"/k")
        writer.write(b"GET /k2 HTTP/1.0\r\n\r\n")
        assert (await closed_within(reader, 3)).endswith(b"/k2")
        writer.close()


async def test_tls_close_notify_is_answered_with_close_notify(tmp_path):
    ca = CA("serving", tmp_path)
    pair = ca.issue("exporter", client=False, hosts=("127.0.0.1",))
    ctx = server_context(str(pair.cert_path), str(pair.key_path))
    async with running(tls=ctx) as (server, port):

        def client() -> tuple[bytes, bytes]:
            raw = socket.create_connection(("127.0.0.1", port), timeout=3)
            tls = client_context(ca.path).wrap_socket(raw, server_hostname="127.0.0.1")
            tls.sendall(b"GET /t HTTP/1.1\r\nHost: x\r\n\r\n")
            answer = tls.recv(4096)
            plain = tls.unwrap()  # sends ours, returns once the server's close_notify came
            after = plain.recv(10)
            plain.close()
            return answer, after

        answer, after = await asyncio.to_thread(client)
        assert answer.endswith(b"/t") and after == b""
        async with asyncio.timeout(3):
            while server.connections:
                await asyncio.sleep(0.01)
        assert sum(server.stats.rejected.values()) == 0


async def test_server_errors_use_the_listener_wording():
    def words(code: int, message: str) -> tuple[bytes, bytes]:
        return b"application/json", b'{"code": %d}' % code

    async with running(limits=Limits(max_head_bytes=2048), error_body=words) as (_s, port):
        data = await talk(port, b"GET /" + b"p" * 5000 + b" HTTP/1.1\r\nHost: x\r\n\r\n")
        [(code, headers, body)] = responses(data)
        assert code == 431 and headers[b"content-type"] == b"application/json"
        assert body == b'{"code": 431}'


def test_tls_module_verify_modes(tmp_path):
    ca = CA("serving", tmp_path)
    pair = ca.issue("exporter", client=False, hosts=("127.0.0.1",))
    cert, key = str(pair.cert_path), str(pair.key_path)
    assert server_context(cert, key).verify_mode == ssl.CERT_NONE
    with_ca = server_context(cert, key, ca.pem)
    assert with_ca.verify_mode == ssl.CERT_OPTIONAL
    required = server_context(cert, key, client_ca_file=str(ca.path), verify=ssl.CERT_REQUIRED)
    assert required.verify_mode == ssl.CERT_REQUIRED
