"""Grafana dashboards generated with grafanalib from the config and the metric catalog.

`make dashboards` writes one JSON file per dashboard into `dashboards/`. Every query is
built from `exporter.catalog` specs (`promql` checks the labels), every limit drawn as a
threshold comes from the config (alert thresholds, collection timeout, scaling targets),
and the class/target variables list the config's component classes and targets.

Conventions (checked by tests/test_dashboards.py): a `datasource` variable, a stable uid,
refresh 10 s, default range 1 h; every panel has a description and a unit, and rates use
`$__rate_interval`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from grafanalib import core as g
from grafanalib._gen import DashboardEncoder

from exporter import catalog as c
from exporter.config import Config
from exporter.generators import external_metrics as k
from exporter.generators import write_files
from exporter.generators.alerts import SERVER_ERROR
from exporter.generators.promql import agg, by, mean, quantile, sel, sum_rate

RI = "$__rate_interval"
DATASOURCE = {"type": "prometheus", "uid": "${datasource}"}
CLASS = '=~"$component_class"'
TARGET = '=~"$target"'
REFRESH = "10s"
TIME_RANGE = g.Time("now-1h", "now")
TAGS = ["exporter", "generated"]

# Grafana unit ids.
UNIT = {"seconds": "s", "bytes": "bytes", "ratio": "percentunit", "celsius": "celsius"}
REQ_PER_S = "reqps"
PER_S = "cps"  # counts per second
COUNT = "short"
STATE = "none"  # 0/1 states, shown through value mappings


@dataclass(frozen=True)
class Q:
    expr: str
    legend: str = ""


@dataclass
class P:
    """A panel before layout: what to show, how to read it, where its limit is."""

    title: str
    description: str
    unit: str
    queries: list[Q]
    limit: float | None = None  # drawn as a red threshold line/colour
    kind: str = "timeseries"  # or "stat"
    width: int = 12
    max_value: float | None = None
    up_down: bool = False  # a 0/1 health state: shown as DOWN (red) / UP (green)
    extra: dict[str, Any] = field(default_factory=dict)


UP_MAPPINGS = [
    {
        "type": "value",
        "options": {
            "0": {"text": "DOWN", "color": "red", "index": 0},
            "1": {"text": "UP", "color": "green", "index": 1},
        },
    }
]


def _steps(limit: float | None, up_is_good: bool = False) -> list[dict[str, Any]]:
    if up_is_good:  # 0/1 states: red below 1
        return [{"color": "red", "value": None}, {"color": "green", "value": 1}]
    steps: list[dict[str, Any]] = [{"color": "green", "value": None}]
    if limit is not None:
        steps.append({"color": "red", "value": limit})
    return steps


def _targets(queries: list[Q]) -> list[g.Target]:
    return [
        g.Target(expr=q.expr, legendFormat=q.legend, refId=chr(ord("A") + i), datasource=DATASOURCE)
        for i, q in enumerate(queries)
    ]


def _panel(p: P, panel_id: int, pos: dict[str, int]) -> g.Panel:
    common = dict(
        title=p.title,
        description=p.description,
        dataSource=DATASOURCE,
        targets=_targets(p.queries),
        id=panel_id,
        gridPos=g.GridPos(h=pos["h"], w=pos["w"], x=pos["x"], y=pos["y"]),
    )
    if p.kind == "stat":
        panel = g.Stat(
            **common,
            format=p.unit,
            thresholds=_steps(p.limit, up_is_good=p.up_down),
            mappings=UP_MAPPINGS if p.up_down else [],
            colorMode="background" if p.up_down else "value",
            graphMode="none",
            reduceCalc="lastNotNull",
            noValue="no data",
        )
    else:
        panel = g.TimeSeries(
            **common,
            unit=p.unit,
            thresholds=_steps(p.limit),
            thresholdsStyleMode="line" if p.limit is not None else "off",
            legendDisplayMode="table",
            legendCalcs=["lastNotNull", "max"],
            tooltipMode="multi",
        )
    if p.max_value is not None or p.extra:
        extra: dict[str, Any] = dict(p.extra)
        if p.max_value is not None:
            extra.setdefault("fieldConfig", {"defaults": {}})["defaults"]["max"] = p.max_value
        panel.extraJson = extra
    return panel


def _layout(panels: list[P]) -> list[g.Panel]:
    """Left to right, top to bottom, on Grafana's 24-column grid; ids from 1."""
    out, x, y, row_h = [], 0, 0, 0
    for i, p in enumerate(panels, start=1):
        h = 4 if p.kind == "stat" else 8
        if x + p.width > 24:
            x, y, row_h = 0, y + row_h, 0
        out.append(_panel(p, i, {"x": x, "y": y, "w": p.width, "h": h}))
        x += p.width
        row_h = max(row_h, h)
    return out


