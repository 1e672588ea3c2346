"""SSE streaming: how many streams, time to first event, gaps between events, lifetime,
outcomes."""

from __future__ import annotations

from grafanalib.core import Dashboard

from exporter import catalog
from exporter.config import Config
from exporter.generators.dashboards import kit
from exporter.generators.dashboards.kit import PanelSpec, Query
from exporter.generators.promql import agg, sum_rate


def build(config: Config) -> Dashboard:
    t = config.alerting.thresholds
    cr = ("component_class", "route")
    panels = [
        PanelSpec(
            "Active streams",
            "SSE streams open right now, per class and route.",
            kit.COUNT,
            [
                Query(
                    agg("sum", catalog.SSE_STREAMS_ACTIVE, cr, component_class=kit.CLASS),
                    "{{component_class}} {{route}}",
                )
            ],
        ),
        PanelSpec(
            "Events per second",
            "Server-Sent Events sent per second (events, not body chunks).",
            kit.PER_S,
            [
                Query(
                    sum_rate(catalog.SSE_EVENTS, cr, kit.RATE_INTERVAL, component_class=kit.CLASS),
                    "{{component_class}} {{route}}",
                )
            ],
        ),
        PanelSpec(
            "Events per stream",
            "Events sent per finished stream: median and 95th percentile.",
            kit.COUNT,
            kit.class_quantiles(catalog.SSE_STREAM_EVENTS, cr, (0.5, 0.95)),
        ),
        PanelSpec(
            "Time to first event",
            "From request start to the first event's bytes (what a user waits for the first "
            "token). The red line is the StreamFirstEventSlow threshold, applied to p95.",
            kit.UNIT["seconds"],
            kit.class_quantiles(catalog.SSE_FIRST_EVENT, cr, (0.5, 0.95, 0.99)),
            limit=t.sse_first_event_p95_seconds,
        ),
        PanelSpec(
            "Time to first event (heatmap)",
            "Distribution of the time to first event over time, all selected classes.",
            kit.UNIT["seconds"],
            [kit.heatmap_query(catalog.SSE_FIRST_EVENT, component_class=kit.CLASS)],
            kind="heatmap",
        ),
        PanelSpec(
            "Gap between events",
            "Time between consecutive events of one stream (inter-token latency), from the "
            "first event on. The red line is the StreamInterEventSlow threshold, applied "
            "to p95.",
            kit.UNIT["seconds"],
            kit.class_quantiles(catalog.SSE_INTER_EVENT, cr, (0.5, 0.95, 0.99)),
            limit=t.sse_inter_event_p95_seconds,
        ),
        PanelSpec(
            "Gap between events (heatmap)",
            "Distribution of the gaps between consecutive events over time, all selected "
            "classes: a band moving up is an engine slowing down.",
            kit.UNIT["seconds"],
            [kit.heatmap_query(catalog.SSE_INTER_EVENT, component_class=kit.CLASS)],
            kind="heatmap",
        ),
        PanelSpec(
            "Events per second per stream",
            "Events per second divided by the streams open: the token rate one user sees.",
            kit.PER_S,
            [
                Query(
                    f"{sum_rate(catalog.SSE_EVENTS, cr, kit.RATE_INTERVAL, component_class=kit.CLASS)}\n/\n"
                    f"({agg('sum', catalog.SSE_STREAMS_ACTIVE, cr, component_class=kit.CLASS)} > 0)",
                    "{{component_class}} {{route}}",
                )
            ],
        ),
        PanelSpec(
            "Stream outcomes per second",
            "Finished streams by how they ended: completed, client_disconnect, error (the "
            "handler failed after the headers: status stream_error), shutdown.",
            kit.PER_S,
            [
                Query(
                    sum_rate(
                        catalog.SSE_STREAMS,
                        ("component_class", "outcome"),
                        kit.RATE_INTERVAL,
                        component_class=kit.CLASS,
                    ),
                    "{{component_class}} {{outcome}}",
                )
            ],
        ),
        PanelSpec(
            "Streams failing mid-way",
            "Share of finished streams that ended in a server error after the headers. The red "
            "line is the StreamsFailingMidway threshold.",
            kit.UNIT["ratio"],
            [
                Query(
                    f"{sum_rate(catalog.SSE_STREAMS, ('component_class',), kit.RATE_INTERVAL, component_class=kit.CLASS, outcome=catalog.STREAM_ERROR)}\n/\n"
                    f"{sum_rate(catalog.SSE_STREAMS, ('component_class',), kit.RATE_INTERVAL, component_class=kit.CLASS)}",
                    "{{component_class}}",
                )
            ],
            limit=t.sse_stream_error_ratio,
            max_value=1,
        ),
        PanelSpec(
            "Stream duration",
            "Lifetime of finished streams: median and 95th percentile.",
            kit.UNIT["seconds"],
            kit.class_quantiles(catalog.SSE_STREAM_DURATION, cr, (0.5, 0.95)),
        ),
        PanelSpec(
            "Client disconnects per second",
            "Streams whose client left before the stream ended.",
            kit.PER_S,
            [
                Query(
                    sum_rate(
                        catalog.SSE_CLIENT_DISCONNECTS,
                        cr,
                        kit.RATE_INTERVAL,
                        component_class=kit.CLASS,
                    ),
                    "{{component_class}} {{route}}",
                )
            ],
        ),
        PanelSpec(
            "Disconnect ratio",
            "Share of finished streams that ended by the client leaving early.",
            kit.UNIT["ratio"],
            [
                Query(
                    f"{sum_rate(catalog.SSE_CLIENT_DISCONNECTS, cr, kit.RATE_INTERVAL, component_class=kit.CLASS)}\n/\n"
                    f"{sum_rate(catalog.SSE_STREAM_DURATION, cr, kit.RATE_INTERVAL, '_count', component_class=kit.CLASS)}",
                    "{{component_class}} {{route}}",
                )
            ],
            max_value=1,
        ),
    ]
    return kit.dashboard(
        "exporter-sse-streaming",
        "SSE streaming",
        "Server-Sent-Events streams: how many, how fast the first event comes, the gaps "
        "between events, how long they last and how they end.",
        panels,
        kit.class_vars(config),
    )
