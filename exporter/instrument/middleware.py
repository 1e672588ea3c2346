"""The pure ASGI middleware: requests, latency, in-flight, exceptions and SSE streams.

No `BaseHTTPMiddleware`: that buffers nothing but runs the app in a separate task and
costs far more per request. Per-request state lives in locals of `__call__` and its `send`
closure; the instance only holds memo caches of metric children (label lookups are the
expensive part of prometheus_client), which are safe to share between requests.

An SSE stream (a `text/event-stream` response) also gets: its events counted as a browser
would dispatch them, the time to its first event, the gap between each pair of its
consecutive events (never across streams), and, when it ends, exactly one outcome
(completed, client_disconnect, error, shutdown; see `_outcome`).
"""

from __future__ import annotations

import asyncio
import sys
from bisect import bisect_left
from collections.abc import Callable, Iterable, Sequence
from time import perf_counter
from typing import Any

from exporter.catalog import (
    STREAM_CLIENT_DISCONNECT,
    STREAM_COMPLETED,
    STREAM_ERROR,
    STREAM_ERROR_STATUS,
    STREAM_OUTCOMES,
    STREAM_SHUTDOWN,
)
from exporter.instrument.metrics import ServiceMetrics
from exporter.instrument.routes import RouteResolver, route_path
from exporter.instrument.sse import EventCounter

# The scope key through which `observe_batch` finds the middleware and the route.
SCOPE_KEY = "exporter.instrument"