# --- variables -----------------------------------------------------------------------------
def _datasource_var() -> g.Template:
    return g.Template(
        name="datasource",
        label="Data source",
        query="prometheus",
        type="datasource",
        default="Prometheus",
    )


def _custom_var(name: str, label: str, values: list[str], multi: bool = True) -> g.Template:
    """A variable listing the config's names (classes, targets); `All` matches every value."""
    options = [{"text": v, "value": v, "selected": False} for v in values]
    if multi:
        options.insert(0, {"text": "All", "value": "$__all", "selected": True})
    elif options:
        options[0]["selected"] = True
    return g.Template(
        name=name,
        label=label,
        query=",".join(values),
        type="custom",
        multi=multi,
        includeAll=multi,
        allValue=".*" if multi else None,
        options=options,
    )


def _class_var(config: Config, multi: bool = True) -> g.Template:
    return _custom_var(
        "component_class", "Component class", [cls.name for cls in config.component_classes], multi
    )


def _dashboard(uid: str, title: str, description: str, panels: list[P], variables) -> g.Dashboard:
    return g.Dashboard(
        title=title,
        uid=uid,
        description=description,
        tags=TAGS,
        refresh=REFRESH,
        time=TIME_RANGE,
        timezone="browser",
        panels=_layout(panels),
        templating=g.Templating(list=[_datasource_var(), *variables]),
    )


# --- shared query pieces -------------------------------------------------------------------
def _streaming_routes() -> str:
    """(component_class, route) pairs that serve SSE: their request duration is the stream's."""
    return (
        f"group {by(c.SSE_STREAM_DURATION, 'component_class', 'route', suffix='_count')} "
        f"({sel(c.SSE_STREAM_DURATION, '_count')})"
    )


def _latency_quantile(q: float, group: tuple[str, ...]) -> str:
    """Quantile of non-streaming request latency for the selected classes."""
    buckets = (
        f"rate({sel(c.HTTP_REQUEST_DURATION, '_bucket', component_class=CLASS)}[{RI}])\n"
        f"  unless on (component_class, route) {_streaming_routes()}"
    )
    return f"histogram_quantile({q}, sum by ({', '.join((*group, 'le'))}) (\n  {buckets}\n))"


def _error_ratio(group: tuple[str, ...]) -> str:
    errors = sum_rate(c.HTTP_REQUESTS, group, RI, component_class=CLASS, status=SERVER_ERROR)
    total = sum_rate(c.HTTP_REQUESTS, group, RI, component_class=CLASS)
    # `or 0 * total`: a class with traffic and no errors shows 0 %, not a gap.
    return f"({errors}\n  or 0 * {total})\n/\n{total}"


def _dedup(spec: c.MetricSpec, **matchers: str) -> str:
    """max over exporter replicas (each reports the same dependency), keeping own labels."""
    return agg("max", spec, spec.labels, **matchers)


def _dedup_sum(spec: c.MetricSpec, group: tuple[str, ...], **matchers: str) -> str:
    return f"sum {by(spec, *group)} ({_dedup(spec, **matchers)})"


