"""Platform overview: golden signals (traffic, errors, latency, saturation) per class."""

from __future__ import annotations

from grafanalib.core import Dashboard

from exporter import catalog
from exporter.config import Config
from exporter.generators.dashboards import kit
from exporter.generators.dashboards.kit import PanelSpec, Query
from exporter.generators.promql import agg, dedup_sum, sum_rate


def build(config: Config) -> Dashboard:
    t = config.alerting.thresholds
    cc = ("component_class",)
    panels = [
        PanelSpec(
            "Requests per second",
            "Requests handled per second by each component class (traffic).",
            kit.REQ_PER_S,
            [
                Query(
                    sum_rate(
                        catalog.HTTP_REQUESTS, cc, kit.RATE_INTERVAL, component_class=kit.CLASS
                    ),
                    "{{component_class}}",
                )
            ],
        ),
        PanelSpec(
            "Error ratio (5xx)",
            "Share of requests answered with a 5xx, per class (errors). The red line is the "
            "HighErrorRate threshold.",
            kit.UNIT["ratio"],
            [Query(kit.error_ratio(cc), "{{component_class}}")],
            limit=t.error_rate_ratio,
        ),
        PanelSpec(
            "Latency p95 (non-streaming)",
            "95th percentile request latency per class, SSE routes excluded (latency). The red "
            "line is the HighLatencyP95 threshold.",
            kit.UNIT["seconds"],
            [Query(kit.latency_quantile(0.95, cc), "{{component_class}}")],
            limit=t.latency_p95_seconds,
        ),
        PanelSpec(
            "Requests in flight",
            "Requests being handled right now per class (saturation).",
            kit.COUNT,
            [
                Query(
                    agg("sum", catalog.HTTP_REQUESTS_IN_FLIGHT, cc, component_class=kit.CLASS),
                    "{{component_class}}",
                )
            ],
        ),
        PanelSpec(
            "Active SSE streams",
            "Server-Sent-Events streams open right now per class (saturation of streaming "
            "engines).",
            kit.COUNT,
            [
                Query(
                    agg("sum", catalog.SSE_STREAMS_ACTIVE, cc, component_class=kit.CLASS),
                    "{{component_class}}",
                )
            ],
        ),
        PanelSpec(
            "Queue depth",
            "Jobs waiting in each class's queues (saturation of workers).",
            kit.COUNT,
            [
                Query(
                    dedup_sum(catalog.QUEUE_DEPTH, cc, component_class=kit.CLASS),
                    "{{component_class}}",
                )
            ],
        ),
        PanelSpec(
            "Replicas",
            "Replicas each class's HPA runs now.",
            kit.COUNT,
            [
                Query(
                    dedup_sum(catalog.HPA_CURRENT_REPLICAS, cc, component_class=kit.CLASS),
                    "{{component_class}}",
                )
            ],
        ),
        PanelSpec(
            "PostgreSQL up",
            "Whether any exporter replica reaches each PostgreSQL target.",
            kit.STATE,
            [Query(agg("max", catalog.PG_UP, ("target",)), "{{target}}")],
            kind="stat",
            up_down=True,
            width=6,
        ),
        PanelSpec(
            "Redis up",
            "Whether any exporter replica reaches each Redis target.",
            kit.STATE,
            [Query(agg("max", catalog.REDIS_UP, ("target",)), "{{target}}")],
            kind="stat",
            up_down=True,
            width=6,
        ),
    ]
    return kit.dashboard(
        "exporter-platform-overview",
        "Platform overview",
        "Golden signals (traffic, errors, latency, saturation) per component class.",
        panels,
        kit.class_vars(config),
    )
