"""The instrumented app's own `/metrics`: text or OpenMetrics by content negotiation,
and the sum over workers in multiprocess mode."""

from __future__ import annotations

from typing import Any

from prometheus_client import REGISTRY, CollectorRegistry
from prometheus_client.exposition import choose_encoder

from exporter.asgi import GET_HEAD, respond
from exporter.instrument.multiprocess import multiprocess_dir, multiprocess_registry


def render(registry: CollectorRegistry | None, accept: str | None) -> tuple[bytes, str]:
    """(body, content type) for a scrape with this Accept header."""
    path = multiprocess_dir()
    source = multiprocess_registry(path) if path else (registry or REGISTRY)
    encoder, content_type = choose_encoder(accept or "")
    return encoder(source), content_type


def metrics_app(registry: CollectorRegistry | None = None) -> Any:
    """A pure ASGI app serving the metrics; mount it anywhere (`app.mount("/metrics", ...)`)."""

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        if scope["method"] not in ("GET", "HEAD"):
            await respond(send, 405, b"method not allowed\n", "text/plain", [(b"allow", GET_HEAD)])
            return
        accept = None
        for name, value in scope.get("headers", ()):
            if name == b"accept":
                accept = value.decode("latin-1")
        body, content_type = render(registry, accept)
        await respond(send, 200, body, content_type, head=scope["method"] == "HEAD")

    return app
