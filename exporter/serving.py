"""Listening sockets and uvicorn servers that share the process's event loop.

`bind` claims a port up front, so a busy port is a start-up error naming the address;
`make_server` builds a uvicorn server without its own signal handling or access log.
"""

from __future__ import annotations

import socket
from contextlib import contextmanager

import uvicorn

from exporter.config import parse_host_port


class _Server(uvicorn.Server):
    """uvicorn without its own signal capture: `serve` owns SIGTERM/SIGINT for all listeners."""

    @contextmanager
    def capture_signals(self):  # type: ignore[override]
        yield


def bind(address: str) -> socket.socket:
    """Bind a listening socket up front so a busy port is a clear start-up error."""
    host, port = parse_host_port(address)
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise OSError(f"cannot listen on {address}: {exc.strerror}") from None
    sock.listen(2048)
    sock.setblocking(False)
    return sock


def make_server(app, **kwargs) -> _Server:
    config = uvicorn.Config(app, log_level="warning", access_log=False, lifespan="off", **kwargs)
    return _Server(config)