# --- the dashboards ------------------------------------------------------------------------
def platform_overview(config: Config) -> g.Dashboard:
    t = config.alerting.thresholds
    cc = ("component_class",)
    panels = [
        P(
            "Requests per second",
            "Requests handled per second by each component class (traffic).",
            REQ_PER_S,
            [Q(sum_rate(c.HTTP_REQUESTS, cc, RI, component_class=CLASS), "{{component_class}}")],
        ),
        P(
            "Error ratio (5xx)",
            "Share of requests answered with a 5xx, per class (errors). The red line is the "
            "HighErrorRate threshold.",
            UNIT["ratio"],
            [Q(_error_ratio(cc), "{{component_class}}")],
            limit=t.error_rate_ratio,
        ),
        P(
            "Latency p95 (non-streaming)",
            "95th percentile request latency per class, SSE routes excluded (latency). The red "
            "line is the HighLatencyP95 threshold.",
            UNIT["seconds"],
            [Q(_latency_quantile(0.95, cc), "{{component_class}}")],
            limit=t.latency_p95_seconds,
        ),
        P(
            "Requests in flight",
            "Requests being handled right now per class (saturation).",
            COUNT,
            [
                Q(
                    agg("sum", c.HTTP_REQUESTS_IN_FLIGHT, cc, component_class=CLASS),
                    "{{component_class}}",
                )
            ],
        ),
        P(
            "Active SSE streams",
            "Server-Sent-Events streams open right now per class (saturation of streaming "
            "engines).",
            COUNT,
            [Q(agg("sum", c.SSE_STREAMS_ACTIVE, cc, component_class=CLASS), "{{component_class}}")],
        ),
        P(
            "Queue depth",
            "Jobs waiting in each class's queues (saturation of workers).",
            COUNT,
            [Q(_dedup_sum(c.QUEUE_DEPTH, cc, component_class=CLASS), "{{component_class}}")],
        ),
        P(
            "Replicas",
            "Replicas each class's HPA runs now.",
            COUNT,
            [
                Q(
                    _dedup_sum(c.HPA_CURRENT_REPLICAS, cc, component_class=CLASS),
                    "{{component_class}}",
                )
            ],
        ),
        P(
            "PostgreSQL up",
            "Whether any exporter replica reaches each PostgreSQL target.",
            STATE,
            [Q(agg("max", c.PG_UP, ("target",)), "{{target}}")],
            kind="stat",
            up_down=True,
            width=6,
        ),
        P(
            "Redis up",
            "Whether any exporter replica reaches each Redis target.",
            STATE,
            [Q(agg("max", c.REDIS_UP, ("target",)), "{{target}}")],
            kind="stat",
            up_down=True,
            width=6,
        ),
    ]
    return _dashboard(
        "exporter-platform-overview",
        "Platform overview",
        "Golden signals (traffic, errors, latency, saturation) per component class.",
        panels,
        [_class_var(config)],
    )


def component_class(config: Config) -> g.Dashboard:
    t = config.alerting.thresholds
    cr = ("component_class", "route")
    panels = [
        P(
            "Requests per second by route and status",
            "Requests handled per second, by route template, method and status code.",
            REQ_PER_S,
            [
                Q(
                    sum_rate(c.HTTP_REQUESTS, (*cr, "method", "status"), RI, component_class=CLASS),
                    "{{method}} {{route}} {{status}}",
                )
            ],
        ),
        P(
            "Error ratio by route (5xx)",
            "Share of each route's requests answered with a 5xx. The red line is the "
            "HighErrorRate threshold.",
            UNIT["ratio"],
            [Q(_error_ratio(cr), "{{route}}")],
            limit=t.error_rate_ratio,
        ),
        P(
            "Latency p50 / p95 / p99 (non-streaming)",
            "Request latency quantiles over the class's non-streaming routes. The red line is "
            "the p95 objective (HighLatencyP95).",
            UNIT["seconds"],
            [
                Q(_latency_quantile(q, ("component_class",)), f"p{int(q * 100)}")
                for q in (0.5, 0.95, 0.99)
            ],
            limit=t.latency_p95_seconds,
        ),
        P(
            "Latency p95 by route",
            "95th percentile duration per route; for SSE routes this is the stream's lifetime.",
            UNIT["seconds"],
            [
                Q(
                    quantile(0.95, c.HTTP_REQUEST_DURATION, cr, RI, component_class=CLASS),
                    "{{route}}",
                )
            ],
        ),
        P(
            "Requests in flight by route",
            "Requests being handled right now, per route.",
            COUNT,
            [Q(agg("sum", c.HTTP_REQUESTS_IN_FLIGHT, cr, component_class=CLASS), "{{route}}")],
        ),
        P(
            "Exceptions per second by type",
            "Unhandled exceptions raised by route handlers, by route and exception type.",
            PER_S,
            [
                Q(
                    sum_rate(
                        c.HTTP_REQUEST_EXCEPTIONS, (*cr, "exception"), RI, component_class=CLASS
                    ),
                    "{{route}} {{exception}}",
                )
            ],
        ),
        P(
            "Batch size",
            "Items per batch on batch endpoints: median, 95th percentile and mean.",
            COUNT,
            [
                Q(quantile(0.5, c.BATCH_SIZE, cr, RI, component_class=CLASS), "p50 {{route}}"),
                Q(quantile(0.95, c.BATCH_SIZE, cr, RI, component_class=CLASS), "p95 {{route}}"),
                Q(mean(c.BATCH_SIZE, cr, RI, component_class=CLASS), "mean {{route}}"),
            ],
        ),
        P(
            "Replicas",
            "The class's HPA: replicas running, wanted, and its min/max bounds (max is the "
            "ceiling HpaMaxedOut watches).",
            COUNT,
            [
                Q(_dedup_sum(spec, ("component_class",), component_class=CLASS), name)
                for spec, name in (
                    (c.HPA_CURRENT_REPLICAS, "current"),
                    (c.HPA_DESIRED_REPLICAS, "desired"),
                    (c.HPA_MIN_REPLICAS, "min"),
                    (c.HPA_MAX_REPLICAS, "max"),
                )
            ],
        ),
        P(
            "Queue depth",
            "Jobs waiting in this class's queues.",
            COUNT,
            [Q(_dedup(c.QUEUE_DEPTH, component_class=CLASS), "{{queue}}")],
        ),
        P(
            "Oldest job age",
            "How long the oldest waiting job has waited. The red line is the QueueJobTooOld "
            "threshold.",
            UNIT["seconds"],
            [Q(_dedup(c.QUEUE_OLDEST_AGE, component_class=CLASS), "{{queue}}")],
            limit=t.queue_oldest_age_seconds,
        ),
    ]
    return _dashboard(
        "exporter-component-class",
        "Component class",
        "One component class: traffic, errors, latency quantiles, in-flight work, batch "
        "sizes, replicas and its queues.",
        panels,
        [_class_var(config, multi=False)],
    )


