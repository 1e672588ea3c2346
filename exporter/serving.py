"""Listening sockets and the server objects every listener runs on."""

from __future__ import annotations

import logging
import resource
import socket
import ssl
from collections.abc import Awaitable, Callable

from exporter.config import Listen, parse_host_port
from exporter.http.limits import Limits
from exporter.http.server import ASGIApp, HttpServer
from exporter.http.tlsio import ReloadingContext

log = logging.getLogger(__name__)

# fds kept free for everything but client connections: collectors' pools, files, logging.
FD_RESERVE = 256


def bind(address: str) -> socket.socket:
    """Bind a listening socket up front so a busy port is a clear start-up error.

    IPPROTO_TCP, not 0: accepted sockets inherit it, and asyncio only sets TCP_NODELAY on
    sockets whose proto says TCP (the connection sets it too, for any socket it is given).
    """
    host, port = parse_host_port(address)
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise OSError(f"cannot listen on {address}: {exc.strerror}") from None
    sock.listen(2048)
    sock.setblocking(False)
    return sock


def reserve(address: str) -> socket.socket:
    """Bind (without listening) the port a listener we do not own the socket of (gRPC's)
    will take, so a clash is our one-line start-up error before any listener serves; close
    it just before that listener binds. SO_REUSEADDR as `bind`: a TIME_WAIT is no clash."""
    host, port = parse_host_port(address)
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise OSError(f"cannot listen on {address}: {exc.strerror}") from None
    return sock


def limits_for(listen: Listen, listeners: int = 2) -> Limits:
    """The config's limits, with the connection cap kept below the fd limit (raised first to
    its hard limit) so that the cap, not EMFILE, is what a flood of clients meets."""
    fds = raise_fd_limit()
    cap = listen.max_connections
    room = max(16, (fds - FD_RESERVE) // listeners)
    if cap > room:
        log.warning(
            "listen.max_connections %d lowered to %d per listener: the fd limit is %d",
            cap,
            room,
            fds,
        )
        cap = room
    return Limits(
        head_timeout=listen.head_timeout_seconds,
        handshake_timeout=listen.tls_handshake_timeout_seconds,
        idle_timeout=listen.idle_timeout_seconds,
        max_head_bytes=listen.max_head_bytes,
        max_connections=cap,
    )


def raise_fd_limit() -> int:
    """Raise RLIMIT_NOFILE's soft limit to the hard limit; return the soft limit now."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY:
        hard = max(soft, 1 << 20)
    if soft < hard:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
            soft = hard
        except (ValueError, OSError):
            pass
    return soft


def make_server(
    app: ASGIApp,
    name: str,
    limits: Limits | None = None,
    tls: ssl.SSLContext | ReloadingContext | None = None,
    tls_extension: Callable[[ssl.SSLObject], dict] | None = None,
    prepare: Callable[[HttpServer], Awaitable[None]] | None = None,
) -> HttpServer:
    """An `HttpServer` for `app`; `name` labels its connection metrics (`http`, `https`);
    `prepare` runs once before it accepts (e.g. making its certificate)."""
    return HttpServer(app, name, limits, tls, tls_extension, prepare)
