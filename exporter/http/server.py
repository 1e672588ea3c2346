"""The accept loop of one listener: the connection cap and each client address's share of it,
accept-error backoff, the timeout sweep and graceful shutdown.

The object has the shape `exporter.service.serve` drives (`serve(sockets)`, `started`,
`should_exit`), so a listener is (server, socket) whatever runs it.
"""

from __future__ import annotations

import asyncio
import errno
import logging
import socket
import ssl
import time
from collections.abc import Awaitable, Callable, Collection
from typing import Any

from exporter.tls import ReloadingContext

from .connection import HttpConnection
from .limits import Limits, ListenerStats
from .wire import ErrorBody, plain_error

log = logging.getLogger(__name__)

ASGIApp = Callable[..., Any]
SWEEP_EVERY = 0.25  # seconds between timeout sweeps (timeouts are honoured to this much)
ACCEPT_BATCH = 64
READ_BUFFER = 16384  # one TLS record; requests here are small (heads, no bodies)
_RESOURCE_ERRNOS = {errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM}
_LINGER_RST = b"\x01\x00\x00\x00\x00\x00\x00\x00"  # struct linger {1, 0}: close with RST


def _no_tls_extension(_obj: ssl.SSLObject) -> dict:
    return {}


class HttpServer:
    """Serves `app` on one listening socket with `limits`.

    `tls` is a context, a `ReloadingContext` (rotating certificates) or None for plain HTTP;
    `tls_extension(ssl_object)` builds the ASGI `tls` scope extension per connection (None: `{}`).
    `prepare(server)` runs once in `serve` before accepting; what it raises ends `serve`.
    `body_routes` are the (method, raw path) pairs that take a request body: a body sent
    anywhere else is refused (413) before it is read. `error_body` words the errors the
    server answers itself (text by default; the metrics API's are `Status` JSON).
    """

    def __init__(
        self,
        app: ASGIApp,
        name: str,
        limits: Limits | None = None,
        tls: ssl.SSLContext | ReloadingContext | None = None,
        tls_extension: Callable[[ssl.SSLObject], dict] | None = None,
        prepare: Callable[[HttpServer], Awaitable[None]] | None = None,
        body_routes: Collection[tuple[str, bytes]] = (),
        error_body: ErrorBody = plain_error,
    ) -> None:
        self.app = app
        self.body_routes = frozenset(body_routes)
        self.error_body = error_body
        self.buffered = 0  # request bytes all connections hold (HttpConnection._hold)
        self.per_client: dict[str, int] = {}
        # every connection reads into this, one at a time (HttpConnection.get_buffer)
        self.scratch = memoryview(bytearray(READ_BUFFER))
        self.name = name
        self.limits = limits or Limits()
        self.tls = tls
        self.tls_extension = tls_extension or _no_tls_extension
        self.prepare = prepare
        self.stats = ListenerStats(name)
        self.connections: set[HttpConnection] = set()
        self.started = False
        self.should_exit = False
        self._loop: asyncio.AbstractEventLoop | None = None
        self._sock: socket.socket | None = None
        self._backoff = 0.0
        self._reading = False
        self._attaching: set[asyncio.Task] = set()

    def now(self) -> float:
        return time.monotonic()

    # -- connection bookkeeping (counted at accept, so one batch cannot overshoot a cap) --
    def closed(self, conn: HttpConnection) -> None:
        if conn not in self.connections:
            return
        self.connections.discard(conn)
        self.stats.connections = len(self.connections)
        left = self.per_client.get(conn.source, 1) - 1
        if left > 0:
            self.per_client[conn.source] = left
        else:
            self.per_client.pop(conn.source, None)

    # -- accepting ------------------------------------------------------------------------
    def _context(self) -> ssl.SSLContext | None:
        if isinstance(self.tls, ReloadingContext):
            return self.tls.get()
        return self.tls

    def _on_readable(self) -> None:
        assert self._sock is not None and self._loop is not None
        for _ in range(ACCEPT_BATCH):
            try:
                conn, addr = self._sock.accept()
            except (BlockingIOError, InterruptedError):
                return
            except ConnectionAbortedError:
                continue
            except OSError as exc:
                if exc.errno in _RESOURCE_ERRNOS:
                    self._back_off()
                    return
                continue  # EPROTO, EPERM (a firewall), ...: that connection only
            self._backoff = 0.0
            if len(self.connections) >= self.limits.max_connections or self.should_exit:
                self._refuse(conn, "connection_cap")
                continue
            source = addr[0] if isinstance(addr, tuple) else ""
            if self.per_client.get(source, 0) >= self.limits.per_client:
                self._refuse(conn, "client_cap")
                continue
            conn.setblocking(False)
            protocol = HttpConnection(self, self._context(), source)
            self.connections.add(protocol)
            self.per_client[source] = self.per_client.get(source, 0) + 1
            self.stats.connections = len(self.connections)
            self.stats.peak = max(self.stats.peak, self.stats.connections)
            task = self._loop.create_task(self._attach(conn, protocol))
            self._attaching.add(task)
            task.add_done_callback(self._attaching.discard)

    async def _attach(self, conn: socket.socket, protocol: HttpConnection) -> None:
        """The public way to wrap an accepted socket in a transport (a short-lived task)."""
        assert self._loop is not None
        try:
            await self._loop.connect_accepted_socket(lambda: protocol, conn)
        except (OSError, RuntimeError):
            conn.close()
            self.closed(protocol)

    def _refuse(self, conn: socket.socket, reason: str) -> None:
        self.stats.reject(reason)
        try:
            conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, _LINGER_RST)
        except OSError:
            pass
        conn.close()

    def _back_off(self) -> None:
        """Out of fds (or memory): stop accepting for a while instead of spinning. The kernel
        keeps queueing connections in the backlog meanwhile."""
        assert self._loop is not None and self._sock is not None
        self.stats.reject("fd_exhausted")
        self._backoff = min(max(self._backoff * 2, 0.05), 1.0)
        self._stop_reading()
        self._loop.call_later(self._backoff, self._start_reading)

    def _start_reading(self) -> None:
        if not self._reading and not self.should_exit and self._sock is not None:
            assert self._loop is not None
            self._loop.add_reader(self._sock.fileno(), self._on_readable)
            self._reading = True

    def _stop_reading(self) -> None:
        if self._reading and self._sock is not None:
            assert self._loop is not None
            self._loop.remove_reader(self._sock.fileno())
            self._reading = False

    # -- running --------------------------------------------------------------------------
    def _sweep(self) -> None:
        now = self.now()
        for conn in [c for c in self.connections if c.phase != "busy" and c.deadline <= now]:
            conn.timed_out()

    async def serve(self, sockets: list[socket.socket]) -> None:
        """Accept on `sockets[0]` until `should_exit`, then close idle connections, give busy
        ones up to 5 s to answer, and close the rest."""
        self._loop = asyncio.get_running_loop()
        if self.prepare is not None:  # the socket is bound: connections queue meanwhile
            await self.prepare(self)
        self._sock = sockets[0]
        self._sock.setblocking(False)
        self._start_reading()
        self.started = True
        try:
            while not self.should_exit:
                await asyncio.sleep(SWEEP_EVERY)
                self._sweep()
        finally:
            self._stop_reading()
            await self._shutdown()

    async def _shutdown(self) -> None:
        for conn in list(self.connections):
            if conn.phase != "busy":
                conn.close()
        for _ in range(50):
            if not any(c.phase == "busy" for c in self.connections):
                break
            await asyncio.sleep(0.1)
        for conn in list(self.connections):
            conn.abort()
        await asyncio.sleep(0)  # let connection_lost callbacks run