def sse_streaming(config: Config) -> g.Dashboard:
    t = config.alerting.thresholds
    cr = ("component_class", "route")
    panels = [
        P(
            "Active streams",
            "SSE streams open right now, per class and route.",
            COUNT,
            [
                Q(
                    agg("sum", c.SSE_STREAMS_ACTIVE, cr, component_class=CLASS),
                    "{{component_class}} {{route}}",
                )
            ],
        ),
        P(
            "Events per second",
            "Server-Sent Events sent per second (events, not body chunks).",
            PER_S,
            [
                Q(
                    sum_rate(c.SSE_EVENTS, cr, RI, component_class=CLASS),
                    "{{component_class}} {{route}}",
                )
            ],
        ),
        P(
            "Events per stream",
            "Events sent per finished stream: median and 95th percentile.",
            COUNT,
            [
                Q(
                    quantile(0.5, c.SSE_STREAM_EVENTS, cr, RI, component_class=CLASS),
                    "p50 {{route}}",
                ),
                Q(
                    quantile(0.95, c.SSE_STREAM_EVENTS, cr, RI, component_class=CLASS),
                    "p95 {{route}}",
                ),
            ],
        ),
        P(
            "Time to first event",
            "From request start to the first event's bytes (what a user waits for the first "
            "token). The red line is the latency objective, applied to p95.",
            UNIT["seconds"],
            [
                Q(
                    quantile(q, c.SSE_FIRST_EVENT, cr, RI, component_class=CLASS),
                    f"p{int(q * 100)} {{{{route}}}}",
                )
                for q in (0.5, 0.95, 0.99)
            ],
            limit=t.latency_p95_seconds,
        ),
        P(
            "Stream duration",
            "Lifetime of finished streams: median and 95th percentile.",
            UNIT["seconds"],
            [
                Q(
                    quantile(0.5, c.SSE_STREAM_DURATION, cr, RI, component_class=CLASS),
                    "p50 {{route}}",
                ),
                Q(
                    quantile(0.95, c.SSE_STREAM_DURATION, cr, RI, component_class=CLASS),
                    "p95 {{route}}",
                ),
            ],
        ),
        P(
            "Client disconnects per second",
            "Streams whose client left before the stream ended.",
            PER_S,
            [
                Q(
                    sum_rate(c.SSE_CLIENT_DISCONNECTS, cr, RI, component_class=CLASS),
                    "{{component_class}} {{route}}",
                )
            ],
        ),
        P(
            "Disconnect ratio",
            "Share of finished streams that ended by the client leaving early.",
            UNIT["ratio"],
            [
                Q(
                    f"{sum_rate(c.SSE_CLIENT_DISCONNECTS, cr, RI, component_class=CLASS)}\n/\n"
                    f"{sum_rate(c.SSE_STREAM_DURATION, cr, RI, '_count', component_class=CLASS)}",
                    "{{component_class}} {{route}}",
                )
            ],
            max_value=1,
        ),
    ]
    return _dashboard(
        "exporter-sse-streaming",
        "SSE streaming",
        "Server-Sent-Events streams: how many, how fast the first event comes, how long they "
        "last and how often clients leave.",
        panels,
        [_class_var(config)],
    )


