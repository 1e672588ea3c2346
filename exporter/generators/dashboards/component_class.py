"""Component class: one class's traffic, errors, latency, work in flight, replicas, queues."""

from __future__ import annotations

from grafanalib.core import Dashboard

from exporter import catalog
from exporter.config import Config
from exporter.generators.dashboards import kit
from exporter.generators.dashboards.kit import PanelSpec, Query
from exporter.generators.promql import agg, dedup, dedup_sum, mean, quantile, sum_rate


def build(config: Config) -> Dashboard:
    t = config.alerting.thresholds
    cr = ("component_class", "route")
    panels = [
        PanelSpec(
            "Requests per second by route and status",
            "Requests handled per second, by route template, method and status code.",
            kit.REQ_PER_S,
            [
                Query(
                    sum_rate(
                        catalog.HTTP_REQUESTS,
                        (*cr, "method", "status"),
                        kit.RATE_INTERVAL,
                        component_class=kit.CLASS,
                    ),
                    "{{method}} {{route}} {{status}}",
                )
            ],
        ),
        PanelSpec(
            "Error ratio by route (5xx)",
            "Share of each route's requests answered with a 5xx. The red line is the "
            "HighErrorRate threshold.",
            kit.UNIT["ratio"],
            [Query(kit.error_ratio(cr), "{{route}}")],
            limit=t.error_rate_ratio,
        ),
        PanelSpec(
            "Latency p50 / p95 / p99 (non-streaming)",
            "Request latency quantiles over the class's non-streaming routes. The red line is "
            "the p95 objective (HighLatencyP95).",
            kit.UNIT["seconds"],
            [
                Query(kit.latency_quantile(q, ("component_class",)), f"p{int(q * 100)}")
                for q in (0.5, 0.95, 0.99)
            ],
            limit=t.latency_p95_seconds,
        ),
        PanelSpec(
            "Latency p95 by route",
            "95th percentile duration per route; for SSE routes this is the stream's lifetime.",
            kit.UNIT["seconds"],
            [
                Query(
                    quantile(
                        0.95,
                        catalog.HTTP_REQUEST_DURATION,
                        cr,
                        kit.RATE_INTERVAL,
                        component_class=kit.CLASS,
                    ),
                    "{{route}}",
                )
            ],
        ),
        PanelSpec(
            "Requests in flight by route",
            "Requests being handled right now, per route.",
            kit.COUNT,
            [
                Query(
                    agg("sum", catalog.HTTP_REQUESTS_IN_FLIGHT, cr, component_class=kit.CLASS),
                    "{{route}}",
                )
            ],
        ),
        PanelSpec(
            "Exceptions per second by type",
            "Unhandled exceptions raised by route handlers, by route and exception type.",
            kit.PER_S,
            [
                Query(
                    sum_rate(
                        catalog.HTTP_REQUEST_EXCEPTIONS,
                        (*cr, "exception"),
                        kit.RATE_INTERVAL,
                        component_class=kit.CLASS,
                    ),
                    "{{route}} {{exception}}",
                )
            ],
        ),
        PanelSpec(
            "Batch size",
            "Items per batch on batch endpoints: median, 95th percentile and mean.",
            kit.COUNT,
            [
                *kit.class_quantiles(catalog.BATCH_SIZE, cr, (0.5, 0.95)),
                Query(
                    mean(catalog.BATCH_SIZE, cr, kit.RATE_INTERVAL, component_class=kit.CLASS),
                    "mean {{route}}",
                ),
            ],
        ),
        PanelSpec(
            "Replicas",
            "The class's HPA: replicas running, wanted, and its min/max bounds (max is the "
            "ceiling HpaMaxedOut watches).",
            kit.COUNT,
            [
                Query(dedup_sum(spec, ("component_class",), component_class=kit.CLASS), name)
                for spec, name in (
                    (catalog.HPA_CURRENT_REPLICAS, "current"),
                    (catalog.HPA_DESIRED_REPLICAS, "desired"),
                    (catalog.HPA_MIN_REPLICAS, "min"),
                    (catalog.HPA_MAX_REPLICAS, "max"),
                )
            ],
        ),
        PanelSpec(
            "Queue depth",
            "Jobs waiting in this class's queues.",
            kit.COUNT,
            [Query(dedup(catalog.QUEUE_DEPTH, component_class=kit.CLASS), "{{queue}}")],
        ),
        PanelSpec(
            "Oldest job age",
            "How long the oldest waiting job has waited. The red line is the QueueJobTooOld "
            "threshold.",
            kit.UNIT["seconds"],
            [Query(dedup(catalog.QUEUE_OLDEST_AGE, component_class=kit.CLASS), "{{queue}}")],
            limit=t.queue_oldest_age_seconds,
        ),
    ]
    return kit.dashboard(
        "exporter-component-class",
        "Component class",
        "One component class: traffic, errors, latency quantiles, in-flight work, batch "
        "sizes, replicas and its queues.",
        panels,
        kit.class_vars(config, multi=False),
    )
