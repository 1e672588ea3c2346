"""The one buffered ASGI responder every app of the project answers with (the exporter's
listeners and the instrumentation's `/metrics`). Standard library only: the instrumentation
installs without the exporter's service dependencies.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable
from typing import Any

Send = Callable[[dict[str, Any]], Awaitable[None]]
GET_HEAD = b"GET, HEAD"


async def respond(
    send: Send,
    status: int,
    body: bytes,
    content_type: bytes | str,
    headers: Iterable[tuple[bytes, bytes]] = (),
    *,
    head: bool = False,
) -> None:
    """One whole response: `content-type`, `headers`, a Content-Length of `body`; `head`
    (a HEAD request) sends the same headers and no body."""
    if isinstance(content_type, str):
        content_type = content_type.encode()
    out = [(b"content-type", content_type), *headers]
    out.append((b"content-length", str(len(body)).encode()))
    await send({"type": "http.response.start", "status": status, "headers": out})
    await send({"type": "http.response.body", "body": b"" if head else body})
