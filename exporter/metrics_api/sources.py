"""Where metrics-API values come from: the live snapshot or a PromQL query.

A source returns `Point`s (labels, value, timestamp) or raises `Unavailable`. It never hands
out a value it cannot vouch for: a snapshot series older than `STALE_AFTER_INTERVALS`
collection intervals (its collector is failing or hung), a snapshot before the first
collection, a Prometheus error or timeout, and a NaN/Inf result all count as unavailable.
`Reader` then serves the configured fallback (flagged in `metrics_api_fallback_active`) or
lets the API answer 503.

Sources keep no state between requests apart from what the snapshot holds, so several
exporter replicas (each with its own collectors and snapshot, reading the same queues and
the same Prometheus) give the same answers, up to one collection interval apart.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from exporter import catalog
from exporter.config import ApiMetric, PrometheusSource
from exporter.snapshot import Sample, Snapshot

from .selectors import Selector

# A series this many collection intervals old is treated as lost, not as the current value.
STALE_AFTER_INTERVALS = 3


class Unavailable(Exception):
    """The source cannot give a trustworthy value right now (-> fallback or 503)."""


@dataclass(frozen=True)
class Point:
    labels: Mapping[str, str]
    value: float
    timestamp: float


@dataclass
class Request:
    """What a metrics-API call asks a source for.

    `selector` filters metric series (external `labelSelector`, custom `metricLabelSelector`,
    and for pods also the pod `labelSelector`, as Prometheus series carry pod labels through
    `labelmap` relabelling). `match` pins labels exactly (component_class of an object).
    `placeholders` fill a PromQL template.
    """

    namespace: str
    selector: Selector
    match: dict[str, str] = field(default_factory=dict)
    placeholders: dict[str, str] = field(default_factory=dict)


class SnapshotSource:
    """Series of one catalog metric in the live snapshot, fresh to the collection interval."""

    def __init__(
        self,
        metric: ApiMetric,
        snapshot: Snapshot,
        ready: Callable[[], bool],
        interval: float,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.name = metric.metric or metric.name
        catalog.spec(self.name)  # KeyError names an unknown metric at start, not per request
        self.snapshot = snapshot
        self.ready = ready
        self.max_age = STALE_AFTER_INTERVALS * interval
        self.clock = clock

    async def points(self, req: Request) -> list[Point]:
        if not self.ready():
            raise Unavailable("the first collection has not finished")
        now = self.clock()
        out = []
        for s in self.snapshot.series(self.name):
            labels = dict(s.labels)
            if any(labels.get(k) != v for k, v in req.match.items()):
                continue
            if not req.selector.matches(labels):
                continue
            age = now - s.timestamp
            if age > self.max_age:
                raise Unavailable(
                    f"{self.name}{labels} was last collected {age:.0f}s ago "
                    f"(stale after {self.max_age:g}s)"
                )
            if math.isnan(s.value) or math.isinf(s.value):
                raise Unavailable(f"{self.name}{labels} is {s.value}")
            out.append(Point(labels, s.value, s.timestamp))
        return out


def render_query(template: str, placeholders: Mapping[str, str]) -> str:
    """Fill `{namespace}`, `{selector}`, `{name}`... and nothing else: PromQL's own braces stay.

    Every value is a validated namespace, object name or label matcher list, so none can
    break out of a quoted string.
    """
    out = template
    for key, value in placeholders.items():
        out = out.replace("{" + key + "}", value)
    return out


class PromqlSource:
    """An instant query against Prometheus' HTTP API, with the configured timeout."""

    def __init__(
        self,
        metric: ApiMetric,
        prometheus: PrometheusSource,
        client: Callable[[], httpx.AsyncClient],
    ) -> None:
        assert metric.query
        self.template = metric.query
        self.url = prometheus.url.rstrip("/") + "/api/v1/query"
        self.timeout = prometheus.timeout_seconds
        self.token_file = prometheus.bearer_token_file
        self.client = client

    def _headers(self) -> dict[str, str]:
        if not self.token_file:
            return {}
        try:  # read per query: projected service-account tokens rotate
            token = Path(self.token_file).read_text().strip()
        except OSError as exc:
            raise Unavailable(f"cannot read prometheus.bearer_token_file: {exc.strerror}") from None
        return {"Authorization": f"Bearer {token}"}

    async def points(self, req: Request) -> list[Point]:
        query = render_query(self.template, req.placeholders)
        try:
            resp = await self.client().get(
                self.url, params={"query": query}, headers=self._headers(), timeout=self.timeout
            )
            body = resp.json()
        except httpx.TimeoutException:
            raise Unavailable(f"Prometheus did not answer within {self.timeout:g}s") from None
        except (httpx.HTTPError, ValueError) as exc:
            raise Unavailable(f"Prometheus query failed: {type(exc).__name__}") from None
        if resp.status_code != 200 or body.get("status") != "success":
            raise Unavailable(
                f"Prometheus answered {resp.status_code}: {body.get('errorType', '')} "
                f"{body.get('error', '')}".strip()
            )
        return _parse_result(body.get("data", {}))


def _parse_result(data: Mapping) -> list[Point]:
    kind, result = data.get("resultType"), data.get("result")
    if kind == "scalar":
        rows = [{"metric": {}, "value": result}]
    elif kind == "vector":
        rows = result or []
    else:
        raise Unavailable(f"the query must return a vector or scalar, got {kind}")
    out = []
    for row in rows:
        ts, raw = row["value"]
        value = float(raw)
        if math.isnan(value) or math.isinf(value):
            raise Unavailable(f"the query returned {raw} for {row.get('metric', {})}")
        labels = {k: v for k, v in row.get("metric", {}).items() if k != "__name__"}
        out.append(Point(labels, value, float(ts)))
    return out


Source = SnapshotSource | PromqlSource


@dataclass
class Answer:
    points: list[Point]
    fallback: bool
    reason: str = ""


class Reader:
    """One configured metric: its source, its fallback, and its fallback flag."""

    def __init__(
        self,
        api: str,
        metric: ApiMetric,
        source: Source,
        snapshot: Snapshot,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.api = api
        self.metric = metric
        self.source = source
        self.snapshot = snapshot
        self.clock = clock
        self._flag(False)

    def _flag(self, on: bool) -> None:
        labels = {"api": self.api, "metric": self.metric.name}
        sample = Sample(catalog.METRICS_API_FALLBACK, labels, 1.0 if on else 0.0)
        self.snapshot.update(f"metrics_api/{self.api}/{self.metric.name}", [sample])

    async def read(self, req: Request, fallback_labels: Mapping[str, str] | None) -> Answer:
        """The source's points; on failure the fallback (one point with `fallback_labels`) or
        Unavailable. `fallback_labels=None`: the answer has no single series a fallback could
        stand for (a list of pods), so failure is always Unavailable."""
        try:
            points = await self.source.points(req)
            if not points and self.metric.require_series:
                raise Unavailable("the source has no series for this request (stale inputs?)")
        except Unavailable as exc:
            if self.metric.fallback is None or fallback_labels is None:
                self._flag(False)
                raise
            self._flag(True)
            point = Point(dict(fallback_labels), self.metric.fallback, self.clock())
            return Answer([point], fallback=True, reason=str(exc))
        self._flag(False)
        return Answer(points, fallback=False)
