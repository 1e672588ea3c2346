"""Apps and a real uvicorn server in a thread for the instrumentation tests."""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Iterator
from typing import Any

import httpx
import uvicorn
from fastapi import FastAPI, Request
from prometheus_client import CollectorRegistry
from prometheus_client.parser import text_string_to_metric_families
from sse_starlette.sse import EventSourceResponse
from starlette.applications import Starlette
from starlette.responses import JSONResponse, PlainTextResponse, StreamingResponse
from starlette.routing import Route

from exporter.instrument import instrument, observe_batch
from tests.support.servers import free_port, wait_for


class FlowFailed(RuntimeError):
    """Raised by /boom; the tests check it reaches the outer middleware untouched."""


# Chunks as a producer might split them: several events in one chunk, one event across
# chunks, a CRLF split between chunks, lone CRs, comments (not events), an event-less block.
TRICKY_CHUNKS: list[bytes] = [
    b"data: one\n\ndata: two\n\n",  # 2 events in one chunk
    b"data: thr",  # event 3 spans three chunks
    b"ee\r",
    b"\n\r\n",  # CRLF split across chunks, then the blank line
    b": keep-alive comment\n\n",  # comment only: no event
    b"event: meta\nid: 7\n\n",  # no data field: no event
    b"event: token\ndata: four\ndata: more\r\n\r\ndata: five\r\rdata",  # 4, 5 (CR endings)
    b"\n\n",  # ends event 6: the pending bare `data` line (a field with an empty value)
    b"database: not a data field\n\n",  # a field named `database`: no event
]
TRICKY_EVENTS = 6

FIRST_EVENT_DELAY = 0.4

# Sleeps between consecutive events of the /sse/gaps* streams (the inter-event histogram's
# expected gaps), and the event after which /sse/gaps-fail raises.
GAPS: tuple[float, ...] = (0.05, 0.15, 0.3, 0.02, 0.1)
FAIL_AFTER = 3


class StreamBroke(RuntimeError):
    """Raised by /sse/gaps-fail after FAIL_AFTER events: a server error after the headers."""


class Gate:
    """Holds requests open until the test releases them (the server runs in our process)."""

    def __init__(self) -> None:
        self.open = threading.Event()

    async def wait(self) -> None:
        while not self.open.is_set():
            await asyncio.sleep(0.01)


def build_app(registry: CollectorRegistry, gate: Gate, raised: list[BaseException]) -> FastAPI:
    app = FastAPI()
    instrument(app, "gpu", registry=registry, exclude_paths=("/healthz",))

    @app.get("/healthz")
    async def healthz() -> dict:
        return {"ok": True}

    @app.get("/flows/{flow_id}/run")
    async def get_run(flow_id: str) -> dict:
        return {"flow": flow_id}

    @app.post("/flows/{flow_id}/run")
    async def run(flow_id: str) -> dict:
        return {"flow": flow_id, "started": True}

    @app.get("/slow/{job_id}")
    async def slow(job_id: str) -> dict:
        await gate.wait()
        return {"job": job_id}

    @app.get("/boom")
    async def boom() -> dict:
        exc = FlowFailed("the flow failed")
        raised.append(exc)
        raise exc

    @app.post("/batch")
    async def batch(request: Request) -> dict:
        items = await request.json()
        observe_batch(request, len(items))
        return {"n": len(items)}

    @app.get("/sse/tricky")
    async def tricky() -> StreamingResponse:
        async def chunks():
            for chunk in TRICKY_CHUNKS:
                yield chunk
                await asyncio.sleep(0.005)  # separate sends, not one coalesced write

        return StreamingResponse(chunks(), media_type="text/event-stream")

    @app.get("/sse/late")
    async def late() -> StreamingResponse:
        async def chunks():
            yield b": connected\n\n"  # headers and a comment go out at once
            await asyncio.sleep(FIRST_EVENT_DELAY)
            yield b"data: first\n\n"
            yield b"data: second\n\n"

        return StreamingResponse(chunks(), media_type="text/event-stream")

    @app.get("/sse/tokens")
    async def tokens(n: int = 5) -> EventSourceResponse:
        async def events():
            for i in range(n):
                yield {"event": "token", "data": f"tok{i}"}

        return EventSourceResponse(events())

    @app.get("/sse/gaps")
    async def gaps() -> StreamingResponse:
        async def chunks():
            yield b"data: 0\n\n"
            for i, gap in enumerate(GAPS, 1):
                await asyncio.sleep(gap)
                yield f"data: {i}\n\n".encode()

        return StreamingResponse(chunks(), media_type="text/event-stream")

    @app.get("/sse/gaps-sse")
    async def gaps_sse() -> EventSourceResponse:
        async def events():
            yield {"data": "0"}
            for i, gap in enumerate(GAPS, 1):
                await asyncio.sleep(gap)
                yield {"event": "token", "data": str(i)}

        return EventSourceResponse(events())

    @app.get("/sse/gaps-fail")
    async def gaps_fail() -> StreamingResponse:
        async def chunks():
            yield b"data: 0\n\n"
            for i, gap in enumerate(GAPS[: FAIL_AFTER - 1], 1):
                await asyncio.sleep(gap)
                yield f"data: {i}\n\n".encode()
            await asyncio.sleep(0.01)
            raise StreamBroke("the model crashed mid-stream")

        return StreamingResponse(chunks(), media_type="text/event-stream")

    @app.get("/sse/gaps-fail-sse")
    async def gaps_fail_sse() -> EventSourceResponse:
        async def events():
            yield {"data": "0"}
            for i, gap in enumerate(GAPS[: FAIL_AFTER - 1], 1):
                await asyncio.sleep(gap)
                yield {"data": str(i)}
            await asyncio.sleep(0.01)
            raise StreamBroke("the model crashed mid-stream")

        return EventSourceResponse(events())

    @app.get("/sse/endless")
    async def endless() -> EventSourceResponse:
        async def events():
            i = 0
            while True:
                yield {"data": f"tick {i}"}
                i += 1
                await asyncio.sleep(0.02)

        return EventSourceResponse(events())

    @app.get("/sse/endless-plain")
    async def endless_plain() -> StreamingResponse:
        async def chunks():
            while True:
                yield b"data: tick\n\n"
                await asyncio.sleep(0.02)

        return StreamingResponse(chunks(), media_type="text/event-stream")

    # A FastAPI sub-app mounted under a path with a parameter.
    tenant_api = FastAPI()

    @tenant_api.get("/items/{item_id}")
    async def item(item_id: int) -> dict:
        return {"item": item_id}

    app.mount("/v1/{tenant}", tenant_api)

    # A Starlette router mounted with routes, and an opaque ASGI app.
    async def user(request: Request) -> JSONResponse:
        return JSONResponse({"user": request.path_params["user_id"]})

    app.mount("/admin", Starlette(routes=[Route("/users/{user_id}", user)]))

    async def opaque(scope: dict, receive: Any, send: Any) -> None:
        await PlainTextResponse("static")(scope, receive, send)

    app.mount("/static", opaque)

    # Outside ours (added after instrument()): records what propagates out of ours.
    app.add_middleware(ExceptionRecorder, seen=raised)
    return app


