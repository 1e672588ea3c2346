"""Metrics read by instant PromQL queries against Prometheus' HTTP API.

A query is the metric's configured template with `{namespace}`, `{selector}` and, for
objects, `{name}`, `{resource}`, `{component_class}` filled in. The same API serves Thanos,
Mimir and VictoriaMetrics: `prometheus` config adds a path prefix, extra headers (a Mimir
tenant's X-Scope-OrgID), basic auth or a bearer token file, a CA file and a client
certificate. A Prometheus error or timeout, an unreadable secret, and an answer that is too
big or not of the documented shape (`promql_answer`: strict schema, finite values, at most
`prometheus.max_series` series) all count as `Unavailable` (-> the metric's fallback, or
503), the latter with one log line naming the query.
"""

from __future__ import annotations

import asyncio
import base64
import json
import logging
import ssl
import time
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING

from exporter.config import ApiMetric, Config, PrometheusSource
from exporter.snapshot import Snapshot

from .base import MetricValue, Unavailable
from .coalesce import AnswerCache
from .configured import ConfiguredProvider, Request
from .promql_answer import SMALL_BODY, AnswerError, parse_answer

log = logging.getLogger(__name__)

# How each row's value starts in Prometheus' compact JSON. A label value cannot hold an
# unescaped quote and a labels object holds no arrays, so it marks rows and nothing else.
ROW_MARK = b'"value":['

# Answers are decoded in threads of their own: asyncio's default executor is shared with
# other work (collectors' blocking calls), and nothing queued there may delay an HPA's value.
_DECODE: ThreadPoolExecutor | None = None


def decode_executor() -> ThreadPoolExecutor:
    global _DECODE
    if _DECODE is None:
        _DECODE = ThreadPoolExecutor(2, thread_name_prefix="promql-decode")
    return _DECODE


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
    """An instant query against Prometheus' HTTP API, with the configured timeout.

    Identical queries are coalesced (one in flight) and, with `cache_seconds > 0`, answered
    from the last answer for that long (`coalesce.AnswerCache`): the process's one provider
    serves the metrics API, the status board and the KEDA scaler, and Prometheus sees one
    query per distinct query per interval, not one per caller."""

    def __init__(
        self,
        metric: ApiMetric,
        prometheus: PrometheusSource,
        client: Callable[[], httpx.AsyncClient],
        cache_seconds: float = 0.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        assert metric.query
        self.metric = metric.name
        self.template = metric.query
        self.url = query_url(prometheus)
        self.timeout = prometheus.timeout_seconds
        self.prometheus = prometheus
        self.max_bytes = prometheus.max_response_bytes
        self.max_series = prometheus.max_series
        self.client = client
        self._bad: dict[str, str] = {}  # query -> the reason last logged
        self.cache: AnswerCache[list[MetricValue]] = AnswerCache(cache_seconds, clock=clock)

    def _headers(self) -> dict[str, str]:
        return {**self.prometheus.headers, **auth_headers(self.prometheus)}

    async def _body(self, query: str) -> bytes:
        """The answer's bytes, read as they arrive and cut off past `max_response_bytes`."""
        client = self.client()
        request = client.build_request(
            "GET", self.url, params={"query": query}, headers=self._headers(), timeout=self.timeout
        )
        resp = await client.send(request, stream=True)
        try:
            chunks, size, rows, tail = [], 0, 0, b""
            async for chunk in resp.aiter_bytes():
                size += len(chunk)
                if size > self.max_bytes:
                    raise AnswerError(
                        f"the answer is larger than {self.max_bytes} bytes "
                        "(prometheus.max_response_bytes)"
                    )
                # rows counted on the wire: an answer over the series cap is refused before
                # any of it is decoded (the strict parser checks the exact count again)
                rows += (tail + chunk[: len(ROW_MARK) - 1]).count(ROW_MARK) + chunk.count(ROW_MARK)
                if rows > self.max_series:
                    raise AnswerError(f"more than {self.max_series} series (prometheus.max_series)")
                tail = chunk[-(len(ROW_MARK) - 1) :]
                chunks.append(chunk)
        finally:
            await resp.aclose()
        body = b"".join(chunks)
        if resp.status_code != 200:
            raise Unavailable(f"Prometheus answered {resp.status_code}: {_error_of(body)}")
        return body

    async def points(self, req: Request) -> list[MetricValue]:
        query = render_query(self.template, req.placeholders)
        return list(await self.cache.get(query, lambda: self._query(query)))

    async def _query(self, query: str) -> list[MetricValue]:
        import httpx

        try:
            async with asyncio.timeout(self.timeout):
                body = await self._body(query)
            # decoded off the event loop, one row at a time (see promql_answer)
            values = await asyncio.get_running_loop().run_in_executor(
                decode_executor(), parse_answer, body, self.max_series
            )
        except (TimeoutError, httpx.TimeoutException):
            raise Unavailable(f"Prometheus did not answer within {self.timeout:g}s") from None
        except AnswerError as exc:
            self._log_bad_answer(query, str(exc))
            raise Unavailable(f"Prometheus answered an unusable result: {exc}") from None
        except (httpx.HTTPError, OSError) as exc:
            # OSError: an ssl.SSLError while reading (a TLS 1.3 peer rejecting our client
            # certificate after the handshake) escapes httpx's own exception mapping.
            raise Unavailable(f"Prometheus query failed: {type(exc).__name__}") from None
        self._bad.pop(query, None)
        return values

    def _log_bad_answer(self, query: str, reason: str) -> None:
        """One log line naming the query and the reason, again only when the reason changes."""
        if self._bad.get(query) != reason:
            log.warning(
                'metric "%s": PromQL query %r: unusable answer: %s', self.metric, query, reason
            )
            self._bad[query] = reason


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


def _error_of(body: bytes) -> str:
    """Prometheus' errorType and error from an error body, if it has them."""
    try:
        doc = json.loads(body[:SMALL_BODY])
    except ValueError:
        return "(not a Prometheus error body)"
    if not isinstance(doc, dict):
        return "(not a Prometheus error body)"
    return f"{doc.get('errorType', '')} {doc.get('error', '')}".strip()[:300]


class PromqlProvider(ConfiguredProvider):
    """The `source: promql` metrics; one HTTP connection pool for all their queries."""

    def __init__(
        self,
        config: Config,
        snapshot: Snapshot,
        clock: Callable[[], float] = time.time,
        cache_seconds: float = 0.0,
    ) -> None:
        super().__init__(config, snapshot, clock)
        self.prometheus = config.prometheus
        self.cache_seconds = cache_seconds
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
        return PromqlSource(
            metric, self.prometheus, self.http_client, self.cache_seconds, self.clock
        )

    async def aclose(self) -> None:
        if self._http is not None:
            await self._http.aclose()