def _depth_per_replica(cls_name: str, target: float) -> P:
    depth = f"sum({_dedup(c.QUEUE_DEPTH, component_class=cls_name)})"
    replicas = f"sum({_dedup(c.HPA_CURRENT_REPLICAS, component_class=cls_name)})"
    return P(
        f"Queue depth per replica: {cls_name}",
        f"Jobs waiting per running replica of class {cls_name} (1 replica assumed until its "
        f"HPA reports). The red line is the HPA's AverageValue target ({target:g}): above it "
        "the HPA adds replicas.",
        COUNT,
        [Q(f"{depth}\n/\nclamp_min({replicas} or vector(1), 1)", cls_name)],
        limit=target,
        width=8,
    )


def queues_autoscaling(config: Config) -> g.Dashboard:
    t = config.alerting.thresholds
    hpa = ("component_class", "hpa")
    panels = [
        P(
            "Queue depth",
            "Jobs waiting, per class and queue.",
            COUNT,
            [Q(_dedup(c.QUEUE_DEPTH, component_class=CLASS), "{{component_class}} {{queue}}")],
        ),
        P(
            "Oldest job age",
            "How long the oldest waiting job has waited. The red line is the QueueJobTooOld "
            "threshold.",
            UNIT["seconds"],
            [Q(_dedup(c.QUEUE_OLDEST_AGE, component_class=CLASS), "{{component_class}} {{queue}}")],
            limit=t.queue_oldest_age_seconds,
        ),
        P(
            "Stream lag and pending",
            "Redis stream queues: entries not yet delivered to the group (lag) and delivered "
            "but unacknowledged (pending).",
            COUNT,
            [
                Q(
                    _dedup(c.QUEUE_STREAM_LAG, component_class=CLASS),
                    "lag {{component_class}} {{queue}}",
                ),
                Q(
                    _dedup(c.QUEUE_STREAM_PENDING, component_class=CLASS),
                    "pending {{component_class}} {{queue}}",
                ),
            ],
        ),
        P(
            "Queue readable",
            "1 if the queue was read in the last collection cycle.",
            STATE,
            [Q(_dedup(c.QUEUE_UP, component_class=CLASS), "{{component_class}} {{queue}}")],
        ),
        P(
            "HPA replicas: current / desired / max",
            "Per class: replicas running, replicas the HPA wants, and its ceiling.",
            COUNT,
            [
                Q(agg("max", spec, hpa, component_class=CLASS), f"{{{{component_class}}}} {name}")
                for spec, name in (
                    (c.HPA_CURRENT_REPLICAS, "current"),
                    (c.HPA_DESIRED_REPLICAS, "desired"),
                    (c.HPA_MAX_REPLICAS, "max"),
                )
            ],
        ),
        P(
            "HPA able to scale",
            "The HPA's AbleToScale and ScalingActive conditions (1 = True). ScalingActive 0 "
            "usually means its metric cannot be read.",
            STATE,
            [
                Q(
                    agg("max", c.HPA_ABLE_TO_SCALE, hpa, component_class=CLASS),
                    "{{component_class}} able",
                ),
                Q(
                    agg("max", c.HPA_SCALING_ACTIVE, hpa, component_class=CLASS),
                    "{{component_class}} active",
                ),
            ],
        ),
    ]
    for cls in config.component_classes:
        for target in cls.scale_on:
            if target.metric == c.QUEUE_DEPTH.name:
                panels.append(_depth_per_replica(cls.name, target.target_average_value))
    return _dashboard(
        "exporter-queues-autoscaling",
        "Queues and autoscaling",
        "Work waiting per component class and what each class's HPA does about it.",
        panels,
        [_class_var(config)],
    )


