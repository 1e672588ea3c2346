"""Metrics read by instant PromQL queries against Prometheus' HTTP API.

A query is the metric's configured template with `{namespace}`, `{selector}` and, for
objects, `{name}`, `{resource}`, `{component_class}` filled in. The same API serves Thanos,
Mimir and VictoriaMetrics: `prometheus` config adds a path prefix, extra headers (a Mimir
tenant's X-Scope-OrgID), basic auth or a bearer token file, a CA file and a client certificate. A Prometheus error or timeout,
an unreadable bearer-token file, a result that is not a vector or scalar, and a NaN/Inf value
all count as `Unavailable` (-> the metric's fallback, or 503).
"""

from __future__ import annotations

import base64
import math
import ssl
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING

from exporter.config import ApiMetric, Config, PrometheusSource
from exporter.snapshot import Snapshot

from .base import MetricValue, Unavailable
from .configured import ConfiguredProvider, Request

if TYPE_CHECKING:  # httpx (and the click it pulls in) loads on the first query, not at start
    import httpx


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
        self.url = query_url(prometheus)
        self.timeout = prometheus.timeout_seconds
        self.prometheus = prometheus
        self.client = client

    def _headers(self) -> dict[str, str]:
        return {**self.prometheus.headers, **auth_headers(self.prometheus)}

    async def points(self, req: Request) -> list[MetricValue]:
        import httpx

        query = render_query(self.template, req.placeholders)
        try:
            resp = await self.client().get(
                self.url, params={"query": query}, headers=self._headers(), timeout=self.timeout
            )
        except httpx.TimeoutException:
            raise Unavailable(f"Prometheus did not answer within {self.timeout:g}s") from None
        except (httpx.HTTPError, OSError, ValueError) as exc:
            # OSError: an ssl.SSLError while reading (a TLS 1.3 peer rejecting our client
            # certificate after the handshake) escapes httpx's own exception mapping.
            raise Unavailable(f"Prometheus query failed: {type(exc).__name__}") from None
        try:
            body = resp.json()
        except ValueError:  # e.g. a gateway's plain-text 401
            body = {}
        if resp.status_code != 200 or body.get("status") != "success":
            raise Unavailable(
                f"Prometheus answered {resp.status_code}: {body.get('errorType', '')} "
                f"{body.get('error', '')}".strip()
            )
        return parse_result(body.get("data", {}))


def query_url(prometheus: PrometheusSource) -> str:
    """The instant-query endpoint: base URL, then path_prefix (Mimir's /prometheus...)."""
    return prometheus.url.rstrip("/") + prometheus.path_prefix + "/api/v1/query"


def auth_headers(prometheus: PrometheusSource) -> dict[str, str]:
    """Authorization from bearer_token_file or basic_auth, read per query (tokens and
    passwords rotate); an unreadable secret is Unavailable, its value never in the message."""
    if prometheus.bearer_token_file:
        try:
            token = Path(prometheus.bearer_token_file).read_text().strip()
        except OSError as exc:
            raise Unavailable(f"cannot read prometheus.bearer_token_file: {exc.strerror}") from None
        return {"Authorization": f"Bearer {token}"}
    if prometheus.basic_auth:
        try:
            password = prometheus.basic_auth.password()
        except ValueError as exc:
            raise Unavailable(f"prometheus.basic_auth: {exc}") from None
        pair = f"{prometheus.basic_auth.username}:{password.get_secret_value() if password else ''}"
        return {"Authorization": "Basic " + base64.b64encode(pair.encode()).decode()}
    return {}


def tls_context(prometheus: PrometheusSource) -> ssl.SSLContext:
    """Server verification against ca_file (else the system CAs), with the client
    certificate when cert_file/key_file are set."""
    context = ssl.create_default_context(cafile=prometheus.ca_file)
    if prometheus.cert_file and prometheus.key_file:
        context.load_cert_chain(prometheus.cert_file, prometheus.key_file)
    return context


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
            import httpx

            self._http = httpx.AsyncClient(
                limits=httpx.Limits(max_connections=20), verify=tls_context(self.prometheus)
            )
        return self._http

    def source(self, metric: ApiMetric) -> PromqlSource:
        return PromqlSource(metric, self.prometheus, self.http_client)

    async def aclose(self) -> None:
        if self._http is not None:
            await self._http.aclose()
