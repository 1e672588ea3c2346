"""One accepted connection: TLS (optional), HTTP/1.1 with httptools, the ASGI app.

Requests on a connection run one at a time, in order (pipelined ones wait their turn; reading
pauses when several are queued); `exchange` runs each. Time limits are deadlines the server's
sweep enforces (`phase`/`deadline`): handshake -> head (first byte of a request head to its
end) -> busy (the app runs; no limit here, the apps bound their own waits) -> idle
(keep-alive) -> head ...; and drain (a client that does not read its responses, held to the
idle timeout) whenever the write buffer is full.

What a request may hold is decided at the end of its head (`rules.check_head`), before any
body byte is kept: a body only on a route that takes one (`HttpServer.body_routes`), at most
`max_body_bytes`; and the bytes every connection of the listener holds (unfinished heads,
bodies) stay within `max_buffered_bytes`. `Upgrade` is ignored (h2c is answered over
HTTP/1.1); nothing is read after a request that closes the connection; after an error
answer the connection lingers a moment, discarding input, so the client reads the answer.

Failure semantics: a bad handshake, malformed HTTP, an oversized head or body closes the
connection (400/413/417/431/503 first where HTTP was spoken, in the listener's `ErrorBody`)
after the valid requests pipelined before it are answered, and is counted in the listener's
stats, never logged per request.
"""

from __future__ import annotations

import asyncio
import socket
import ssl
from collections import deque
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote

import httptools

from . import wire
from .exchange import Exchange
from .rules import Head, Refuse, check_head
from .tlsio import TlsClosed, TlsSession

if TYPE_CHECKING:
    from .server import HttpServer

MAX_QUEUED = 8  # pipelined requests held before reading pauses
# After an error answer the connection half-closes and reads (discarding, never buffering)
# what the client still sends, for this long or this much, so that the answer is read rather
# than destroyed by the reset a close with unread data causes (a refused body in flight).
LINGER_SECONDS = 2.0
LINGER_BYTES = 4 << 20


@dataclass(slots=True)
class Request:
    method: str
    version: str
    scope: dict[str, Any]
    body: bytes
    keep_alive: bool
    held: int  # bytes counted against the listener's buffer budget until answered


