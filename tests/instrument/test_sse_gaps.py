"""Inter-event gaps and stream outcomes through a real uvicorn server and real clients.

Handlers sleep known gaps between events (`GAPS`); the histogram's count must be the
number of consecutive pairs and its sum the slept time, to within scheduling noise (an
asyncio sleep never wakes early by more than the clock's resolution; the loaded machine may
wake it late). Every stream ends counted once in `sse_streams_total{outcome}`.
"""

from __future__ import annotations

import threading
import time

import httpx
import pytest
from prometheus_client import CollectorRegistry, generate_latest

from exporter import catalog
from tests.support.instrument_apps import (
    FAIL_AFTER,
    GAPS,
    TRICKY_EVENTS,
    Gate,
    build_app,
    scrape_text,
    serve_in_thread,
    total,
)
from tests.support.servers import wait_for

EARLY = 0.002  # per gap: clock resolution
LATE = 0.1  # per gap: a busy shared CPU can wake a sleeper this late


@pytest.fixture(scope="module")
def server():
    app = build_app(CollectorRegistry(), Gate(), [])
    with serve_in_thread(app) as url:
        yield url


def measure(url: str, route: str) -> dict[str, float]:
    text = scrape_text(url + "/metrics")
    labels = {"route": route, "component_class": "gpu"}
    out = {
        "count": total(text, "sse_inter_event_seconds_count", **labels),
        "sum": total(text, "sse_inter_event_seconds_sum", **labels),
        "events": total(text, "sse_events_total", **labels),
        "streams": total(text, "sse_stream_events_count", **labels),
        "disconnects": total(text, "sse_client_disconnects_total", **labels),
        "stream_error": total(text, "http_requests_total", status="stream_error", **labels),
    }
    for outcome in catalog.STREAM_OUTCOMES:
        out[outcome] = total(text, "sse_streams_total", outcome=outcome, **labels)
    return out


def diff(after: dict[str, float], before: dict[str, float]) -> dict[str, float]:
    return {k: after[k] - before[k] for k in after}


def outcomes(d: dict[str, float]) -> dict[str, float]:
    return {o: d[o] for o in catalog.STREAM_OUTCOMES if d[o]}


def assert_gaps(d: dict[str, float], gaps: list[float] | tuple[float, ...]) -> None:
    assert d["count"] == len(gaps)
    assert sum(gaps) - EARLY * len(gaps) <= d["sum"] <= sum(gaps) + LATE * len(gaps)


@pytest.mark.parametrize("route", ["/sse/gaps", "/sse/gaps-sse"])
def test_gaps_at_known_intervals(server, route: str) -> None:
    before = measure(server, route)
    with httpx.stream("GET", server + route, timeout=10) as resp:
        data = [line for line in resp.iter_lines() if line.startswith("data:")]
    assert len(data) == len(GAPS) + 1
    d = diff(measure(server, route), before)
    assert d["events"] == len(GAPS) + 1
    assert_gaps(d, GAPS)
    assert outcomes(d) == {catalog.STREAM_COMPLETED: 1}
    assert d["stream_error"] == 0 and d["disconnects"] == 0


def test_gaps_never_span_two_streams(server) -> None:
    """Two streams of one route interleaved: each counts only its own gaps. Counted across
    streams, the pairs would be twice as many and about half as long."""
    route = "/sse/gaps"
    before = measure(server, route)

    def read() -> None:
        with httpx.stream("GET", server + route, timeout=10) as resp:
            resp.read()

    threads = [threading.Thread(target=read) for _ in range(2)]
    threads[0].start()
    time.sleep(0.03)  # the second stream's events fall between the first's
    threads[1].start()
    for t in threads:
        t.join(20)
    d = diff(measure(server, route), before)
    assert d["events"] == 2 * (len(GAPS) + 1)
    assert_gaps(d, GAPS * 2)
    assert outcomes(d) == {catalog.STREAM_COMPLETED: 2}


def test_events_in_one_chunk_count_a_zero_gap(server) -> None:
    """/sse/tricky sends two events in its first chunk: a pair with no gap between them."""
    route = "/sse/tricky"
    before = measure(server, route)
    httpx.get(server + route, timeout=10)
    d = diff(measure(server, route), before)
    assert d["count"] == TRICKY_EVENTS - 1
    assert outcomes(d) == {catalog.STREAM_COMPLETED: 1}


@pytest.mark.parametrize("route", ["/sse/gaps-fail", "/sse/gaps-fail-sse"])
def test_a_stream_raising_mid_way_is_one_error_outcome(server, route: str) -> None:
    before = measure(server, route)
    with pytest.raises(httpx.RemoteProtocolError):  # the chunked body breaks off
        with httpx.stream("GET", server + route, timeout=10) as resp:
            assert resp.status_code == 200
            resp.read()
    d = wait_for(
        lambda: (x := diff(measure(server, route), before))["streams"] and x,
        timeout=10,
        what="the stream's end",
    )
    assert d["events"] == FAIL_AFTER
    assert_gaps(d, GAPS[: FAIL_AFTER - 1])
    assert outcomes(d) == {catalog.STREAM_ERROR: 1}
    assert d["stream_error"] == 1  # the outcome and the request status agree
    assert d["disconnects"] == 0