def gpu(config: Config) -> g.Dashboard:
    t = config.alerting.thresholds
    legend = "{{node}} GPU {{gpu}}"
    panels = [
        P(
            "GPU utilisation",
            "Share of the last sample period each GPU was busy.",
            UNIT["ratio"],
            [Q(_dedup(c.GPU_UTILIZATION), legend)],
            max_value=1,
        ),
        P(
            "GPU memory used ratio",
            "Memory in use over memory installed, per GPU. The red line is the memory threshold.",
            UNIT["ratio"],
            [Q(f"{_dedup(c.GPU_MEMORY_USED)}\n/\n{_dedup(c.GPU_MEMORY_TOTAL)}", legend)],
            limit=t.memory_ratio,
            max_value=1,
        ),
        P(
            "GPU memory used",
            "Memory in use per GPU.",
            UNIT["bytes"],
            [Q(_dedup(c.GPU_MEMORY_USED), legend)],
        ),
        P(
            "GPU temperature",
            "Core temperature per GPU. The red line is the GpuTemperatureHigh threshold.",
            UNIT["celsius"],
            [Q(_dedup(c.GPU_TEMPERATURE), legend)],
            limit=t.gpu_temperature_celsius,
        ),
        P(
            "GPU power",
            "Power draw per GPU.",
            "watt",
            [Q(_dedup(c.GPU_POWER), legend)],
        ),
    ]
    return _dashboard("exporter-gpu", "GPU", "NVIDIA GPUs read through NVML.", panels, [])


def postgres(config: Config) -> g.Dashboard:
    t = config.alerting.thresholds
    targets = [pg.name for pg in config.postgres]
    panels = [
        P(
            "Up",
            "Whether any exporter replica reaches the target.",
            STATE,
            [Q(agg("max", c.PG_UP, ("target",), target=TARGET), "{{target}}")],
            kind="stat",
            up_down=True,
            width=6,
        ),
        P(
            "In recovery",
            "1 when the server is a standby replaying WAL.",
            STATE,
            [Q(agg("max", c.PG_IN_RECOVERY, ("target",), target=TARGET), "{{target}}")],
            kind="stat",
            width=6,
        ),
        P(
            "Probe duration",
            "Time the last probe took. The red line is the collection timeout: a probe that "
            "reaches it fails.",
            UNIT["seconds"],
            [Q(_dedup(c.PG_PROBE_DURATION, target=TARGET), "{{target}} {{instance}}")],
            limit=config.collection.timeout_seconds,
        ),
        P(
            "Connections by state",
            "Backend connections by state (pg_stat_activity) and the max_connections limit.",
            COUNT,
            [
                Q(_dedup(c.PG_CONNECTIONS, target=TARGET), "{{target}} {{state}}"),
                Q(agg("max", c.PG_MAX_CONNECTIONS, ("target",), target=TARGET), "{{target}} max"),
            ],
        ),
        P(
            "Connections used",
            "Connections in use over max_connections. The red line is the "
            "PostgresConnectionsSaturated threshold.",
            UNIT["ratio"],
            [
                Q(
                    f"sum by (target) ({_dedup(c.PG_CONNECTIONS, target=TARGET)})\n/ on (target)\n"
                    f"{agg('max', c.PG_MAX_CONNECTIONS, ('target',), target=TARGET)}",
                    "{{target}}",
                )
            ],
            limit=t.pg_connections_ratio,
            max_value=1,
        ),
        P(
            "Deadlocks per second",
            "Deadlocks detected per database; any is worth a look (PostgresDeadlocks).",
            PER_S,
            [
                Q(
                    f"max {by(c.PG_DEADLOCKS, 'target', 'datname')} "
                    f"(rate({sel(c.PG_DEADLOCKS, target=TARGET)}[{RI}]))",
                    "{{target}} {{datname}}",
                )
            ],
        ),
        P(
            "Longest transaction",
            "Age of the oldest open transaction: long ones hold locks and block vacuum.",
            UNIT["seconds"],
            [Q(_dedup(c.PG_LONGEST_TRANSACTION, target=TARGET), "{{target}}")],
        ),
        P(
            "Replication lag",
            "Replay lag when the target is a standby (0 on a primary).",
            UNIT["seconds"],
            [Q(_dedup(c.PG_REPLICATION_LAG, target=TARGET), "{{target}}")],
        ),
        P(
            "Database size",
            "On-disk size of each database.",
            UNIT["bytes"],
            [Q(_dedup(c.PG_DATABASE_SIZE, target=TARGET), "{{target}} {{datname}}")],
        ),
    ]
    return _dashboard(
        "exporter-postgres",
        "PostgreSQL",
        "PostgreSQL targets from the exporter config.",
        panels,
        [_custom_var("target", "Target", targets)],
    )


