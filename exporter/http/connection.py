"""One accepted connection: TLS (optional), HTTP/1.1 with httptools, the ASGI app.

Requests on a connection run one at a time, in order (pipelined ones wait their turn; reading
pauses when several are queued). Each response is buffered and written at once with a
Content-Length. Time limits are deadlines the server's sweep enforces (`phase`/`deadline`):
handshake -> head (first byte of a request head to its end) -> busy (the app runs; no limit
here, the apps bound their own waits) -> idle (keep-alive) -> head ...; and drain (a client
that does not read its responses, held to the idle timeout) whenever the write buffer is full.

Failure semantics: a bad handshake, malformed HTTP or an oversized head closes the
connection (400/431 first where HTTP was spoken) and is counted in the listener's stats,
never logged per request. An exception in the app is logged and answered 500.
"""

from __future__ import annotations

import asyncio
import logging
import socket
import ssl
from collections import deque
from http import HTTPStatus
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote

import httptools

from .tlsio import TlsClosed, TlsSession

if TYPE_CHECKING:
    from .server import HttpServer

log = logging.getLogger(__name__)

MAX_QUEUED = 8  # pipelined requests held before reading pauses
_REASONS = {s.value: s.phrase.encode() for s in HTTPStatus}


def status_line(code: int) -> bytes:
    return b"HTTP/1.1 %d %s\r\n" % (code, _REASONS.get(code, b"Unknown"))


def _plain(code: int) -> bytes:
    body = _REASONS.get(code, b"Error") + b"\n"
    return (
        status_line(code)
        + b"content-type: text/plain; charset=utf-8\r\nconnection: close\r\n"
        + b"content-length: %d\r\n\r\n" % len(body)
        + body
    )


class _BodyTooLarge(Exception):
    pass


class _HeadTooLarge(Exception):
    pass


