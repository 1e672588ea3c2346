"""The plain-HTTP listener: /metrics, /healthz, /readyz.

Every handler reads the snapshot only; none awaits a database, so a hung dependency can
never hang a scrape.
"""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.responses import PlainTextResponse, Response

from exporter.runtime import Runtime
from exporter.snapshot import (
    OPENMETRICS_CONTENT_TYPE,
    TEXT_CONTENT_TYPE,
    Snapshot,
    wants_openmetrics,
)
from exporter.status import StatusApp


def create_app(snapshot: Snapshot, runtime: Runtime, status: StatusApp | None = None) -> FastAPI:
    app = FastAPI(title="exporter", docs_url=None, redoc_url=None, openapi_url=None)

    # async handlers: rendering is pure CPU on loop-owned data, so it stays on the loop
    # rather than hopping to a thread while collectors write.
    @app.get("/metrics")
    async def metrics(request: Request) -> Response:
        om = wants_openmetrics(request.headers.get("accept"))
        return Response(
            snapshot.render(openmetrics=om),
            media_type=OPENMETRICS_CONTENT_TYPE if om else TEXT_CONTENT_TYPE,
        )

    @app.get("/healthz")
    async def healthz() -> PlainTextResponse:
        return PlainTextResponse("ok\n")

    @app.get("/readyz")
    async def readyz() -> PlainTextResponse:
        if runtime.ready.is_set():
            return PlainTextResponse("ready\n")
        return PlainTextResponse("first collection not finished\n", status_code=503)

    if status is not None:  # `/` and `/status.json`: a plain ASGI app (exporter.status)
        for path in status.paths:
            app.add_route(path, status)

    return app