def redis(config: Config) -> g.Dashboard:
    t = config.alerting.thresholds
    targets = [r.name for r in config.redis]
    panels = [
        P(
            "Up",
            "Whether any exporter replica reaches the target.",
            STATE,
            [Q(agg("max", c.REDIS_UP, ("target",), target=TARGET), "{{target}}")],
            kind="stat",
            up_down=True,
            width=6,
        ),
        P(
            "Last save / AOF write OK",
            "1 if the last RDB save and the last AOF write succeeded.",
            STATE,
            [
                Q(
                    agg("min", c.REDIS_RDB_LAST_SAVE_OK, ("target",), target=TARGET),
                    "{{target}} rdb",
                ),
                Q(
                    agg("min", c.REDIS_AOF_LAST_WRITE_OK, ("target",), target=TARGET),
                    "{{target}} aof",
                ),
            ],
            kind="stat",
            up_down=True,
            width=6,
        ),
        P(
            "Probe duration",
            "Time the last probe took. The red line is the collection timeout: a probe that "
            "reaches it fails.",
            UNIT["seconds"],
            [Q(_dedup(c.REDIS_PROBE_DURATION, target=TARGET), "{{target}} {{instance}}")],
            limit=config.collection.timeout_seconds,
        ),
        P(
            "Clients",
            "Connected clients, and clients blocked on BLPOP/XREAD and friends.",
            COUNT,
            [
                Q(_dedup(c.REDIS_CONNECTED_CLIENTS, target=TARGET), "{{target}} connected"),
                Q(_dedup(c.REDIS_BLOCKED_CLIENTS, target=TARGET), "{{target}} blocked"),
            ],
        ),
        P(
            "Memory",
            "Memory used and the maxmemory limit (0 means no limit).",
            UNIT["bytes"],
            [
                Q(_dedup(c.REDIS_MEMORY_USED, target=TARGET), "{{target}} used"),
                Q(_dedup(c.REDIS_MEMORY_MAX, target=TARGET), "{{target}} max"),
            ],
        ),
        P(
            "Memory used ratio",
            "Memory used over maxmemory, for targets with a limit. The red line is the "
            "RedisMemoryHigh threshold.",
            UNIT["ratio"],
            [
                Q(
                    f"{_dedup(c.REDIS_MEMORY_USED, target=TARGET)}\n/ on (target)\n"
                    f"({_dedup(c.REDIS_MEMORY_MAX, target=TARGET)} > 0)",
                    "{{target}}",
                )
            ],
            limit=t.redis_memory_ratio,
            max_value=1,
        ),
        P(
            "Evicted keys per second",
            "Keys evicted to stay under maxmemory (queues lose jobs this way).",
            PER_S,
            [
                Q(
                    f"max {by(c.REDIS_EVICTED_KEYS, 'target')} "
                    f"(rate({sel(c.REDIS_EVICTED_KEYS, target=TARGET)}[{RI}]))",
                    "{{target}}",
                )
            ],
        ),
        P(
            "Rejected connections per second",
            "Connections refused because maxclients was reached.",
            PER_S,
            [
                Q(
                    f"max {by(c.REDIS_REJECTED_CONNECTIONS, 'target')} "
                    f"(rate({sel(c.REDIS_REJECTED_CONNECTIONS, target=TARGET)}[{RI}]))",
                    "{{target}}",
                )
            ],
        ),
        P(
            "Writes since last save",
            "Writes not yet in an RDB snapshot: what a crash would lose without AOF.",
            COUNT,
            [Q(_dedup(c.REDIS_RDB_CHANGES_SINCE_SAVE, target=TARGET), "{{target}}")],
        ),
    ]
    return _dashboard(
        "exporter-redis",
        "Redis",
        "Redis targets from the exporter config.",
        panels,
        [_custom_var("target", "Target", targets)],
    )