class HttpConnection(asyncio.Protocol):
    """asyncio protocol for one client; `server` owns limits, stats and the app."""

    def __init__(self, server: HttpServer, context: ssl.SSLContext | None) -> None:
        self.server = server
        self.transport: asyncio.Transport | None = None
        self.tls = TlsSession(context) if context is not None else None
        self.tls_ext: dict | None = None
        self.parser = httptools.HttpRequestParser(self)
        self.phase = "handshake" if context is not None else "head"
        self.deadline = 0.0
        self.client: tuple[str, int] | None = None
        self.sockname: tuple[str, int] | None = None
        self.queue: deque[tuple] = deque()
        self.task: asyncio.Task | None = None
        self.closing = False
        self.paused = False
        self._drained: asyncio.Future[None] | None = None
        self._in_message = False
        self._in_head = True  # bytes between messages belong to the next head
        self._raw = 0  # head bytes fed so far (httptools buffers header lines itself)
        self._size = 0  # the head's parsed header bytes
        self._url = b""
        self._headers: list[tuple[bytes, bytes]] = []
        self._body: list[bytes] = []
        self._body_len = 0

    # -- asyncio.Protocol ------------------------------------------------------------------
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        sock = transport.get_extra_info("socket")
        if sock is not None and sock.family in (socket.AF_INET, socket.AF_INET6):
            try:  # no Nagle: a response must not wait for the client's delayed ACK
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            except OSError:
                pass
        peer = transport.get_extra_info("peername")
        self.client = tuple(peer[:2]) if isinstance(peer, tuple) else None  # type: ignore[assignment]
        name = transport.get_extra_info("sockname")
        self.sockname = tuple(name[:2]) if isinstance(name, tuple) else None  # type: ignore[assignment]
        limits = self.server.limits
        timeout = limits.handshake_timeout if self.tls else limits.head_timeout
        self.deadline = self.server.now() + timeout
        self.server.opened(self)

    def connection_lost(self, exc: Exception | None) -> None:
        self.closing = True
        self.queue.clear()
        if self.task is not None and not self.task.done():
            self.task.cancel()
        self.server.closed(self)
        self.transport = None

    def data_received(self, data: bytes) -> None:
        if self.closing:
            return
        if self.tls is not None:
            was = self.tls.established
            try:
                data = self.tls.feed(data)
            except TlsClosed:
                if self.transport is not None:
                    self.transport.write(self.tls.close_notify())
                self.close()
                return
            except ssl.SSLError:
                if not was:
                    self.server.stats.reject("handshake_failed")
                self._flush_tls()
                self.abort()
                return
            self._flush_tls()
            if not was and self.tls.established:
                self.tls_ext = self.server.tls_extension(self.tls.obj)
                self.phase = "head"
                self.deadline = self.server.now() + self.server.limits.head_timeout
            if not data:
                return
        self._feed(data)

    def pause_writing(self) -> None:
        """The client is not reading its responses: stop reading its requests too, and let
        the next response wait (bounded by the idle timeout) until the buffer drains."""
        if self._drained is None:
            self._drained = asyncio.get_running_loop().create_future()
            if self.transport is not None:
                self.transport.pause_reading()

    def resume_writing(self) -> None:
        if self._drained is not None:
            if not self._drained.done():
                self._drained.set_result(None)
            self._drained = None
            if self.transport is not None and not self.paused:
                self.transport.resume_reading()

    # -- parsing -----------------------------------------------------------------------------
    def _feed(self, data: bytes) -> None:
        self._raw += len(data)
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserUpgrade:
            self._fail(400, "malformed")
            return
        except httptools.HttpParserCallbackError as exc:
            cause = exc.__cause__ or exc.__context__
            if isinstance(cause, _HeadTooLarge):
                self._fail(431, "head_too_large")
            elif isinstance(cause, _BodyTooLarge):
                self._fail(413, "malformed")
            else:
                raise
            return
        except httptools.HttpParserError:
            self._fail(400, "malformed")
            return
        if self._in_head and self._raw > self.server.limits.max_head_bytes:
            self._fail(431, "head_too_large")

    def on_message_begin(self) -> None:
        self._in_message = True
        self._size = 0
        self._url = b""
        self._headers = []
        self._body = []
        self._body_len = 0
        if self.phase == "idle":
            self.phase = "head"
            self.deadline = self.server.now() + self.server.limits.head_timeout

    def on_url(self, url: bytes) -> None:
        self._url += url

    def on_header(self, name: bytes, value: bytes) -> None:
        self._headers.append((name.lower(), value))
        self._size += len(name) + len(value) + 4

    def on_headers_complete(self) -> None:
        # a whole head that arrived in one read is measured here; `_raw` catches one still
        # arriving (httptools buffers an unfinished header line itself)
        if self._size + len(self._url) > self.server.limits.max_head_bytes:
            raise _HeadTooLarge
        self._in_head = False
        self._raw = 0

    def on_body(self, body: bytes) -> None:
        self._body_len += len(body)
        if self._body_len > self.server.limits.max_body_bytes:
            raise _BodyTooLarge
        self._body.append(body)

    def on_message_complete(self) -> None:
        self._in_message = False
        self._in_head = True
        self._raw = 0
        p = self.parser
        request = (
            p.get_method().decode("ascii"),
            p.get_http_version(),
            self._url,
            self._headers,
            b"".join(self._body),
            p.should_keep_alive(),
        )
        self.queue.append(request)
        if len(self.queue) >= MAX_QUEUED and self.transport is not None and not self.paused:
            self.paused = True
            self.transport.pause_reading()
        if self.task is None:
            self.phase = "busy"
            self.task = asyncio.get_running_loop().create_task(self._run())

    # -- requests ----------------------------------------------------------------------------
    async def _run(self) -> None:
        try:
            while self.queue and not self.closing:
                if self._drained is not None:
                    self.phase = "drain"
                    self.deadline = self.server.now() + self.server.limits.idle_timeout
                    await self._drained
                    self.phase = "busy"
                keep_alive = await self._respond(*self.queue.popleft())
                if not keep_alive:
                    self.close()
                    return
                if self.paused and len(self.queue) < MAX_QUEUED and self.transport is not None:
                    self.paused = False
                    self.transport.resume_reading()
        finally:
            self.task = None
        if not self.closing:
            if self._in_message:
                self.phase = "head"  # its deadline was set when its first byte came
            else:
                self.phase = "idle"
                self.deadline = self.server.now() + self.server.limits.idle_timeout

    def _scope(self, method: str, version: str, url: bytes, headers: list) -> dict[str, Any]:
        path, _, query = url.partition(b"?")
        scope: dict[str, Any] = {
            "type": "http",
            "asgi": {"version": "3.0", "spec_version": "2.3"},
            "http_version": version,
            "method": method,
            "scheme": "https" if self.tls else "http",
            "path": unquote(path.decode("latin-1")),
            "raw_path": path,
            "query_string": query,
            "root_path": "",
            "headers": headers,
            "client": self.client,
            "server": self.sockname,
        }
        if self.tls_ext is not None:
            scope["extensions"] = {"tls": self.tls_ext}
        return scope

    async def _respond(self, method, version, url, headers, body, keep_alive) -> bool:
        """Run the app for one request and write its response; False when the connection
        must close afterwards."""
        scope = self._scope(method, version, url, headers)
        status = 0
        out_headers: list[tuple[bytes, bytes]] = []
        chunks: list[bytes] = []
        received = False

        async def receive() -> dict:
            nonlocal received
            if not received:
                received = True
                return {"type": "http.request", "body": body, "more_body": False}
            await asyncio.Future()  # no disconnect signal before the response is complete
            return {"type": "http.disconnect"}  # pragma: no cover

        async def send(message: dict) -> None:
            nonlocal status, out_headers
            if message["type"] == "http.response.start":
                status = message["status"]
                out_headers = list(message.get("headers", ()))
            elif message["type"] == "http.response.body":
                chunks.append(message.get("body", b""))

        try:
            await self.server.app(scope, receive, send)
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception(
                "%s listener: the app failed on %s %s", self.server.name, method, url[:200]
            )
            status = 0  # whatever it sent before failing is dropped
        if not status:
            status, out_headers, chunks = 500, [(b"content-type", b"text/plain")], [b"error\n"]
        payload = b"".join(chunks)
        head = [status_line(status)]
        has_length = False
        for name, value in out_headers:
            name = name.lower()
            if name == b"content-length":
                has_length = True
            elif name in (b"connection", b"transfer-encoding"):
                continue
            head.append(b"%s: %s\r\n" % (name, value))
        if not has_length:
            head.append(b"content-length: %d\r\n" % len(payload))
        if not keep_alive:
            head.append(b"connection: close\r\n")
        head.append(b"\r\n")
        if method != "HEAD" and status >= 200 and status not in (204, 304):
            head.append(payload)
        self.write(b"".join(head))
        return keep_alive

    # -- output and closing ------------------------------------------------------------------
    def write(self, data: bytes) -> None:
        if self.transport is None or self.transport.is_closing():
            return
        if self.tls is not None:
            data = self.tls.encrypt(data)
        self.transport.write(data)

    def _flush_tls(self) -> None:
        if self.tls is not None and self.transport is not None:
            out = self.tls.pending()
            if out:
                self.transport.write(out)

    def _fail(self, code: int, reason: str) -> None:
        """Answer a client error with a minimal response and close; counted, not logged."""
        self.server.stats.reject(reason)
        try:
            self.write(_plain(code))
        except ssl.SSLError:
            pass
        self.close()

    def timed_out(self) -> None:
        """Called by the server's sweep when `deadline` passed in a waiting phase."""
        if self.phase in ("handshake", "head", "drain"):
            self.server.stats.reject(f"{self.phase}_timeout")
            self.abort()
        elif self.transport is not None and self.transport.get_write_buffer_size():
            self.server.stats.reject("drain_timeout")  # idle, but its responses unread
            self.abort()
        else:  # idle keep-alive: a normal close
            self.close()

    def close(self) -> None:
        if self.closing:
            return
        self.closing = True
        self.parser = None  # type: ignore[assignment]  # nothing more is parsed
        if self.transport is not None:
            self.transport.close()

    def abort(self) -> None:
        self.closing = True
        if self.transport is not None:
            self.transport.abort()
