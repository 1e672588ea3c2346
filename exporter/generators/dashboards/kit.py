"""The dashboard kit: panel and query records, layout, variables, units, the datasource.

Every dashboard module describes its panels as `PanelSpec`s and hands them to `dashboard()`,
which lays them out on Grafana's grid and adds the conventions all dashboards share (checked
by tests/test_dashboards.py): a `datasource` variable, refresh 10 s, default range 1 h, every
panel with a description and a unit, rates over `$__rate_interval`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from grafanalib import core as grafana

from exporter import catalog
from exporter.config import Config
from exporter.generators.promql import (
    SERVER_ERROR,
    agg,
    by,
    dedup,
    quantile,
    sel,
    streaming_routes,
    sum_rate,
)

RATE_INTERVAL = "$__rate_interval"
DATASOURCE = {"type": "prometheus", "uid": "${datasource}"}
CLASS = '=~"$component_class"'
TARGET = '=~"$target"'
REFRESH = "10s"
TIME_RANGE = grafana.Time("now-1h", "now")
TAGS = ["exporter", "generated"]

# Grafana unit ids.
UNIT = {"seconds": "s", "bytes": "bytes", "ratio": "percentunit", "celsius": "celsius"}
REQ_PER_S = "reqps"
PER_S = "cps"  # counts per second
COUNT = "short"
STATE = "none"  # 0/1 states, shown through value mappings


@dataclass(frozen=True)
class Query:
    expr: str
    legend: str = ""


@dataclass
class PanelSpec:
    """A panel before layout: what to show, how to read it, where its limit is."""

    title: str
    description: str
    unit: str
    queries: list[Query]
    limit: float | None = None  # drawn as a red threshold line/colour
    kind: str = "timeseries"  # or "stat", or "heatmap" (one query of bucket rates by le)
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


def _targets(queries: list[Query]) -> list[grafana.Target]:
    return [
        grafana.Target(
            expr=q.expr, legendFormat=q.legend, refId=chr(ord("A") + i), datasource=DATASOURCE
        )
        for i, q in enumerate(queries)
    ]


class _Heatmap(grafana.Panel):
    """Grafana's current heatmap panel on pre-bucketed histogram rates (grafanalib only
    writes the legacy one): one cell row per bucket, `calculate` off."""

    unit: str = ""

    def to_json_data(self) -> dict[str, Any]:
        return self.panel_json(
            {
                "type": "heatmap",
                "fieldConfig": {"defaults": {"unit": self.unit}, "overrides": []},
                "options": {
                    "calculate": False,
                    "yAxis": {"unit": self.unit, "axisPlacement": "left"},
                    "rowsFrame": {"layout": "auto"},
                    "color": {
                        "mode": "scheme",
                        "scheme": "Oranges",
                        "fill": "dark",
                        "scale": "exponential",
                        "exponent": 0.5,
                        "steps": 64,
                        "reverse": False,
                    },
                    "cellGap": 1,
                    "filterValues": {"le": 1e-09},
                    "tooltip": {"mode": "single", "yHistogram": True},
                    "legend": {"show": True},
                    "exemplars": {"color": "rgba(255,0,255,0.7)"},
                },
            }
        )


def heatmap_query(spec: catalog.MetricSpec, **matchers: str) -> Query:
    """Bucket rates of a histogram by `le`, as a heatmap panel reads them."""
    return Query(sum_rate(spec, ("le",), RATE_INTERVAL, "_bucket", **matchers), "{{le}}")


def _panel(p: PanelSpec, panel_id: int, pos: dict[str, int]) -> grafana.Panel:
    common = dict(
        title=p.title,
        description=p.description,
        dataSource=DATASOURCE,
        targets=_targets(p.queries),
        id=panel_id,
        gridPos=grafana.GridPos(h=pos["h"], w=pos["w"], x=pos["x"], y=pos["y"]),
    )
    if p.kind == "heatmap":
        panel = _Heatmap(**common)
        panel.unit = p.unit
        for target in panel.targets:
            target.format = "heatmap"
    elif p.kind == "stat":
        panel = grafana.Stat(
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
        panel = grafana.TimeSeries(
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


def _layout(panels: list[PanelSpec]) -> list[grafana.Panel]:
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
def _datasource_var() -> grafana.Template:
    return grafana.Template(
        name="datasource",
        label="Data source",
        query="prometheus",
        type="datasource",
        default="Prometheus",
    )


def label_var(
    name: str,
    label: str,
    values: list[str],
    multi: bool = True,
    spec: catalog.MetricSpec | None = None,
) -> dict[str, Any]:
    """A variable listing the values of label `name` that Prometheus has (of `spec`'s series,
    or of any series), so a new class or target appears without regenerating. The config's
    `values` are the default selection and the options shown before the first query."""
    query = f"label_values({spec.name}, {name})" if spec else f"label_values({name})"
    if spec is not None:
        by(spec, name)  # the label must exist on the metric
    options = [{"text": v, "value": v, "selected": True} for v in values]
    if not multi:
        for option in options[1:]:
            option["selected"] = False
    chosen = [o["value"] for o in options if o["selected"]]
    current = (
        {"text": chosen, "value": chosen}
        if multi
        else {"text": chosen[0] if chosen else "", "value": chosen[0] if chosen else ""}
    )
    out: dict[str, Any] = {
        "type": "query",
        "name": name,
        "label": label,
        "datasource": DATASOURCE,
        "query": query,
        "refresh": 2,  # on time-range change: classes come and go
        "sort": 1,
        "multi": multi,
        "includeAll": multi,
        "current": current,
        "options": options,
        "hide": 0,
        "skipUrlSync": False,
    }
    if multi:
        out["allValue"] = ".*"
    return out


def class_var(config: Config, multi: bool = True) -> dict[str, Any]:
    return label_var(
        "component_class", "Component class", [cls.name for cls in config.component_classes], multi
    )


def class_vars(config: Config, multi: bool = True) -> list[dict[str, Any]]:
    """The class variable; with classes in several namespaces a `namespace` variable first
    (the pods' namespace, as their scrape labels it), and the class list follows it."""
    classes = class_var(config, multi)
    namespaces = list(dict.fromkeys(config.class_namespace(c) for c in config.component_classes))
    if len(namespaces) < 2:
        return [classes]
    spec = catalog.HTTP_REQUESTS
    classes["query"] = f'label_values({spec.name}{{namespace=~"$namespace"}}, component_class)'
    return [label_var("namespace", "Namespace", namespaces, True, spec), classes]


def dashboard(
    uid: str,
    title: str,
    description: str,
    panels: list[PanelSpec],
    variables: list[dict[str, Any]],
) -> grafana.Dashboard:
    return grafana.Dashboard(
        title=title,
        uid=uid,
        description=description,
        tags=TAGS,
        refresh=REFRESH,
        time=TIME_RANGE,
        timezone="browser",
        panels=_layout(panels),
        templating=grafana.Templating(list=[_datasource_var(), *variables]),
    )


# --- shared query pieces -------------------------------------------------------------------
def latency_quantile(q: float, group: tuple[str, ...]) -> str:
    """Quantile of non-streaming request latency for the selected classes."""
    buckets = (
        f"rate({sel(catalog.HTTP_REQUEST_DURATION, '_bucket', component_class=CLASS)}[{RATE_INTERVAL}])\n"
        f"  unless on (component_class, route) {streaming_routes()}"
    )
    return f"histogram_quantile({q}, sum by ({', '.join((*group, 'le'))}) (\n  {buckets}\n))"


def error_ratio(group: tuple[str, ...]) -> str:
    errors = sum_rate(
        catalog.HTTP_REQUESTS, group, RATE_INTERVAL, component_class=CLASS, status=SERVER_ERROR
    )
    total = sum_rate(catalog.HTTP_REQUESTS, group, RATE_INTERVAL, component_class=CLASS)
    # `or 0 * total`: a class with traffic and no errors shows 0 %, not a gap.
    return f"({errors}\n  or 0 * {total})\n/\n{total}"


def class_quantiles(
    spec: catalog.MetricSpec, group: tuple[str, ...], quantiles: tuple[float, ...]
) -> list[Query]:
    """One query per quantile of a histogram for the selected classes, legend "p95 <route>"."""
    return [
        Query(
            quantile(q, spec, group, RATE_INTERVAL, component_class=CLASS),
            f"p{int(q * 100)} {{{{route}}}}",
        )
        for q in quantiles
    ]


# --- panels every dependency dashboard (PostgreSQL, Redis) has -------------------------------
def target_up_panel(up: catalog.MetricSpec) -> PanelSpec:
    return PanelSpec(
        "Up",
        "Whether any exporter replica reaches the target.",
        STATE,
        [Query(agg("max", up, ("target",), target=TARGET), "{{target}}")],
        kind="stat",
        up_down=True,
        width=6,
    )


def probe_duration_panel(duration: catalog.MetricSpec, config: Config) -> PanelSpec:
    return PanelSpec(
        "Probe duration",
        "Time the last probe took. The red line is the collection timeout: a probe that "
        "reaches it fails.",
        UNIT["seconds"],
        [Query(dedup(duration, target=TARGET), "{{target}} {{instance}}")],
        limit=config.collection.health.timeout_seconds,
    )