class ExceptionRecorder:
    """Pure ASGI middleware outside ours: keeps what propagates out of it, re-raises."""

    def __init__(self, app: Any, seen: list[BaseException]) -> None:
        self.app = app
        self.seen = seen

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        try:
            await self.app(scope, receive, send)
        except BaseException as exc:
            self.seen.append(exc)
            raise


def build_root_path_app(registry: CollectorRegistry) -> FastAPI:
    app = FastAPI()
    instrument(app, "cpu", registry=registry)

    @app.get("/flows/{flow_id}/run")
    async def run(flow_id: str) -> dict:
        return {"flow": flow_id}

    return app


@contextlib.contextmanager
def serve_in_thread(app: Any, **config: Any) -> Iterator[str]:
    """A real uvicorn server for `app` in a daemon thread; yields its base URL."""
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(
            app,
            host="127.0.0.1",
            port=port,
            log_level="warning",
            access_log=False,
            timeout_graceful_shutdown=1,
            **config,
        )
    )
    thread = threading.Thread(target=server.run, name=f"uvicorn-{port}", daemon=True)
    thread.start()
    try:
        wait_for(lambda: server.started, timeout=20, what="uvicorn in a thread")
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(10)


def scrape_text(url: str, openmetrics: bool = False) -> str:
    headers = {"accept": "application/openmetrics-text; version=1.0.0"} if openmetrics else {}
    resp = httpx.get(url, headers=headers, timeout=5)
    resp.raise_for_status()
    return resp.text


def total(text: str, name: str, **labels: str) -> float:
    """Sum of every sample `name` whose labels include `labels` (0 when none)."""
    out = 0.0
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            if s.name == name and all(s.labels.get(k) == v for k, v in labels.items()):
                out += s.value
    return out


def series(text: str, name: str) -> list[dict[str, str]]:
    return [
        s.labels
        for family in text_string_to_metric_families(text)
        for s in family.samples
        if s.name == name
    ]


def build_streams_app(component_class: str, gate: Gate) -> Starlette:
    """A service with one SSE route (`/events`) whose streams stay open until `gate` opens,
    instrumented on its own registry: its `/metrics` shows `sse_streams_active` = the
    streams held open, as a pod of `component_class` would."""
    registry = CollectorRegistry()

    async def events(request: Any) -> StreamingResponse:
        async def chunks():
            yield b"data: hello\n\n"
            await gate.wait()

        return StreamingResponse(chunks(), media_type="text/event-stream")

    app = Starlette(routes=[Route("/events", events)])
    return instrument(app, component_class, registry=registry)


def hold_streams(url: str, count: int) -> list:
    """Open `count` SSE streams on `url` + /events and keep them open (raw sockets, read
    up to the first event so each stream has started); close them to end the streams."""
    import socket
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    out = []
    for _ in range(count):
        sock = socket.create_connection((parts.hostname, parts.port), timeout=5)
        sock.sendall(f"GET /events HTTP/1.1\r\nHost: {parts.netloc}\r\n\r\n".encode())
        got = b""
        while b"data: hello" not in got:
            chunk = sock.recv(4096)
            if not chunk:
                raise ConnectionError(f"{url}/events closed before the first event")
            got += chunk
        out.append(sock)
    return out
