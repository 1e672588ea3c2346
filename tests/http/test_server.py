"""The exporter's HTTP server on real loopback sockets: timeouts, limits, the connection cap,
TCP_NODELAY, malformed input, pipelining, TLS handshake timeout and certificate reload."""

from __future__ import annotations

import asyncio
import logging
import shutil
import socket
import ssl
import subprocess
import sys
import time

import pytest

from exporter.http.limits import Limits
from exporter.serving import bind
from exporter.tls import ReloadingContext, server_context
from tests.support.pki import CA, client_context
from tests.support.servers import REPO
from tests.support.serving_harness import closed_within, get, running

FAST = Limits(head_timeout=0.5, handshake_timeout=0.5, idle_timeout=0.8, max_head_bytes=4096)


async def test_accepted_sockets_have_tcp_nodelay():
    sock = bind("127.0.0.1:0")
    assert sock.proto == socket.IPPROTO_TCP
    sock.close()
    async with running() as (server, port):
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(b"GET /x HTTP/1.1\r\nHost: x\r\n\r\n")
        await reader.readuntil(b"/x")
        [conn] = server.connections
        accepted = conn.transport.get_extra_info("socket")
        assert accepted.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) != 0
        writer.close()


async def test_silent_and_half_head_clients_are_closed_at_the_head_timeout():
    async with running(limits=FAST) as (server, port):
        started = time.monotonic()
        r1, w1 = await asyncio.open_connection("127.0.0.1", port)
        r2, w2 = await asyncio.open_connection("127.0.0.1", port)
        w2.write(b"GET /metrics HTTP/1.1\r\nHost: x\r\nX-Slow: ")
        # meanwhile a normal request is answered at once
        assert await get(port, "/ok") == (200, b"/ok")
        assert time.monotonic() - started < 0.5
        assert await closed_within(r1, 3) == b""
        assert await closed_within(r2, 3) == b""
        assert 0.4 < time.monotonic() - started < 3
        assert server.stats.rejected["head_timeout"] == 2
        w1.close(), w2.close()


