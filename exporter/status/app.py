"""`/` and `/status.json` as a plain ASGI app, mountable on any ASGI router.

`respond(path)` returns (status, content type, body) for a path, so a server that is not ASGI
can serve the same bytes. Both only read the board's last sync: no request waits on a
dependency.
"""

from __future__ import annotations

from typing import Any

from exporter.asgi import GET_HEAD, respond
from exporter.status.board import StatusBoard
from exporter.status.page import render

HTML = "text/html; charset=utf-8"
JSON = "application/json"


class StatusApp:
    """The status page routes; `paths` lists what it answers."""

    paths = ("/", "/status.json")

    def __init__(self, board: StatusBoard) -> None:
        self.board = board

    def respond(self, path: str) -> tuple[int, str, bytes]:
        if path == "/status.json":
            return 200, JSON, self.board.document_json()
        if path == "/":
            return 200, HTML, render(self.board.document()).encode()
        return 404, "text/plain; charset=utf-8", b"not found\n"

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        headers = [(b"cache-control", b"no-store")]
        if scope["method"] not in ("GET", "HEAD"):
            status, ctype, body = 405, "text/plain; charset=utf-8", b"method not allowed\n"
            headers.append((b"allow", GET_HEAD))
        else:
            if scope["path"] in self.paths:
                await self.board.prepare()  # rows built in slices, not inside respond()
            status, ctype, body = self.respond(scope["path"])
        await respond(send, status, body, ctype, headers, head=scope["method"] == "HEAD")