# Methods kept as they are in the `method` label; anything else is "other", so a client
# inventing methods cannot create series.
METHODS = frozenset(
    {"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "TRACE", "CONNECT"}
)

# Status label for a request that ended with no response at all (client gone, cancelled),
# as nginx logs it.
CLIENT_CLOSED = 499

ASGIApp = Callable[..., Any]


class _RouteMetrics:
    """The metric children of one (method, route), looked up once."""

    __slots__ = ("in_flight", "duration", "_requests", "_counter", "_labels")

    def __init__(self, metrics: ServiceMetrics, component_class: str, method: str, route: str):
        labels = (component_class, method, route)
        self.in_flight = metrics.in_flight.labels(*labels)
        self.duration = metrics.duration.labels(*labels)
        self._counter = metrics.requests
        self._labels = labels
        self._requests: dict[int | str, Any] = {}

    def requests(self, status: int | str) -> Any:
        child = self._requests.get(status)
        if child is None:
            child = self._requests[status] = self._counter.labels(*self._labels, str(status))
        return child


# A stream's gaps reach the shared histogram at least this often (and when it ends): well
# under any scrape interval, and one locked add per bucket touched instead of two per event.
GAP_FLUSH_SECONDS = 0.5


class _StreamMetrics:
    __slots__ = (
        "active", "events", "stream_events", "first_event", "gap", "duration", "disconnects",
        "outcomes", "gap_bounds",
    )  # fmt: skip

    def __init__(self, metrics: ServiceMetrics, component_class: str, route: str):
        self.active = metrics.sse_active.labels(component_class, route)
        self.events = metrics.sse_events.labels(component_class, route)
        self.stream_events = metrics.sse_stream_events.labels(component_class, route)
        self.first_event = metrics.sse_first_event.labels(component_class, route)
        self.gap = metrics.sse_inter_event.labels(component_class, route)
        # prometheus_client's histogram child keeps its bucket and sum values in `_buckets`
        # and `_sum` (in-process and multiprocess alike); adding a stream's batch to them is
        # what `observe` does per value. Without them (another version): `observe` each gap.
        bounds = getattr(self.gap, "_upper_bounds", None)
        fast = bounds is not None and hasattr(self.gap, "_buckets") and hasattr(self.gap, "_sum")
        self.gap_bounds: list[float] | None = list(bounds) if fast else None
        self.duration = metrics.sse_duration.labels(component_class, route)
        self.disconnects = metrics.sse_disconnects.labels(component_class, route)
        # every outcome's series exists from the route's first stream on, so a rate over
        # it (the failing-mid-way alert) is 0, not absent, while nothing fails
        self.outcomes = {
            outcome: metrics.sse_streams.labels(component_class, route, outcome)
            for outcome in STREAM_OUTCOMES
        }


class _Stream:
    """One open `text/event-stream` response."""

    __slots__ = ("metrics", "counter", "start", "events", "last", "gaps", "gap_sum", "flushed")

    def __init__(self, metrics: _StreamMetrics, start: float, parse: bool) -> None:
        self.metrics = metrics
        self.counter = EventCounter() if parse else None
        self.start = start
        self.events = 0
        self.last = 0.0  # when the previous event's bytes went out (this stream only)
        # this stream's gaps not yet in the histogram: count per bucket, and their sum
        self.gaps: list[int] | None = None
        self.gap_sum = 0.0
        self.flushed = start
        metrics.active.inc()

    def feed(self, body: bytes) -> None:
        if self.counter is None:
            return
        n = self.counter.feed(body)
        if n:
            now = perf_counter()
            m = self.metrics
            if self.events:
                self._gap(now - self.last, n - 1, now)
            else:  # the bytes that complete the first event go out now
                m.first_event.observe(now - self.start)
                if n > 1:
                    self._gap(None, n - 1, now)
            self.last = now
            self.events += n
            m.events.inc(n)

    def _gap(self, gap: float | None, zeros: int, now: float) -> None:
        """One gap (None: none) and `zeros` events that went out in the same chunk as the
        one before them (a gap of 0)."""
        m = self.metrics
        bounds = m.gap_bounds
        if bounds is None:
            if gap is not None:
                m.gap.observe(gap)
            for _ in range(zeros):
                m.gap.observe(0.0)
            return
        gaps = self.gaps
        if gaps is None:
            gaps = self.gaps = [0] * len(bounds)
        if gap is not None:
            gaps[bisect_left(bounds, gap)] += 1
            self.gap_sum += gap
        if zeros:
            gaps[0] += zeros
        if now - self.flushed >= GAP_FLUSH_SECONDS:
            self._flush(now)

    def _flush(self, now: float) -> None:
        gaps = self.gaps
        if gaps is None:
            return
        child = self.metrics.gap
        buckets = child._buckets
        for i, count in enumerate(gaps):
            if count:
                buckets[i].inc(count)
                gaps[i] = 0
        if self.gap_sum:
            child._sum.inc(self.gap_sum)
            self.gap_sum = 0.0
        self.flushed = now

    def close(self, duration: float, outcome: str) -> None:
        m = self.metrics
        self._flush(0.0)  # before the stream counts as ended: its gaps are all in
        m.active.dec()
        m.stream_events.observe(self.events)
        m.duration.observe(duration)
        m.outcomes[outcome].inc()
        if outcome == STREAM_CLIENT_DISCONNECT:
            m.disconnects.inc()


def _server_exiting() -> bool:
    """Whether sse-starlette has seen the server's exit signal (its graceful drain ends a
    stream cleanly, so the stream alone cannot tell a drain from a completion)."""
    sse = sys.modules.get("sse_starlette.sse")
    status = getattr(sse, "AppStatus", None)
    return bool(getattr(status, "should_exit", False))


def _outcome(finished: bool, failed: bool, cancelled: bool) -> str:
    """How a stream ended; one outcome per stream, `error` exactly when the request's
    status is `stream_error` (a stream is only made once the headers went out)."""
    if failed and not finished:  # exactly when the status is stream_error
        return STREAM_ERROR
    if cancelled or _server_exiting():
        return STREAM_SHUTDOWN
    if finished:
        return STREAM_COMPLETED
    # returned (or raised after a failed send) with the body unfinished: the server or the
    # response class saw the client go (http.disconnect, or OSError on send)
    return STREAM_CLIENT_DISCONNECT


def _sse_kind(headers: Iterable[tuple[bytes, bytes]]) -> tuple[bool, bool]:
    """(is an event stream, body is plain enough to parse) from response headers."""
    is_sse = False
    encoded = False
    for name, value in headers:
        name = name.lower()
        if name == b"content-type":
            is_sse = value[:17].lower() == b"text/event-stream"
        elif name == b"content-encoding":
            encoded = value.strip().lower() not in (b"", b"identity")
    return is_sse, not encoded


class InstrumentMiddleware:
    """Measures every HTTP request of the wrapped app; see `exporter.instrument`."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        metrics: ServiceMetrics,
        component_class: str,
        routes: Callable[[], Sequence[Any]] | None = None,
        exclude_paths: Iterable[str] = (),
        exemplar: Callable[[], dict[str, str] | None] | None = None,
    ) -> None:
        self.app = app
        self.metrics = metrics
        self.component_class = component_class
        self.resolver = RouteResolver(routes)
        self.exclude_paths = frozenset(exclude_paths)
        self.exemplar = exemplar
        self._routes: dict[tuple[str, str], _RouteMetrics] = {}
        self._streams: dict[str, _StreamMetrics] = {}
        self._batches: dict[str, Any] = {}

    def _route_metrics(self, method: str, route: str) -> _RouteMetrics:
        found = self._routes[(method, route)] = _RouteMetrics(
            self.metrics, self.component_class, method, route
        )
        return found

    def _stream_metrics(self, route: str) -> _StreamMetrics:
        found = self._streams.get(route)
        if found is None:
            found = self._streams[route] = _StreamMetrics(self.metrics, self.component_class, route)
        return found

    def observe_batch(self, route: str, size: float) -> None:
        child = self._batches.get(route)
        if child is None:
            child = self._batches[route] = self.metrics.batch_size.labels(
                self.component_class, route
            )
        child.observe(size)

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path = route_path(scope)
        if path in self.exclude_paths:
            await self.app(scope, receive, send)
            return
        method = scope["method"]
        route = self.resolver.resolve(method, path)
        if method not in METHODS:
            method = "other"
        rm = self._routes.get((method, route)) or self._route_metrics(method, route)
        scope[SCOPE_KEY] = (self, route)

        start = perf_counter()
        status: int | str = 0
        stream: _Stream | None = None
        finished = False  # the last body message went out: the client got it all
        client_gone = False  # send raised: the connection is closed

        async def instrumented_send(message: dict[str, Any]) -> None:
            nonlocal status, stream, finished, client_gone
            kind = message["type"]
            if kind == "http.response.body":
                if stream is not None:
                    body = message.get("body")
                    if body:
                        stream.feed(body)
                if not message.get("more_body", False):
                    try:
                        await send(message)
                    except OSError:
                        client_gone = True
                        raise
                    finished = True
                    return
            elif kind == "http.response.start":
                status = message["status"]
                is_sse, parse = _sse_kind(message.get("headers", ()))
                if is_sse:
                    stream = _Stream(self._stream_metrics(route), start, parse)
            try:
                await send(message)
            except OSError:
                client_gone = True
                raise

        rm.in_flight.inc()
        failed = False
        cancelled = False
        try:
            await self.app(scope, receive, instrumented_send)
        except asyncio.CancelledError:
            # the server cancelled the request task (uvicorn after its graceful-shutdown
            # timeout); a client that had left first is still a disconnect
            cancelled = not client_gone and not finished
            raise
        except Exception as exc:
            # A failed send means the client left, not that the handler broke.
            if not client_gone:
                failed = True
                self.metrics.exceptions.labels(
                    self.component_class, route, type(exc).__name__
                ).inc()
                if not status:
                    status = 500  # what the server-error middleware outside will send
                elif not finished:
                    # headers (a 200, say) went out and the body broke off: the client got
                    # a failure that no status code can describe any more
                    status = STREAM_ERROR_STATUS
            raise
        finally:
            duration = perf_counter() - start
            rm.in_flight.dec()
            rm.requests(status or CLIENT_CLOSED).inc()
            rm.duration.observe(duration, self.exemplar() if self.exemplar else None)
            if stream is not None:
                stream.close(duration, _outcome(finished, failed, cancelled))
