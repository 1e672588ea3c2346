"""PromQL built from metric specs, so dashboards and alerts never type a metric name twice.

The fragments at the end are the queries both dashboards and alerts use; each is written
here once.

Every label a query filters or groups on is checked against the spec's declared labels
(plus the ones Prometheus adds on scrape), so a typo fails at generation time rather than
as an empty panel in production.
"""

from __future__ import annotations

from collections.abc import Iterable

from exporter import catalog
from exporter.catalog import MetricSpec

# Labels Prometheus attaches to every scraped series, and `le` on histogram buckets.
SCRAPE_LABELS = frozenset({"job", "instance", "namespace", "pod", "container"})


def _check_labels(spec: MetricSpec, labels: Iterable[str], suffix: str = "") -> None:
    allowed = set(spec.labels) | SCRAPE_LABELS
    if suffix == "_bucket":
        allowed.add("le")
    unknown = [label for label in labels if label not in allowed]
    if unknown:
        raise ValueError(f"{spec.name} has no label(s) {unknown}; declared: {list(spec.labels)}")


def sel(spec: MetricSpec, suffix: str = "", **matchers: str) -> str:
    """`name_suffix{label<op>"value",...}`; a matcher value is `=~"x"`, `!="y"` or a plain
    string (meaning `="value"`)."""
    _check_labels(spec, matchers, suffix)
    parts = []
    for label, value in matchers.items():
        if value[:2] in ("=~", "!=", "!~") or value[:1] == "=":
            parts.append(f"{label}{value}")
        else:
            parts.append(f'{label}="{value}"')
    body = "{" + ", ".join(parts) + "}" if parts else ""
    return f"{spec.name}{suffix}{body}"


def by(spec: MetricSpec, *labels: str, suffix: str = "") -> str:
    """`by (a, b)` after checking the labels exist on the spec."""
    _check_labels(spec, labels, suffix)
    return f"by ({', '.join(labels)})"


def rate(spec: MetricSpec, window: str, suffix: str = "", func: str = "rate", **matchers) -> str:
    return f"{func}({sel(spec, suffix, **matchers)}[{window}])"


def max_rate(
    spec: MetricSpec, group: tuple[str, ...], window: str, func: str = "rate", **matchers: str
) -> str:
    """`max by (group) (rate(...))`: a counter's rate (or increase, deriv) over replicas."""
    return f"max {by(spec, *group)} ({rate(spec, window, func=func, **matchers)})"


def sum_rate(
    spec: MetricSpec, group: tuple[str, ...], window: str, suffix: str = "", **matchers: str
) -> str:
    inner = rate(spec, window, suffix, **matchers)
    if not group:
        return f"sum({inner})"
    return f"sum {by(spec, *group, suffix=suffix)} ({inner})"


def quantile(
    q: float, spec: MetricSpec, group: tuple[str, ...], window: str, **matchers: str
) -> str:
    """histogram_quantile over the summed bucket rates, keeping `group` labels."""
    if spec.type != "histogram":
        raise ValueError(f"{spec.name} is a {spec.type}, not a histogram")
    buckets = sum_rate(spec, (*group, "le"), window, "_bucket", **matchers)
    return f"histogram_quantile({q}, {buckets})"


def mean(spec: MetricSpec, group: tuple[str, ...], window: str, **matchers: str) -> str:
    """Average observation of a histogram over the window: sum rate / count rate."""
    total = sum_rate(spec, group, window, "_sum", **matchers)
    count = sum_rate(spec, group, window, "_count", **matchers)
    return f"{total} / {count}"


def agg(func: str, spec: MetricSpec, group: tuple[str, ...] = (), **matchers: str) -> str:
    """`func by (group) (selector)`: sum, max, min or avg of a gauge."""
    inner = sel(spec, **matchers)
    if not group:
        return f"{func}({inner})"
    return f"{func} {by(spec, *group)} ({inner})"


# --- fragments shared by dashboards and alerts ---------------------------------------------
# the status matcher for errors that count against the SLO: 5xx, and streams that broke
# after their headers went out (catalog.STREAM_ERROR_STATUS)
SERVER_ERROR = f'=~"5..|{catalog.STREAM_ERROR_STATUS}"'
# for labels that only ever hold HTTP status codes (the metrics API's, an ingress's)
HTTP_5XX = '=~"5.."'


def dedup(spec: MetricSpec, **matchers: str) -> str:
    """max over exporter replicas, keeping the metric's own labels.

    Several replicas scrape the same PostgreSQL, Redis and queues, so summing or comparing
    their raw series would count every depth and connection once per replica.
    """
    return agg("max", spec, spec.labels, **matchers)


def dedup_sum(spec: MetricSpec, group: tuple[str, ...], **matchers: str) -> str:
    """Sum over `group` of the replica-deduplicated series."""
    return f"sum {by(spec, *group)} ({dedup(spec, **matchers)})"


def streaming_routes() -> str:
    """(component_class, route) pairs that serve SSE: their request duration is the stream's."""
    spec = catalog.SSE_STREAM_DURATION
    return f"group {by(spec, 'component_class', 'route', suffix='_count')} ({sel(spec, '_count')})"


def pg_connection_ratio(**matchers: str) -> str:
    """Connections in use over max_connections, per PostgreSQL target."""
    used = dedup_sum(catalog.PG_CONNECTIONS, ("target",), **matchers)
    limit = agg("max", catalog.PG_MAX_CONNECTIONS, ("target",), **matchers)
    return f"{used}\n/ on (target)\n{limit}"
