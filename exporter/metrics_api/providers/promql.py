"""Metrics read by instant PromQL queries against Prometheus' HTTP API.

A query is the metric's configured template with `{namespace}`, `{selector}` and, for
objects, `{name}`, `{resource}`, `{component_class}` filled in. A Prometheus error or timeout,
an unreadable bearer-token file, a result that is not a vector or scalar, and a NaN/Inf value
all count as `Unavailable` (-> the metric's fallback, or 503).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Mapping
from pathlib import Path

import httpx

from exporter.config import ApiMetric, Config, PrometheusSource
from exporter.snapshot import Snapshot

from .base import MetricValue, Unavailable
from .configured import ConfiguredProvider, Request


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

    async def points(self, req: Request) -> list[MetricValue]:
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
        return parse_result(body.get("data", {}))


def parse_result(data: Mapping) -> list[MetricValue]:
    """The `data` of a query response as values; anything but a finite vector or scalar is
    Unavailable."""
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
        out.append(MetricValue(labels, value, float(ts)))
    return out


class PromqlProvider(ConfiguredProvider):
    """The `source: promql` metrics; one HTTP connection pool for all their queries."""

    def __init__(
        self, config: Config, snapshot: Snapshot, clock: Callable[[], float] = time.time
    ) -> None:
        super().__init__(config, snapshot, clock)
        self.prometheus = config.prometheus
        self._http: httpx.AsyncClient | None = None

    def http_client(self) -> httpx.AsyncClient:
        # created on first use, inside the serving event loop
        if self._http is None:
            self._http = httpx.AsyncClient(limits=httpx.Limits(max_connections=20))
        return self._http

    def source(self, metric: ApiMetric) -> PromqlSource:
        return PromqlSource(metric, self.prometheus, self.http_client)

    async def aclose(self) -> None:
        if self._http is not None:
            await self._http.aclose()
