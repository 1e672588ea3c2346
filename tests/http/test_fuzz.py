"""Property-based fuzzing of the request path with hypothesis, against one real server on a
loopback socket (its loop in a thread): random bytes, valid requests split at random
points, and pipelined mixes of valid and invalid requests.

Properties: the server never raises into its loop; whatever it sends is HTTP/1.1
responses; valid requests are answered in order whatever the segmentation; after the first
invalid request, the valid ones before it are answered, then at most one 4xx, then the
close; every byte a connection held is given back (`buffered` returns to 0).
"""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from urllib.parse import unquote

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from exporter.http.limits import Limits
from exporter.http.server import HttpServer
from exporter.serving import bind
from tests.http.test_fence import responses
from tests.support.serving_harness import fixed_app

SETTINGS = settings(
    max_examples=150, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True
)
LIMITS = Limits(head_timeout=2, idle_timeout=2, max_head_bytes=4096, max_body_bytes=64)


class Served:
    def __init__(self) -> None:
        self.errors: list[dict] = []
        self.loop = asyncio.new_event_loop()
        self.loop.set_exception_handler(lambda _loop, ctx: self.errors.append(ctx))
        self.server = HttpServer(fixed_app, "fuzz", LIMITS, body_routes={("POST", b"/in")})
        self.sock = bind("127.0.0.1:0")
        self.port = self.sock.getsockname()[1]
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()
        while not self.server.started:
            time.sleep(0.01)

    def _run(self) -> None:
        self.loop.run_until_complete(self.server.serve([self.sock]))

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(10)
        self.sock.close()

    def send(self, parts: list[bytes]) -> bytes:
        """Send `parts` one by one (each its own segment), then read until the close."""
        conn = socket.create_connection(("127.0.0.1", self.port), timeout=5)
        conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        try:
            for part in parts:
                try:
                    conn.sendall(part)
                except (BrokenPipeError, ConnectionResetError):
                    break
                time.sleep(0.001)
            try:
                conn.shutdown(socket.SHUT_WR)
            except OSError:
                pass
            data = b""
            while True:
                try:
                    chunk = conn.recv(65536)
                except ConnectionResetError:
                    break
                if not chunk:
                    break
                data += chunk
            return data
        finally:
            conn.close()

    def settled(self) -> bool:
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            if not self.server.connections and self.server.buffered == 0:
                return True
            time.sleep(0.005)
        return False


@pytest.fixture(scope="module")
def served():
    s = Served()
    yield s
    s.stop()
    assert not s.errors, s.errors[:3]


paths = st.text(alphabet="abcxyz019-_.~%", min_size=1, max_size=30).map(lambda p: "/" + p)


@st.composite
def valid_request(draw) -> tuple[bytes, bytes]:
    """(request bytes, the body the echo app answers: its decoded path)."""
    path = draw(paths)
    method = draw(st.sampled_from(["GET", "HEAD", "POST"]))
    headers = draw(
        st.lists(
            st.tuples(
                st.text(alphabet="abcdefXYZ-", min_size=1, max_size=10),
                st.text(alphabet="abc 123;=/,", max_size=20).map(str.strip),
            ),
            max_size=5,
        )
    )
    lines = [f"{method} {path} HTTP/1.1", "Host: fuzz"]
    lines += [f"X-{k}: {v}" for k, v in headers]
    body = b""
    if method == "POST":
        path_b = path
        lines[0] = "POST /in HTTP/1.1"
        path_b = "/in"
        body = draw(st.binary(max_size=64))
        lines.append(f"Content-Length: {len(body)}")
        path = path_b
    raw = ("\r\n".join(lines) + "\r\n\r\n").encode() + body

    expected = b"" if method == "HEAD" else unquote(path).encode("utf-8", "surrogateescape")
    return raw, expected


def split_at(data: bytes, cuts: list[int]) -> list[bytes]:
    points = sorted({c % (len(data) + 1) for c in cuts})
    out, last = [], 0
    for p in points:
        out.append(data[last:p])
        last = p
    out.append(data[last:])
    return [p for p in out if p]


def assert_http_responses(data: bytes) -> list[int]:
    codes = []
    rest = data
    while rest:
        assert rest.startswith(b"HTTP/1.1 "), rest[:80]
        head, sep, rest = rest.partition(b"\r\n\r\n")
        assert sep, "an unfinished response head"
        lines = head.split(b"\r\n")
        codes.append(int(lines[0].split(b" ")[1]))
        fields = dict(line.lower().split(b": ", 1) for line in lines[1:])
        rest = (
            rest[int(fields.get(b"content-length", b"0")) :]
            if b"content-length" in fields
            else rest
        )
    return codes


@SETTINGS
@given(st.binary(max_size=600), st.lists(st.integers(0, 600), max_size=4))
def test_random_bytes_never_break_the_server(served, noise, cuts):
    data = served.send(split_at(noise, cuts))
    codes = assert_http_responses(data) if data.startswith(b"HTTP/1.1 ") else []
    assert data == b"" or codes, data[:80]
    assert all(c in (200, 400, 413, 417, 431, 500, 503) for c in codes)
    assert served.settled()


@SETTINGS
@given(
    st.lists(valid_request(), min_size=1, max_size=5), st.lists(st.integers(0, 2000), max_size=8)
)
def test_valid_requests_split_anywhere_are_answered_in_order(served, requests, cuts):
    whole = b"".join(raw for raw, _ in requests)
    data = served.send(split_at(whole, cuts))
    got = responses(data, [raw.startswith(b"HEAD") for raw, _ in requests])
    assert [code for code, _h, _b in got] == [200] * len(requests)
    for (raw, expected), (_code, _headers, body) in zip(requests, got, strict=True):
        if raw.startswith(b"HEAD"):
            assert body == b""
        else:
            assert body == expected
    assert served.settled()


invalid = st.sampled_from(
    [
        b"GET / HTTP/9.9\r\n\r\n",
        b"\x00\x01\x02\r\n\r\n",
        b"GET / HTTP/1.1\r\n\r\n",  # no Host
        b"GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n",
        b"POST /x HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\nhello",  # body, no route
        b"POST /in HTTP/1.1\r\nHost: a\r\nContent-Length: 65\r\n\r\n" + b"b" * 65,
        b"GET / HTTP/1.1\r\nHost: a\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost: a\r\nExpect: tea\r\n\r\n",
        b"GET /" + b"u" * 5000 + b" HTTP/1.1\r\nHost: a\r\n\r\n",
    ]
)


@SETTINGS
@given(
    st.lists(valid_request(), max_size=4),
    invalid,
    st.lists(valid_request(), max_size=3),
    st.lists(st.integers(0, 8000), max_size=6),
)
def test_pipelined_mix_answers_the_valid_prefix_then_one_error(served, before, bad, after, cuts):
    whole = b"".join(r for r, _ in before) + bad + b"".join(r for r, _ in after)
    data = served.send(split_at(whole, cuts))
    got = responses(data, [raw.startswith(b"HEAD") for raw, _ in before])
    codes = [code for code, _h, _b in got]
    assert codes[: len(before)] == [200] * len(before)
    for (_raw, expected), (_c, _h, body) in zip(before, got, strict=False):
        if not _raw.startswith(b"HEAD"):
            assert body == expected
    # then exactly one refusal, and nothing after it is answered
    assert len(codes) == len(before) + 1, codes
    assert 400 <= codes[-1] < 500
    assert got[-1][1][b"connection"] == b"close"
    assert served.settled()
