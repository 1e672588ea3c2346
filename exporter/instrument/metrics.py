"""prometheus_client metric objects for service instrumentation, built from the catalog.

One `ServiceMetrics` per registry: the middleware of every app in a process that shares a
registry shares these objects (`component_class` is a label), so instrumenting two apps or
re-creating an app in tests never registers a name twice.

Under `PROMETHEUS_MULTIPROC_DIR` prometheus_client writes each value to a per-process mmap
file; the gauges use `livesum` so that a dead worker's share drops out of the sum once its
files are reaped (see `exporter.instrument.multiprocess`).
"""

from __future__ import annotations

import threading
import weakref
from typing import Any

from prometheus_client import REGISTRY, CollectorRegistry, Counter, Gauge, Histogram

from exporter import catalog
from exporter.catalog import MetricSpec

_TYPES: dict[str, type] = {"counter": Counter, "gauge": Gauge, "histogram": Histogram}


def build_metric(spec: MetricSpec, registry: CollectorRegistry) -> Any:
    """A prometheus_client metric for a catalog spec: name, help, labels, unit, buckets."""
    try:
        cls = _TYPES[spec.type]
    except KeyError:
        raise ValueError(f"{spec.name}: {spec.type} metrics are not built here") from None
    kwargs: dict[str, Any] = {
        "name": spec.name,
        "documentation": spec.help,
        "labelnames": spec.labels,
        "registry": registry,
        "unit": spec.unit,
    }
    if spec.type == "histogram":
        kwargs["buckets"] = spec.buckets
    if spec.type == "gauge":
        # Sum over live workers only: a killed worker's in-flight requests vanish with it.
        kwargs["multiprocess_mode"] = "livesum"
    return cls(**kwargs)


class ServiceMetrics:
    """Every service-instrumentation metric of the catalog, registered once per registry."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.registry = registry
        self.requests = build_metric(catalog.HTTP_REQUESTS, registry)
        self.duration = build_metric(catalog.HTTP_REQUEST_DURATION, registry)
        self.in_flight = build_metric(catalog.HTTP_REQUESTS_IN_FLIGHT, registry)
        self.exceptions = build_metric(catalog.HTTP_REQUEST_EXCEPTIONS, registry)
        self.sse_active = build_metric(catalog.SSE_STREAMS_ACTIVE, registry)
        self.sse_events = build_metric(catalog.SSE_EVENTS, registry)
        self.sse_stream_events = build_metric(catalog.SSE_STREAM_EVENTS, registry)
        self.sse_first_event = build_metric(catalog.SSE_FIRST_EVENT, registry)
        self.sse_inter_event = build_metric(catalog.SSE_INTER_EVENT, registry)
        self.sse_streams = build_metric(catalog.SSE_STREAMS, registry)
        self.sse_duration = build_metric(catalog.SSE_STREAM_DURATION, registry)
        self.sse_disconnects = build_metric(catalog.SSE_CLIENT_DISCONNECTS, registry)
        self.batch_size = build_metric(catalog.BATCH_SIZE, registry)


_by_registry: weakref.WeakKeyDictionary[CollectorRegistry, ServiceMetrics] = (
    weakref.WeakKeyDictionary()
)
_lock = threading.Lock()


def service_metrics(registry: CollectorRegistry | None = None) -> ServiceMetrics:
    """The metrics on `registry` (default: prometheus_client's global REGISTRY)."""
    registry = REGISTRY if registry is None else registry
    with _lock:
        found = _by_registry.get(registry)
        if found is None:
            found = _by_registry[registry] = ServiceMetrics(registry)
        return found
