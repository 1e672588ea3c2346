"""Over a real uvicorn server: a method outside the standard set is `method="other"`, and a
response that fails after its headers went out (an SSE or chunked stream) is counted as
`status="stream_error"` (catalog.STREAM_ERROR_STATUS), the series the generated error-rate
and burn-rate rules read (alerts/tests/http.yml proves the alert fires on it)."""

from __future__ import annotations

import asyncio
import socket

import httpx
import pytest
from prometheus_client import CollectorRegistry
from starlette.applications import Starlette
from starlette.responses import PlainTextResponse, StreamingResponse
from starlette.routing import Route

from exporter import catalog
from exporter.generators.promql import SERVER_ERROR
from exporter.instrument import instrument
from tests.support.instrument_apps import scrape_text, series, serve_in_thread, total


async def _broken_events():
    yield b"data: one\n\n"
    await asyncio.sleep(0.01)
    raise RuntimeError("the model crashed mid-stream")


async def _broken_chunks():
    yield b"part one\n"
    raise RuntimeError("the upstream went away")


async def _sse(request):
    return StreamingResponse(_broken_events(), media_type="text/event-stream")


async def _chunked(request):
    return StreamingResponse(_broken_chunks(), media_type="text/plain")


async def _ok(request):
    return PlainTextResponse("ok")


@pytest.fixture(scope="module", params=["h11", "httptools"])
def server(request) -> tuple[str, str]:
    registry = CollectorRegistry()
    app = Starlette(
        routes=[
            Route("/sse", _sse),
            Route("/chunked", _chunked),
            Route("/ok", _ok, methods=["GET", "FROBNICATE", "get"]),
        ]
    )
    instrument(app, "gpu", registry=registry)
    with serve_in_thread(app, http=request.param) as url:
        yield url, request.param


def _raw(url: str, method: str) -> bytes:
    host, port = url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=5) as sock:
        sock.sendall(f"{method} /ok HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".encode())
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
    return data


def test_a_custom_method_is_other(server):
    url, impl = server
    replies = [_raw(url, method) for method in ("FROBNICATE", "get")]
    text = scrape_text(url + "/metrics")
    methods = {s["method"] for s in series(text, "http_requests_total")}
    assert "FROBNICATE" not in methods and "get" not in methods
    if impl == "h11":  # h11 passes any token through: both reach the app, as "other"
        assert replies[0].startswith(b"HTTP/1.1 200") and replies[1].startswith(b"HTTP/1.1 405")
        assert total(text, "http_requests_total", route="/ok", method="other") == 2
    else:  # llhttp refuses unknown methods itself: nothing reaches the app to be counted
        assert all(r.startswith(b"HTTP/1.1 400") for r in replies)
        assert total(text, "http_requests_total", route="/ok") == 0


@pytest.mark.parametrize("path", ["/sse", "/chunked"])
def test_a_stream_failing_after_its_headers_is_a_stream_error(server, path):
    url, _ = server
    with pytest.raises(httpx.HTTPError):
        with httpx.stream("GET", url + path, timeout=5) as resp:
            assert resp.status_code == 200  # the headers did go out
            for _ in resp.iter_bytes():
                pass
    text = scrape_text(url + "/metrics")
    status = catalog.STREAM_ERROR_STATUS
    assert total(text, "http_requests_total", route=path, status=status) == 1
    assert total(text, "http_requests_total", route=path, status="200") == 0
    assert total(text, "http_request_exceptions_total", route=path) == 1


def test_the_error_matcher_counts_stream_errors():
    assert catalog.STREAM_ERROR_STATUS in SERVER_ERROR and "5.." in SERVER_ERROR