async def test_idle_keep_alive_is_closed_after_the_idle_timeout_and_not_counted():
    async with running(limits=FAST) as (server, port):
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        for path in ("/a", "/b"):
            writer.write(f"GET {path} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
            head = await reader.readuntil(path.encode())
            assert head.startswith(b"HTTP/1.1 200")
        started = time.monotonic()
        assert await closed_within(reader, 3) == b""
        assert 0.6 < time.monotonic() - started < 2.5
        assert sum(server.stats.rejected.values()) == 0
        writer.close()


async def test_oversized_head_gets_431_and_is_closed():
    async with running(limits=FAST) as (server, port):
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(b"GET / HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 10000)
        data = await closed_within(reader, 3)
        assert data.startswith(b"HTTP/1.1 431 ")
        assert server.stats.rejected["head_too_large"] == 1
        writer.close()
        # a long URL too, sent whole
        status, _ = await get(port, "/" + "u" * 8000)
        assert status == 431


async def test_malformed_requests_get_400_and_at_most_one_log_line(caplog):
    caplog.set_level(logging.DEBUG)
    async with running(limits=FAST) as (server, port):
        for bad in (
            b"\xff\xfe garbage\r\n\r\n",
            b"GET / HTTP/9.9\r\n\r\n",
            b"G\x00T / HTTP/1.1\r\n\r\n",
        ):
            for _ in range(10):
                reader, writer = await asyncio.open_connection("127.0.0.1", port)
                writer.write(bad)
                data = await closed_within(reader, 3)
                assert data.startswith(b"HTTP/1.1 400 "), data
                writer.close()
        assert server.stats.rejected["malformed"] == 30
    assert len([r for r in caplog.records if r.name.startswith("exporter.http")]) <= 1


async def test_connection_cap_refuses_new_connections_and_keeps_serving_existing_ones():
    limits = Limits(max_connections=3)
    async with running(limits=limits) as (server, port):
        conns = [await asyncio.open_connection("127.0.0.1", port) for _ in range(3)]
        for reader, writer in conns:  # each is kept alive after one request
            writer.write(b"GET /k HTTP/1.1\r\nHost: x\r\n\r\n")
            await reader.readuntil(b"/k")
        started = time.monotonic()
        try:  # refused at once: RST (the connect may already see it) or a close
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            assert await closed_within(reader, 2) == b""
            writer.close()
        except ConnectionResetError:
            pass
        assert time.monotonic() - started < 1
        assert server.stats.rejected["connection_cap"] >= 1
        # an existing keep-alive connection still gets its scrape answered
        r0, w0 = conns[0]
        w0.write(b"GET /still HTTP/1.1\r\nHost: x\r\n\r\n")
        async with asyncio.timeout(1):
            await r0.readuntil(b"/still")
        for _, w in conns:
            w.close()


async def test_pipelined_requests_are_answered_in_order():
    async with running() as (_server, port):
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(b"".join(f"GET /{i} HTTP/1.1\r\nHost: x\r\n\r\n".encode() for i in range(20)))
        data = b""
        async with asyncio.timeout(3):
            while data.count(b"HTTP/1.1 200") < 20:
                data += await reader.read(65536)
        bodies = [part.split(b"\r\n\r\n")[1][: len(str(i)) + 1] for i, part in enumerate(data.split(b"HTTP/1.1 200")[1:])]  # fmt: skip
        assert bodies == [f"/{i}".encode() for i in range(20)]
        writer.close()


@pytest.fixture
def serving_pair(tmp_path):
    ca = CA("serving", tmp_path)
    return ca, ca.issue("exporter", client=False, hosts=("127.0.0.1",))


async def test_tls_handshake_timeout_closes_a_silent_tls_client(serving_pair):
    _ca, pair = serving_pair
    ctx = server_context(str(pair.cert_path), str(pair.key_path), None)
    async with running(limits=FAST, tls=ctx) as (server, port):
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(b"\x16\x03\x01")  # the start of a ClientHello, then nothing
        assert await closed_within(reader, 3) == b""
        assert server.stats.rejected["handshake_timeout"] == 1
        writer.close()


async def test_serving_certificate_is_reloaded_when_the_files_change(serving_pair, tmp_path):
    ca, pair = serving_pair
    cert, key = tmp_path / "live.crt", tmp_path / "live.key"
    shutil.copy(pair.cert_path, cert), shutil.copy(pair.key_path, key)
    reloading = ReloadingContext(
        lambda: server_context(str(cert), str(key), None), [str(cert), str(key)], "t", 0.0
    )
    async with running(tls=reloading) as (_server, port):
        assert await get(port, "/one", client_context(ca.path)) == (200, b"/one")
        other = CA("rotated", tmp_path)
        new = other.issue("exporter-2", client=False, hosts=("127.0.0.1",))
        shutil.copy(new.key_path, key), shutil.copy(new.cert_path, cert)
        assert await get(port, "/two", client_context(other.path)) == (200, b"/two")
        with pytest.raises(ssl.SSLCertVerificationError):
            await get(port, "/old", client_context(ca.path))
    assert reloading.reloads >= 1


async def test_a_client_that_never_reads_is_held_to_the_idle_timeout():
    big = b"x" * (1 << 20)

    async def app(scope, receive, send):
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": big})

    async with running(app, limits=FAST) as (server, port):
        sock = socket.create_connection(("127.0.0.1", port))
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        sock.setblocking(False)
        request = b"GET / HTTP/1.1\r\nHost: x\r\n\r\n"
        sent = 0
        for _ in range(2000):  # pipeline requests, read nothing
            try:
                sent += sock.send(request * 50)
            except BlockingIOError:
                break
            await asyncio.sleep(0)
        [conn] = server.connections
        # the server stopped reading and holds a bounded buffer, not 2000 MB of responses
        await asyncio.sleep(0.3)
        assert conn.transport.get_write_buffer_size() < 8 << 20
        deadline = time.monotonic() + 5
        while server.connections and time.monotonic() < deadline:
            await asyncio.sleep(0.1)
        assert not server.connections
        assert server.stats.rejected["drain_timeout"] == 1
        sock.close()


_EMFILE_SERVER = """
import asyncio, resource, sys
from exporter.http.limits import Limits
from exporter.http.server import HttpServer
from exporter.serving import bind
from tests.support.serving_harness import fixed_app

async def main():
    sock = bind("127.0.0.1:0")
    # a cap far above the fd limit: accept() itself must run out
    server = HttpServer(fixed_app, "t", Limits(max_connections=10000))
    resource.setrlimit(resource.RLIMIT_NOFILE, (40, 40))
    task = asyncio.create_task(server.serve([sock]))
    print(sock.getsockname()[1], flush=True)
    await asyncio.get_running_loop().run_in_executor(None, sys.stdin.readline)
    print(server.stats.rejected["fd_exhausted"], len(server.connections), flush=True)
    server.should_exit = True
    await task

asyncio.run(main())
"""


def test_out_of_fds_accept_backs_off_instead_of_spinning():
    proc = subprocess.Popen(
        [sys.executable, "-c", _EMFILE_SERVER], cwd=REPO, text=True,
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )  # fmt: skip
    try:
        port = int(proc.stdout.readline())
        hogs = [socket.create_connection(("127.0.0.1", port)) for _ in range(60)]
        time.sleep(2)
        proc.stdin.write("\n")
        proc.stdin.flush()
        exhausted, held = (int(x) for x in proc.stdout.readline().split())
        for s in hogs:
            s.close()
        _out, err = proc.communicate(timeout=10)
    finally:
        proc.kill()
    assert held < 40  # what the fd limit allowed
    # 2 s of a full accept queue: tens of backed-off retries (50 ms doubling to 1 s), not a
    # busy loop of thousands, and nothing logged per attempt
    assert 1 <= exhausted <= 40
    assert "out of system resource" not in err and "Traceback" not in err, err[-2000:]
