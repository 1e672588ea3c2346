"""One request's ASGI cycle on a connection: `receive` (the buffered body, then
`http.disconnect`), `send` (a buffered or a streamed response), and the response bytes.

A response whose first body message is the last (`more_body` false, what every exporter app
sends) is written at once with a Content-Length. One that streams (`more_body` true) is
written as it comes: chunked on HTTP/1.1 unless the app gave a Content-Length, delimited by
closing the connection on HTTP/1.0; each chunk waits while the client is not reading.

Failure semantics: a header the app gives that cannot be written safely (`wire.BadHeader`),
or an exception in the app, is answered 500 when nothing was written yet (the connection
then closes), or ends the connection when a streamed response had begun; both are counted
(`exporter_http_connections_rejected_total{reason="app_error"|"bad_response_header"}`).
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING, Any

from . import wire

if TYPE_CHECKING:
    from .connection import HttpConnection, Request

log = logging.getLogger(__name__)

_FRAMING = (b"content-length", b"connection", b"transfer-encoding")


class _Refused(RuntimeError):
    """Raised into the app by `send` when its response cannot be written."""


class Exchange:
    """Runs the app for `request` on `conn`; `run()` returns whether to keep the connection."""

    def __init__(self, conn: HttpConnection, request: Request) -> None:
        self.conn = conn
        self.request = request
        self.keep_alive = request.keep_alive
        self.status = 0
        self.headers: list[tuple[bytes, bytes]] = []
        self.head_written = False
        self.done = False
        self.chunked = False
        self.failure: str | None = None  # "bad_response_header" | "app_error"
        self._body_sent = False

    @property
    def _bodiless(self) -> bool:
        return self.request.method == "HEAD" or self.status < 200 or self.status in (204, 304)

    # -- ASGI --------------------------------------------------------------------------------
    async def receive(self) -> dict[str, Any]:
        if not self._body_sent:
            self._body_sent = True
            return {"type": "http.request", "body": self.request.body, "more_body": False}
        await self.conn.wait_disconnect(self)
        return {"type": "http.disconnect"}

    async def send(self, message: dict[str, Any]) -> None:
        if self.failure is not None:
            raise _Refused("the response was refused")
        kind = message["type"]
        if kind == "http.response.start":
            if self.status:
                raise _Refused("http.response.start sent twice")
            self.status = int(message["status"])
            try:
                self.headers = [(bytes(k).lower(), bytes(v)) for k, v in message.get("headers", ())]
                for k, v in self.headers:
                    wire.check_header(k, v)
            except (wire.BadHeader, TypeError, ValueError):
                self.failure = "bad_response_header"
                raise _Refused("a response header holds a forbidden character") from None
        elif kind == "http.response.body":
            if not self.status or self.done:
                raise _Refused("http.response.body out of order")
            body = bytes(message.get("body", b""))
            more = bool(message.get("more_body", False))
            if self.conn.closing:
                self.done = not more
                return  # the client is gone: nothing to write (it was told by receive)
            if not self.head_written:
                self._write_first(body, more)
            else:
                self._write_more(body, more)
            if more:
                await self.conn.drained()

    # -- writing -----------------------------------------------------------------------------
    def _head(self, length: int | None) -> list[bytes]:
        out = [wire.status_line(self.status)]
        given = None
        for name, value in self.headers:
            if name == b"content-length":
                given = value
            elif name not in _FRAMING:
                out.append(b"%s: %s\r\n" % (name, value))  # checked in send()
        if self.status >= 200 and self.status != 204:
            if given is not None:
                out.append(b"content-length: %s\r\n" % given)
            elif self.status == 304:
                pass  # a 304's length would be the 200's; none is better than a wrong one
            elif length is not None:
                out.append(b"content-length: %d\r\n" % length)
            elif self.chunked:
                out.append(b"transfer-encoding: chunked\r\n")
        if not self.keep_alive:
            out.append(b"connection: close\r\n")
        out.append(b"\r\n")
        return out

    def _write_first(self, body: bytes, more: bool) -> None:
        self.head_written = True
        if not more:  # the whole body at once: the common, buffered case
            self.done = True
            out = self._head(len(body))
            if not self._bodiless:
                out.append(body)
            self.conn.write(b"".join(out))
            return
        given = any(name == b"content-length" for name, _ in self.headers)
        if not given and not self._bodiless:
            if self.request.version == "1.1":
                self.chunked = True
            else:  # HTTP/1.0 has no chunks: the body ends where the connection does
                self.keep_alive = False
        out = self._head(None)
        if not self._bodiless:
            out.append(wire.chunk(body) if self.chunked else body)
        self.conn.write(b"".join(out))

    def _write_more(self, body: bytes, more: bool) -> None:
        if not more:
            self.done = True
        if self._bodiless:
            return
        if self.chunked:
            self.conn.write(wire.chunk(body) + (b"" if more else wire.LAST_CHUNK))
        elif body:
            self.conn.write(body)

    def _finish(self) -> None:
        """The app returned: complete what it left open."""
        if not self.head_written:
            if not self.status:
                self.failure = self.failure or "app_error"
                return
            self._write_first(b"", False)
        elif not self.done:
            self._write_more(b"", False)

    # -- running -----------------------------------------------------------------------------
    async def run(self) -> bool:
        """Run the app; False when the connection must close after this response."""
        req = self.request
        try:
            await self.conn.server.app(req.scope, self.receive, self.send)
        except asyncio.CancelledError:
            raise
        except _Refused:
            if self.failure is None:
                self.failure = "app_error"
        except Exception:
            log.exception(
                "%s listener: the app failed on %s %s",
                self.conn.server.name,
                req.method,
                req.scope["raw_path"][:200],
            )
            self.failure = "app_error"
        if self.failure is None:
            self._finish()
        if self.failure is not None:
            self.conn.server.stats.reject(self.failure)
            if self.head_written:
                self.conn.abort()  # a half-written response cannot be repaired
            else:
                self.conn.refuse(500, "internal error")
            return False
        return self.keep_alive
