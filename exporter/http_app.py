"""The plain-HTTP listener's ASGI app: /metrics, /healthz, /readyz (GET and HEAD).

Every handler reads the snapshot only; none awaits a database, so a hung dependency can
never hang a scrape. /metrics is gzipped when the scraper accepts it (Prometheus always does).
"""

from __future__ import annotations

import gzip
from collections.abc import Callable

from exporter.asgi import GET_HEAD, respond
from exporter.runtime import Runtime
from exporter.snapshot import (
    OPENMETRICS_CONTENT_TYPE,
    TEXT_CONTENT_TYPE,
    Snapshot,
    wants_openmetrics,
)
from exporter.status import StatusApp

_TEXT = b"text/plain; charset=utf-8"
GZIP_LEVEL = 1  # most of the size win for a fraction of the CPU of level 9
GZIP_MIN_BYTES = 1024


def accepts_gzip(accept_encoding: str | None) -> bool:
    """True when Accept-Encoding lists gzip with a non-zero q."""
    if not accept_encoding:
        return False
    for part in accept_encoding.split(","):
        coding, *params = (p.strip() for p in part.split(";"))
        if coding.lower() in ("gzip", "*"):
            return not any(p.replace(" ", "") in ("q=0", "q=0.0", "q=0.00") for p in params)
    return False


def _header(scope: dict, name: bytes) -> str | None:
    for key, value in scope["headers"]:
        if key == name:
            return value.decode("latin-1")
    return None


def create_app(
    snapshot: Snapshot,
    runtime: Runtime,
    before_render: Callable[[], None] | None = None,
    status: StatusApp | None = None,
    listeners_up: Callable[[], bool] | None = None,
):
    """The ASGI app; 404 for other paths, 405 (with Allow) for methods other than GET/HEAD.
    `before_render` runs before each /metrics render (self-metrics that must be current);
    `status` answers its own paths (`/`, `/status.json`: exporter.status); /readyz is 200
    once every collector has run once and `listeners_up()` (listeners started after this
    one, such as the KEDA scaler) says so."""
    status_paths = status.paths if status is not None else ()

    async def app(scope, receive, send) -> None:
        if scope["type"] != "http":
            return
        path = scope["path"]
        head = scope["method"] == "HEAD"
        if path in status_paths:
            await status(scope, receive, send)
            return
        if path not in ("/metrics", "/healthz", "/readyz"):
            await respond(send, 404, b"not found\n", _TEXT, head=head)
            return
        if scope["method"] not in ("GET", "HEAD"):
            await respond(send, 405, b"method not allowed\n", _TEXT, [(b"allow", GET_HEAD)])
            return
        if path == "/healthz":
            await respond(send, 200, b"ok\n", _TEXT, head=head)
        elif path == "/readyz":
            if not runtime.ready.is_set():
                body = b"first collection not finished\n"
                await respond(send, 503, body, _TEXT, head=head)
            elif listeners_up is not None and not listeners_up():
                await respond(send, 503, b"listeners starting\n", _TEXT, head=head)
            else:
                await respond(send, 200, b"ready\n", _TEXT, head=head)
        else:
            if before_render is not None:
                before_render()
            om = wants_openmetrics(_header(scope, b"accept"))
            body = snapshot.render(openmetrics=om)
            ctype = OPENMETRICS_CONTENT_TYPE if om else TEXT_CONTENT_TYPE
            headers = [(b"vary", b"Accept-Encoding")]
            if len(body) >= GZIP_MIN_BYTES and accepts_gzip(_header(scope, b"accept-encoding")):
                body = gzip.compress(body, GZIP_LEVEL, mtime=0)
                headers.append((b"content-encoding", b"gzip"))
            await respond(send, 200, body, ctype, headers, head=head)

    return app
