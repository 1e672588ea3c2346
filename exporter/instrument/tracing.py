"""OpenTelemetry tracing for an instrumented app, and trace ids as histogram exemplars.

The server span comes from `opentelemetry-instrumentation-fastapi` (the ASGI middleware of
`opentelemetry-instrumentation-asgi` for a plain Starlette app). Its per-message
`http send`/`http receive` spans are switched off: an SSE stream of 2,000 tokens would
otherwise make 2,000 spans. The OpenTelemetry middleware sits outside ours, so its span
is current while our middleware observes the latency, and its trace id (the caller's,
when a `traceparent` header came in) becomes the exemplar.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

from opentelemetry import trace

_NO_PER_MESSAGE_SPANS = ["receive", "send"]


def _provider(tracer_provider: Any, service_name: str) -> Any:
    """The given provider, else the global one if an SDK was set up, else a fresh SDK one."""
    if tracer_provider is not None:
        return tracer_provider
    current = trace.get_tracer_provider()
    if not isinstance(current, trace.ProxyTracerProvider | trace.NoOpTracerProvider):
        return current
    # No SDK configured: without one every span is non-recording with trace id 0 and no
    # exemplar could point anywhere. This provider records ids and exports nothing until
    # the app adds a span processor to it (or configures the global provider first).
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider

    return TracerProvider(resource=Resource.create({"service.name": service_name}))


def enable_tracing(
    app: Any,
    *,
    service_name: str,
    excluded_paths: Iterable[str] = (),
    tracer_provider: Any = None,
) -> Any:
    """Trace every request of `app` (FastAPI or Starlette); returns the tracer provider."""
    provider = _provider(tracer_provider, service_name)
    excluded = ",".join(re.escape(p) + "$" for p in excluded_paths) or None
    try:
        from fastapi import FastAPI
    except ImportError:  # pragma: no cover - fastapi is a dependency
        FastAPI = None  # type: ignore[assignment,misc]  # noqa: N806
    if FastAPI is not None and isinstance(app, FastAPI):
        from opentelemetry.instrumentation.fastapi import FastAPIInstrumentor

        FastAPIInstrumentor.instrument_app(
            app,
            tracer_provider=provider,
            excluded_urls=excluded,
            exclude_spans=_NO_PER_MESSAGE_SPANS,
        )
    else:
        from opentelemetry.instrumentation.asgi import OpenTelemetryMiddleware

        # added after ours, so it wraps ours and its span is current inside
        app.add_middleware(
            OpenTelemetryMiddleware,
            tracer_provider=provider,
            excluded_urls=excluded,
            exclude_spans=_NO_PER_MESSAGE_SPANS,
        )
    return provider


def trace_exemplar() -> dict[str, str] | None:
    """{"trace_id": ...} of the current sampled span, or None."""
    context = trace.get_current_span().get_span_context()
    if context.trace_id and context.trace_flags.sampled:
        return {"trace_id": format(context.trace_id, "032x")}
    return None