@pytest.mark.parametrize("route", ["/sse/endless", "/sse/endless-plain"])
def test_a_client_disconnect_is_one_disconnect_outcome(server, route: str) -> None:
    before = measure(server, route)
    with httpx.stream("GET", server + route, timeout=10) as resp:
        got = 0
        lines = resp.iter_lines()
        for line in lines:
            got += line.startswith("data:")
            if got == 4:
                break
    d = wait_for(
        lambda: (x := diff(measure(server, route), before))["streams"] and x,
        timeout=10,
        what="the disconnect",
    )
    assert outcomes(d) == {catalog.STREAM_CLIENT_DISCONNECT: 1}
    assert d["disconnects"] == 1
    assert d["stream_error"] == 0
    # every event after the first had a gap before it, each about the handler's 20 ms
    assert d["count"] == d["events"] - 1 >= 3
    assert d["sum"] >= (0.02 - EARLY) * d["count"]


def test_streams_cancelled_by_shutdown() -> None:
    """uvicorn cancels what is still streaming when its graceful-shutdown timeout ends."""
    registry = CollectorRegistry()
    app = build_app(registry, Gate(), [])
    opened = threading.Barrier(3)

    def listen(route: str, errors: list) -> None:
        try:
            with httpx.stream("GET", url + route, timeout=20) as resp:
                lines = resp.iter_lines()
                next(line for line in lines if line.startswith("data:"))
                opened.wait(10)
                for _ in lines:
                    pass
        except httpx.HTTPError as exc:  # the server cut the stream
            errors.append(exc)

    errors: list = []
    with serve_in_thread(app) as url:
        clients = [
            threading.Thread(target=listen, args=(r, errors))
            for r in ("/sse/endless", "/sse/endless-plain")
        ]
        for c in clients:
            c.start()
        opened.wait(10)
    for c in clients:
        c.join(10)
    text = registry_text(registry)
    for route in ("/sse/endless", "/sse/endless-plain"):
        got = {
            o: total(text, "sse_streams_total", route=route, outcome=o)
            for o in catalog.STREAM_OUTCOMES
        }
        assert got == {
            catalog.STREAM_COMPLETED: 0,
            catalog.STREAM_CLIENT_DISCONNECT: 0,
            catalog.STREAM_ERROR: 0,
            catalog.STREAM_SHUTDOWN: 1,
        }, route
        assert total(text, "sse_client_disconnects_total", route=route) == 0


def registry_text(registry: CollectorRegistry) -> str:
    return generate_latest(registry).decode()


def test_batched_gaps_expose_what_observe_would() -> None:
    """A stream adds its gaps to the shared histogram in batches (bucket counts and sum);
    the exposition must be the one `observe` per gap gives, bucket for bucket."""
    from prometheus_client import Histogram

    from exporter.instrument.metrics import ServiceMetrics
    from exporter.instrument.middleware import _Stream, _StreamMetrics

    gaps = [0.0, 0.004, 0.005, 0.0051, 0.3, 0.99, 1.0, 7.5, 10.0, 42.0]
    registry = CollectorRegistry()
    stream = _Stream(_StreamMetrics(ServiceMetrics(registry), "gpu", "/r"), 0.0, True)
    assert stream.metrics.gap_bounds is not None  # the batched path is the one tested
    for i, gap in enumerate(gaps):
        stream._gap(gap, 2 if i == 3 else 0, now=0.0)  # never due: all in one batch
    stream.close(1.0, catalog.STREAM_COMPLETED)

    reference = CollectorRegistry()
    h = Histogram("ref", "", buckets=catalog.INTER_EVENT_BUCKETS, registry=reference)
    for gap in [*gaps, 0.0, 0.0]:
        h.observe(gap)
    ours = {
        (s.name.removeprefix("sse_inter_event_seconds"), s.labels.get("le")): s.value
        for f in registry.collect()
        if f.name == "sse_inter_event_seconds"
        for s in f.samples
        if not s.name.endswith("_created")
    }
    theirs = {
        (s.name.removeprefix("ref"), s.labels.get("le")): s.value
        for f in reference.collect()
        for s in f.samples
        if not s.name.endswith("_created")
    }
    assert ours == theirs


def test_a_stream_drained_by_sse_starlette_on_exit_is_a_shutdown() -> None:
    """sse-starlette ends its streams cleanly when the server is told to exit (its
    `AppStatus.should_exit`, set by uvicorn's signal handler): the body finishes, but the
    stream did not complete by itself. Its own server thread: the exit watcher is per loop."""
    from sse_starlette.sse import AppStatus

    registry = CollectorRegistry()
    app = build_app(registry, Gate(), [])
    with serve_in_thread(app) as url:
        try:
            with httpx.stream("GET", url + "/sse/endless", timeout=20) as resp:
                lines = resp.iter_lines()
                next(line for line in lines if line.startswith("data:"))
                AppStatus.should_exit = True
                for _ in lines:  # ends: the server closes the stream cleanly
                    pass

            def ended() -> dict[str, float] | None:
                text = registry_text(registry)
                got = {
                    o: total(text, "sse_streams_total", route="/sse/endless", outcome=o)
                    for o in catalog.STREAM_OUTCOMES
                }
                return got if sum(got.values()) else None

            got = wait_for(ended, timeout=10, what="the stream's end counted")
        finally:
            AppStatus.should_exit = False
    assert got[catalog.STREAM_SHUTDOWN] == 1 and sum(got.values()) == 1, got
