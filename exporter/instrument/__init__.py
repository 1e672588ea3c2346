"""Service instrumentation for the platform's FastAPI/Starlette services.

    from exporter.instrument import instrument, observe_batch
    instrument(app, component_class="gpu")            # metrics + /metrics
    instrument(app, component_class="gpu", tracing=True)  # + OpenTelemetry, exemplars

    @app.post("/embed")
    async def embed(request: Request, items: list[str]):
        observe_batch(request, len(items))

Metric names and labels come from `exporter.catalog`. Under several workers set
`PROMETHEUS_MULTIPROC_DIR` (an empty directory per pod start): `/metrics` then serves the
sum over workers.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from prometheus_client import CollectorRegistry

from exporter.instrument.exposition import metrics_app, render
from exporter.instrument.metrics import ServiceMetrics, service_metrics
from exporter.instrument.middleware import SCOPE_KEY, InstrumentMiddleware
from exporter.instrument.routes import UNMATCHED

__all__ = [
    "DEFAULT_EXCLUDE_PATHS",
    "METRICS_ROUTE_NAME",
    "UNMATCHED",
    "InstrumentMiddleware",
    "ServiceMetrics",
    "instrument",
    "metrics_app",
    "observe_batch",
    "service_metrics",
]

# Kubelet probes and scrapes are not traffic: counted, they would dilute the error ratio and
# the latency quantiles the SLO alerts read. The common spellings of each probe.
DEFAULT_EXCLUDE_PATHS = ("/health", "/healthz", "/ready", "/readyz", "/livez", "/metrics")


def instrument(
    app: Any,
    component_class: str,
    *,
    tracing: bool = False,
    exclude_paths: Iterable[str] = DEFAULT_EXCLUDE_PATHS,
    metrics_path: str | None = "/metrics",
    registry: CollectorRegistry | None = None,
    tracer_provider: Any = None,
) -> Any:
    """Measure every request of a FastAPI or Starlette `app`; returns the app.

    component_class: the `component_class` label (cpu, gpu, memory, ...).
    tracing: also trace with OpenTelemetry; trace ids become latency exemplars.
    exclude_paths: request paths (below root_path) that are not measured at all; by default
        the health-probe paths and /metrics (`DEFAULT_EXCLUDE_PATHS`). Passing a list
        replaces the default (extend it with `(*DEFAULT_EXCLUDE_PATHS, "/ping")`).
    metrics_path: where the app serves its own metrics (None: add no route). The route is
        named `METRICS_ROUTE_NAME`, which no Python function name can be, so `url_for`
        of a user's own `def metrics()` still finds the user's route. Where the app
        already routes `metrics_path` (a route or mount matching GET on it), instrument()
        raises ValueError rather than shadow it or be shadowed; a route the user adds for
        it later wins over ours (their body, not Prometheus text).
    registry: prometheus_client registry (default: the global REGISTRY).
    tracer_provider: for tracing; default the global SDK provider, else a fresh one.
    """
    from starlette.applications import Starlette

    if not isinstance(app, Starlette):
        raise TypeError(
            f"instrument() takes a FastAPI or Starlette app, not {type(app).__name__}; "
            "wrap other ASGI apps in InstrumentMiddleware"
        )
    if getattr(app, "_exporter_instrumented", False):
        raise RuntimeError("instrument(): this app is already instrumented")
    if not isinstance(component_class, str) or not component_class.strip():
        raise ValueError("instrument(): component_class must be a non-empty string")
    excluded = [str(p) for p in exclude_paths]
    for p in excluded:
        if not p.startswith("/"):
            raise ValueError(f"instrument(): excluded path {p!r} must start with '/'")
    if metrics_path is not None:
        if not metrics_path.startswith("/"):
            raise ValueError(f"instrument(): metrics_path {metrics_path!r} must start with '/'")
        excluded.append(metrics_path)
        _refuse_routed(app, metrics_path)

    exemplar = None
    if tracing:
        try:
            from exporter.instrument.tracing import enable_tracing, trace_exemplar
        except ImportError as exc:  # OpenTelemetry is the optional `instrument` extra
            raise ImportError(
                f"instrument(tracing=True) needs OpenTelemetry: pip install 'exporter[instrument]' "
                f"({exc})"
            ) from exc

        exemplar = trace_exemplar
    # raises if the app has started already, before anything else changed
    app.add_middleware(
        InstrumentMiddleware,
        metrics=service_metrics(registry),
        component_class=component_class,
        routes=lambda: app.routes,
        exclude_paths=excluded,
        exemplar=exemplar,
    )
    app._exporter_instrumented = True
    if metrics_path is not None:
        _add_metrics_route(app, metrics_path, registry)
    if tracing:
        # after ours: FastAPI's instrumentor wraps the whole stack; Starlette's
        # middleware is added outside ours. Either way its span is current inside.
        enable_tracing(
            app,
            service_name=f"component-{component_class}",
            excluded_paths=excluded,
            tracer_provider=tracer_provider,
        )
    return app


METRICS_ROUTE_NAME = "exporter.instrument:metrics"


def _probe_scope(app: Any, path: str) -> dict[str, Any]:
    return {
        "type": "http",
        "method": "GET",
        "path": path,
        "root_path": "",
        "headers": [],
        "query_string": b"",
        "app": app,
    }


def _refuse_routed(app: Any, path: str) -> None:
    from starlette.routing import Match

    scope = _probe_scope(app, path)
    for route in app.routes:
        match, _ = route.matches(scope)
        if match == Match.FULL:
            what = getattr(route, "path", None) or type(route).__name__
            name = getattr(route, "name", None)
            raise ValueError(
                f"instrument(): the app already routes GET {path} ({what!r}"
                f"{f', name {name!r}' if name else ''}); pass metrics_path=None to keep "
                f"yours, or another metrics_path"
            )


def _add_metrics_route(app: Any, path: str, registry: CollectorRegistry | None) -> None:
    from starlette.requests import Request
    from starlette.responses import Response
    from starlette.routing import Host, Match, Mount, Route

    async def metrics(request: Request) -> Response:
        body, content_type = render(registry, request.headers.get("accept"))
        return Response(body, headers={"content-type": content_type})

    class MetricsRoute(Route):
        """Ours, but yielding to a route the user adds for the same path afterwards (Starlette
        tries routes in order, so theirs would otherwise be silently shadowed). Mounts are
        not counted: a catch-all mount added later does not mean "serve my /metrics"."""

        def matches(self, scope: Any) -> tuple[Match, dict[str, Any]]:
            match, child = super().matches(scope)
            if match == Match.NONE:
                return match, child
            routes = app.router.routes
            for route in routes[routes.index(self) + 1 :] if self in routes else ():
                if not isinstance(route, Mount | Host) and route.matches(scope)[0] == Match.FULL:
                    return Match.NONE, {}
            return match, child

    app.router.routes.append(
        MetricsRoute(
            path, metrics, methods=["GET"], name=METRICS_ROUTE_NAME, include_in_schema=False
        )
    )


def observe_batch(
    request_or_route: Any,
    size: float,
    *,
    component_class: str | None = None,
    registry: CollectorRegistry | None = None,
) -> None:
    """Record one batch of `size` items in the `batch_size` histogram.

    Pass the Starlette `Request` (or its ASGI scope) of an instrumented app: the route
    template and component class come from the middleware. Or pass a route template
    string with `component_class` (and `registry` if not the global one).
    """
    if isinstance(size, bool) or not isinstance(size, int | float) or not size >= 0:
        raise ValueError(f"observe_batch(): size must be a number >= 0, not {size!r}")
    if isinstance(request_or_route, str):
        if not component_class:
            raise ValueError("observe_batch(route, size) needs component_class=")
        service_metrics(registry).batch_size.labels(component_class, request_or_route).observe(size)
        return
    scope = getattr(request_or_route, "scope", request_or_route)
    found = scope.get(SCOPE_KEY) if isinstance(scope, dict) else None
    if found is None:
        raise LookupError(
            "observe_batch(): this request did not pass through instrument()'s middleware "
            "(app not instrumented, or the path is excluded)"
        )
    middleware, route = found
    middleware.observe_batch(route, size)