class HttpConnection(asyncio.BufferedProtocol):
    """asyncio protocol for one client; `server` owns limits, stats and the app.

    Reads land in the listener's one scratch buffer (`server.scratch`) and are consumed
    before the next read, so no read allocates a buffer of its own: a burst of clients
    sending data costs neither a 256 KiB read buffer each nor the heap fragmentation those
    leave behind."""

    def __init__(self, server: HttpServer, context: ssl.SSLContext | None, source: str) -> None:
        self.server = server
        self.source = source  # the client's address: its share of the listener's connections
        self.transport: asyncio.Transport | None = None
        self.tls = TlsSession(context) if context is not None else None
        self.tls_ext: dict | None = None
        self.parser = httptools.HttpRequestParser(self)
        self.phase = "handshake" if context is not None else "head"
        limits = server.limits
        # from the accept on: the transport is attached a moment later (connection_made)
        timeout = limits.handshake_timeout if context is not None else limits.head_timeout
        self.deadline = server.now() + timeout
        self.client: tuple[str, int] | None = None
        self.sockname: tuple[str, int] | None = None
        self.queue: deque[Request] = deque()
        self.task: asyncio.Task | None = None
        self.closing = False
        self.lingering = 0  # bytes discarded since an error answer (see LINGER_*)
        self.paused = False
        self.held = 0  # bytes this connection counts in `server.buffered`
        self._drained: asyncio.Future[None] | None = None
        self._gone: asyncio.Future[None] | None = None  # set when the client disconnects
        self._listening: Exchange | None = None  # an exchange waiting in receive()
        self._failure: Refuse | None = None  # answered once the queue is done
        self._last = False  # a request that closes the connection was read: read no more
        self._in_head = True  # bytes between messages belong to the next head
        self._head_held = 0  # bytes fed since this head began
        self._size = 0  # the head's request line and header bytes
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
        if self.closing:  # timed out or shut down before it was attached
            transport.abort()

    def connection_lost(self, exc: Exception | None) -> None:
        self.closing = True
        self.queue.clear()
        self._release(self.held)  # queued and running requests' bodies, an unfinished head
        self._body = []
        if self._drained is not None and not self._drained.done():
            self._drained.set_result(None)
        if self._gone is not None and not self._gone.done():
            self._gone.set_result(None)
        # an app listening for the disconnect is told (above); any other is cancelled
        if self.task is not None and not self.task.done() and self._listening is None:
            self.task.cancel()
        self.server.closed(self)
        self.transport = None

    def get_buffer(self, sizehint: int) -> memoryview:
        return self.server.scratch

    def buffer_updated(self, nbytes: int) -> None:
        if self.closing or self._last:
            if self.phase == "linger":  # discarded unread, never copied
                self.lingering += nbytes
                if self.lingering > LINGER_BYTES:
                    self.abort()
            return
        self.data_received(bytes(self.server.scratch[:nbytes]))

    def data_received(self, data: bytes) -> None:
        if self.closing or self._last:
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
            if self.transport is not None and not self.paused and not self._last:
                self.transport.resume_reading()

    # -- the listener's buffer budget --------------------------------------------------------
    def _hold(self, n: int) -> None:
        self.held += n
        self.server.buffered += n
        if self.server.buffered > self.server.limits.max_buffered_bytes:
            raise Refuse(503, "buffer_budget", "the server is busy; retry later")

    def _release(self, n: int) -> None:
        n = min(n, self.held)  # what connection_lost already released is not released twice
        self.server.buffered -= n
        self.held -= n

    # -- parsing -----------------------------------------------------------------------------
    def _feed(self, data: bytes) -> None:
        limit = self.server.limits.max_head_bytes
        try:
            if self._in_head:
                self._head_held += len(data)
                self._hold(len(data))
            try:
                self.parser.feed_data(data)
            except httptools.HttpParserUpgrade as upgrade:
                # RFC 9110 7.8: a server may ignore Upgrade. The request was complete; what
                # follows it is parsed afresh as HTTP/1.1.
                self.parser = httptools.HttpRequestParser(self)
                rest = data[upgrade.args[0] :]
                if rest and not self._last:
                    self._feed_more(rest)
                return
            if self._in_head and self._head_held > limit:
                raise Refuse(431, "head_too_large", "the request head is too large")
        except Refuse as refuse:
            self._refuse_later(refuse)
        except httptools.HttpParserCallbackError as exc:
            cause = exc.__cause__ or exc.__context__
            if not isinstance(cause, Refuse):
                raise
            self._refuse_later(cause)
        except httptools.HttpParserError:
            if not self._last:  # bytes after a closing request are ignored, not an error
                self._refuse_later(Refuse(400, "malformed", "malformed HTTP request"))

    def _feed_more(self, data: bytes) -> None:
        self._in_head = True
        self._head_held = 0
        self._feed(data)

    def on_message_begin(self) -> None:
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
        if len(self._url) > self.server.limits.max_head_bytes:
            raise Refuse(431, "head_too_large", "the request line is too long")

    def on_header(self, name: bytes, value: bytes) -> None:
        self._headers.append((name.lower(), value))
        self._size += len(name) + len(value) + 4

    def on_headers_complete(self) -> None:
        p = self.parser
        head = Head(
            p.get_method().decode("ascii", "replace"),
            p.get_http_version(),
            self._url,
            self._headers,
            self._size,
        )
        if check_head(head, self.server.limits, self.server.body_routes):
            self.write(wire.CONTINUE)
        self._in_head = False
        self._release(self._head_held)
        self._head_held = 0

    def on_body(self, body: bytes) -> None:
        self._body_len += len(body)
        if self._body_len > self.server.limits.max_body_bytes:
            raise Refuse(413, "body_too_large", "the request body is too large")
        self._hold(len(body))
        self._body.append(body)

    def on_message_complete(self) -> None:
        self._in_head = True
        self._head_held = 0
        p = self.parser
        method = p.get_method().decode("ascii")
        version = p.get_http_version()
        keep_alive = p.should_keep_alive()
        body = b"".join(self._body)
        self._body = []
        request = Request(
            method, version, self._scope(method, version), body, keep_alive, self._body_len
        )
        self._body_len = 0
        self.queue.append(request)
        if not keep_alive:  # its answer closes the connection: what follows is never read
            self._last = True
            self._pause()
        elif len(self.queue) >= MAX_QUEUED:
            self._pause()
        if self.task is None:
            self.phase = "busy"
            self.task = asyncio.get_running_loop().create_task(self._run())

    def _scope(self, method: str, version: str) -> dict[str, Any]:
        path, _, query = self._url.partition(b"?")
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
            "headers": self._headers,
            "client": self.client,
            "server": self.sockname,
        }
        if self.tls_ext is not None:
            scope["extensions"] = {"tls": self.tls_ext}
        return scope

    def _pause(self) -> None:
        if not self.paused and self.transport is not None:
            self.paused = True
            self.transport.pause_reading()

    # -- requests ----------------------------------------------------------------------------
    async def _run(self) -> None:
        try:
            while self.queue and not self.closing:
                await self.drained()
                request = self.queue.popleft()
                try:
                    keep_alive = await Exchange(self, request).run()
                finally:
                    self._release(request.held)
                if not keep_alive:
                    self.close()
                    return
                if self.paused and len(self.queue) < MAX_QUEUED and not self._last:
                    self.paused = False
                    if self.transport is not None and self._drained is None:
                        self.transport.resume_reading()
        finally:
            self.task = None
        if self.closing:
            return
        if self._failure is not None:
            self._answer_failure()
        elif self._head_held:
            self.phase = "head"  # its deadline was set when its first byte came
        else:
            self.phase = "idle"
            self.deadline = self.server.now() + self.server.limits.idle_timeout

    async def drained(self) -> None:
        """Wait (in phase drain, held to the idle timeout) while the client is not reading."""
        if self._drained is not None:
            phase = self.phase
            self.phase = "drain"
            self.deadline = self.server.now() + self.server.limits.idle_timeout
            await self._drained
            self.phase = phase

    async def wait_disconnect(self, exchange: Exchange) -> None:
        """Until the client goes away (ASGI `http.disconnect`)."""
        if self.transport is None:
            return
        if self._gone is None:
            self._gone = asyncio.get_running_loop().create_future()
        self._listening = exchange
        try:
            await self._gone
        finally:
            self._listening = None

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

    def _refuse_later(self, refuse: Refuse) -> None:
        """Stop reading; answer the requests already queued, then `refuse`."""
        self._last = True
        self.parser = None  # type: ignore[assignment]  # nothing more is parsed
        self._release(self._head_held)
        self._head_held = 0
        for part in self._body:
            self._release(len(part))
        self._body = []
        self._pause()
        self._failure = refuse
        if self.task is None:
            self._answer_failure()

    def _answer_failure(self) -> None:
        refuse, self._failure = self._failure, None
        assert refuse is not None
        self.server.stats.reject(refuse.reason)
        self.refuse(refuse.code, refuse.message)

    def refuse(self, code: int, message: str) -> None:
        """Answer an error in the listener's words and close; counted by the caller."""
        extra = ((b"allow", b"GET, HEAD"),) if code == 405 else ()
        try:
            self.write(wire.error_response(code, message, self.server.error_body, extra))
        except ssl.SSLError:
            pass
        self._linger()

    def _linger(self) -> None:
        """Half-close after an error answer and discard what still comes (LINGER_*)."""
        transport = self.transport
        if self.closing or transport is None or transport.is_closing():
            self.close()
            return
        self.closing = True
        self.parser = None  # type: ignore[assignment]  # nothing more is parsed
        try:
            if self.tls is not None:
                transport.write(self.tls.close_notify())
            if transport.can_write_eof():
                transport.write_eof()
        except (OSError, RuntimeError, ssl.SSLError):
            transport.abort()
            return
        self.phase = "linger"
        self.deadline = self.server.now() + LINGER_SECONDS
        self.paused = False
        transport.resume_reading()

    def timed_out(self) -> None:
        """Called by the server's sweep when `deadline` passed in a waiting phase."""
        if self.phase == "linger":  # the error was answered: a normal end
            if self.transport is not None:
                self.transport.close()
        elif self.phase in ("handshake", "head", "drain"):
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