def exporter_self_health(config: Config) -> g.Dashboard:
    ct = ("collector", "target")
    interval = config.collection.interval_seconds
    panels = [
        P(
            "Scrape up",
            "Whether Prometheus's last scrape of each exporter replica succeeded.",
            STATE,
            [Q(sel(k.UP, job=config.exporter_job), "{{instance}}")],
            kind="stat",
            up_down=True,
            width=12,
        ),
        P(
            "Build",
            "Exporter version, Python version and environment of each replica.",
            STATE,
            [
                Q(
                    agg("max", c.EXPORTER_BUILD_INFO, ("version", "python", "environment")),
                    "{{version}} py{{python}} {{environment}}",
                )
            ],
            kind="stat",
            width=12,
        ),
        P(
            "Collector up",
            "1 if the collector's last run for the target succeeded, per replica.",
            STATE,
            [Q(sel(c.EXPORTER_COLLECTOR_UP), "{{collector}} {{target}} {{instance}}")],
        ),
        P(
            "Collector duration",
            "How long each collector's last run took. The red line is the collection "
            "timeout: a run that reaches it is cancelled and counted as an error.",
            UNIT["seconds"],
            [Q(agg("max", c.EXPORTER_COLLECTOR_DURATION, ct), "{{collector}} {{target}}")],
            limit=config.collection.timeout_seconds,
        ),
        P(
            "Collector errors per second",
            "Failed or timed-out collector runs.",
            PER_S,
            [
                Q(
                    sum_rate(c.EXPORTER_COLLECTOR_ERRORS, (*ct, "instance"), RI),
                    "{{collector}} {{target}} {{instance}}",
                )
            ],
        ),
        P(
            "Seconds since last success",
            f"Age of each collector's freshest good data. The red line is three collection "
            f"intervals ({3 * interval:g} s): past it the values served are stale.",
            UNIT["seconds"],
            [
                Q(
                    f"time() - {agg('max', c.EXPORTER_COLLECTOR_LAST_SUCCESS, ct)}",
                    "{{collector}} {{target}}",
                )
            ],
            limit=3 * interval,
        ),
        P(
            "Metrics API requests per second",
            "Requests to the Kubernetes external/custom metrics APIs, by API and status code.",
            REQ_PER_S,
            [Q(sum_rate(c.METRICS_API_REQUESTS, ("api", "code"), RI), "{{api}} {{code}}")],
        ),
        P(
            "Metrics API fallbacks",
            "1 while a metrics-API metric is served from its configured fallback value "
            "because its source failed.",
            STATE,
            [Q(agg("max", c.METRICS_API_FALLBACK, ("api", "metric")), "{{api}} {{metric}}")],
        ),
    ]
    return _dashboard(
        "exporter-self-health",
        "Exporter self-health",
        "Is the exporter itself healthy: scrapes, collectors, freshness, metrics API.",
        panels,
        [],
    )


BUILDERS = {
    "platform-overview": platform_overview,
    "component-class": component_class,
    "sse-streaming": sse_streaming,
    "queues-autoscaling": queues_autoscaling,
    "gpu": gpu,
    "postgres": postgres,
    "redis": redis,
    "exporter-self-health": exporter_self_health,
}


def dashboards(config: Config) -> dict[str, dict[str, Any]]:
    """File stem -> dashboard JSON model (plain data)."""
    out = {}
    for stem, build in BUILDERS.items():
        text = json.dumps(build(config).to_json_data(), cls=DashboardEncoder)
        out[stem] = json.loads(text)
    return out


def render(config: Config) -> dict[str, str]:
    """File name -> file content (the drift test compares these with dashboards/)."""
    return {
        f"{stem}.json": json.dumps(model, indent=2, sort_keys=True) + "\n"
        for stem, model in dashboards(config).items()
    }


def generate(config: Config, out_dir: str | Path) -> list[str]:
    return write_files(out_dir, render(config))
