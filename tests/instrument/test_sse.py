"""SSE metrics through a real uvicorn server and real httpx streaming clients."""

from __future__ import annotations

import time

import httpx
import pytest
from prometheus_client import CollectorRegistry

from tests.support.instrument_apps import (
    FIRST_EVENT_DELAY,
    TRICKY_CHUNKS,
    TRICKY_EVENTS,
    Gate,
    build_app,
    scrape_text,
    serve_in_thread,
    total,
)
from tests.support.servers import wait_for


@pytest.fixture(scope="module")
def server():
    app = build_app(CollectorRegistry(), Gate(), [])
    with serve_in_thread(app) as url:
        yield url


def snapshot(url: str, route: str) -> dict[str, float]:
    text = scrape_text(url + "/metrics")
    names = [
        "sse_events_total",
        "sse_streams_active",
        "sse_stream_events_count",
        "sse_stream_events_sum",
        "sse_first_event_seconds_count",
        "sse_first_event_seconds_sum",
        "sse_stream_duration_seconds_count",
        "sse_stream_duration_seconds_sum",
        "sse_client_disconnects_total",
        "http_requests_in_flight",
        "http_request_duration_seconds_sum",
    ]
    out = {n: total(text, n, route=route, component_class="gpu") for n in names}
    out["first_event_le_0.25"] = total(
        text, "sse_first_event_seconds_bucket", route=route, le="0.25"
    )
    return out


def diff(after: dict[str, float], before: dict[str, float]) -> dict[str, float]:
    return {k: after[k] - before[k] for k in after}


def test_events_counted_across_chunk_boundaries(server) -> None:
    route = "/sse/tricky"
    before = snapshot(server, route)
    body = httpx.get(server + route, timeout=10).content
    assert body == b"".join(TRICKY_CHUNKS)  # what the parser saw is what the client got
    d = diff(snapshot(server, route), before)
    assert d["sse_events_total"] == TRICKY_EVENTS
    assert d["sse_stream_events_count"] == 1
    assert d["sse_stream_events_sum"] == TRICKY_EVENTS
    assert d["sse_client_disconnects_total"] == 0
    assert d["sse_streams_active"] == 0


def test_sse_starlette_events(server) -> None:
    route = "/sse/tokens"
    before = snapshot(server, route)
    with httpx.stream("GET", server + route, params={"n": 25}, timeout=10) as resp:
        assert resp.headers["content-type"].startswith("text/event-stream")
        data_lines = [line for line in resp.iter_lines() if line.startswith("data:")]
    assert len(data_lines) == 25
    d = diff(snapshot(server, route), before)
    assert d["sse_events_total"] == 25
    assert d["sse_stream_events_sum"] == 25
    assert d["sse_client_disconnects_total"] == 0


def test_first_event_time_is_not_header_time(server) -> None:
    route = "/sse/late"
    before = snapshot(server, route)
    start = time.monotonic()
    with httpx.stream("GET", server + route, timeout=10) as resp:
        headers_at = time.monotonic() - start
        first_event_at = None
        for line in resp.iter_lines():
            if line.startswith("data:") and first_event_at is None:
                first_event_at = time.monotonic() - start
    assert first_event_at is not None and headers_at < first_event_at
    d = diff(snapshot(server, route), before)
    assert d["sse_first_event_seconds_count"] == 1
    # the handler sleeps FIRST_EVENT_DELAY between the headers (and a comment) and the
    # first event: the metric must include that wait, which header time would not
    assert d["sse_first_event_seconds_sum"] >= FIRST_EVENT_DELAY
    assert d["first_event_le_0.25"] == 0
    # the request and stream durations cover the whole stream
    assert d["sse_stream_duration_seconds_sum"] >= FIRST_EVENT_DELAY
    assert d["http_request_duration_seconds_sum"] >= FIRST_EVENT_DELAY
    assert d["sse_events_total"] == 2


@pytest.mark.parametrize("route", ["/sse/endless", "/sse/endless-plain"])
def test_client_disconnect_mid_stream(server, route: str) -> None:
    before = snapshot(server, route)
    with httpx.stream("GET", server + route, timeout=10) as resp:
        got = 0
        lines = resp.iter_lines()  # kept referenced: dropping it would close the response
        for line in lines:
            got += line.startswith("data:")
            if got == 3:
                break
        during = snapshot(server, route)
        assert during["sse_streams_active"] - before["sse_streams_active"] == 1
        assert during["http_requests_in_flight"] - before["http_requests_in_flight"] == 1
    # the client closed the connection mid-stream

    def settled() -> dict[str, float] | None:
        d = diff(snapshot(server, route), before)
        return d if d["sse_client_disconnects_total"] == 1 else None

    d = wait_for(settled, timeout=10, what="the disconnect to be counted")
    assert d["sse_streams_active"] == 0
    assert d["http_requests_in_flight"] == 0
    assert d["sse_stream_events_count"] == 1
    assert d["sse_stream_events_sum"] >= 3
    assert d["sse_events_total"] == d["sse_stream_events_sum"]
    assert d["sse_stream_duration_seconds_count"] == 1
