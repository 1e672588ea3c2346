"""The aggregated API server: external.metrics.k8s.io/v1beta1 and custom.metrics.k8s.io/v1beta2.

A plain ASGI app (no framework routing: every path is matched here, so every miss is a
metav1.Status and the hot path stays short). Order per request: health paths (no auth) ->
authentication -> method -> Accept -> route -> provider. Values come from a
`providers.MetricsProvider` (snapshot or PromQL per metric; its NotFound / BadRequest /
Unavailable become 404 / 400 / 503 Status bodies); the app itself keeps only request counters.

Paths (what the HPA controller's custom/external metrics clients request):
  /apis/external.metrics.k8s.io/v1beta1/namespaces/{ns}/{metric}?labelSelector=
  /apis/custom.metrics.k8s.io/v1beta2/namespaces/{ns}/pods/{pod|*}/{metric}
        ?labelSelector=<pods>&metricLabelSelector=<series>
  /apis/custom.metrics.k8s.io/v1beta2/namespaces/{ns}/{resource}/{name}/{metric}
  /apis/custom.metrics.k8s.io/v1beta2/namespaces/{ns}/metrics/{metric}   (the Namespace object)
"""

from __future__ import annotations

import json
import logging
import re
import time
from collections.abc import Callable

from exporter import catalog
from exporter.asgi import GET_HEAD, respond
from exporter.config import Config
from exporter.snapshot import Sample, Snapshot

from . import discovery
from .auth import FrontProxyAuth, Identity, anonymous
from .providers import (
    BadRequest,
    MetricsProvider,
    MetricValue,
    NotFound,
    ProviderError,
    Unavailable,
    build_provider,
)
from .quantity import UnrepresentableValue, format_quantity
from .request import check_sizes, path_of, query_of, segments
from .selectors import Selector, SelectorError, parse, to_label_selector
from .status import ApiError

log = logging.getLogger(__name__)

HEALTH_PATHS = {"/healthz", "/livez", "/readyz"}
_DNS_LABEL = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?")
_DNS_SUBDOMAIN = re.compile(r"[a-z0-9]([-a-z0-9.]*[a-z0-9])?")
JSON_TYPE = b"application/json"
NO_CACHE = [(b"cache-control", b"no-cache, private")]
# The provider's typed errors as Status codes (the provider itself knows no HTTP); any
# other ProviderError is a bug, answered 500.
PROVIDER_ERROR_CODES: dict[type[ProviderError], int] = {
    NotFound: 404,
    BadRequest: 400,
    Unavailable: 503,
}
EXT = f"/apis/{discovery.EXTERNAL_GROUP}/{discovery.EXTERNAL_VERSION}/"
CUS = f"/apis/{discovery.CUSTOM_GROUP}/{discovery.CUSTOM_VERSION}/"


def rfc3339(ts: float) -> str:
    """metav1.Time's JSON form: UTC, whole seconds."""
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(ts))


def accepts_json(accept: str | None) -> bool:
    """True when the Accept list admits JSON (any parameters, e.g. `;as=Table`, allowed)."""
    if not accept or not accept.strip():
        return True
    admitted = False
    for part in accept.split(","):
        media, *params = (piece.strip() for piece in part.split(";"))
        media = media.lower()
        quality = 1.0
        for param in params:
            if param.lower().startswith("q="):
                try:
                    quality = float(param[2:])
                except ValueError:
                    quality = 0.0
        if media == "application/json" and quality <= 0:
            return False  # JSON explicitly refused
        if media in ("*/*", "application/*", "application/json") and quality > 0:
            admitted = True
    return admitted


def _valid_name(kind: str, value: str, pattern: re.Pattern[str] = _DNS_LABEL) -> str:
    if len(value) > 253 or not pattern.fullmatch(value):
        raise ApiError(400, f"invalid {kind} name {value!r}")
    return value


class MetricsApiApp:
    """ASGI app for both metrics API groups; build with `create_app`."""

    def __init__(
        self,
        snapshot: Snapshot,
        provider: MetricsProvider,
        auth: FrontProxyAuth | None,
        owns_provider: bool = True,
    ) -> None:
        self.snapshot = snapshot
        self.provider = provider
        self._owns_provider = owns_provider
        self.auth = auth
        self._counts: dict[tuple[str, str], float] = {}
        # Discovery never changes while we run: serialise once.
        metrics = provider.list_metrics()
        self._docs = {
            "/apis": json.dumps(discovery.api_group_list()).encode(),
        }
        for group in discovery.VERSIONS:
            self._docs[f"/apis/{group}"] = json.dumps(discovery.api_group(group)).encode()
            self._docs[f"/apis/{group}/{discovery.VERSIONS[group]}"] = json.dumps(
                discovery.api_resource_list(group, metrics)
            ).encode()

    async def aclose(self) -> None:
        if self._owns_provider:  # a shared provider is closed by whoever built it
            await self.provider.aclose()

    # --- ASGI ---------------------------------------------------------------------------
    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] == "lifespan":
            while True:
                msg = await receive()
                if msg["type"] == "lifespan.startup":
                    await send({"type": "lifespan.startup.complete"})
                elif msg["type"] == "lifespan.shutdown":
                    await self.aclose()
                    await send({"type": "lifespan.shutdown.complete"})
                    return
        if scope["type"] != "http":
            return
        path = path_of(scope)  # undecoded: segments are decoded once, in _route
        if path in HEALTH_PATHS:
            await respond(send, 200, b"ok", b"text/plain", head=scope["method"] == "HEAD")
            return
        api = _api_of(path)
        try:
            check_sizes(scope)
            identity = self._authenticate(scope)
            if scope["method"] not in ("GET", "HEAD"):
                raise ApiError(405, f"{scope['method']} is not supported: this API is read-only")
            headers = dict(scope["headers"])
            accept = headers.get(b"accept", b"").decode("latin-1")
            if not accepts_json(accept):
                raise ApiError(406, f"only application/json is served, not {accept!r}")
            query = query_of(scope)
            if log.isEnabledFor(logging.DEBUG):
                log.debug("%s %s for %s %s", scope["method"], path, identity.user, identity.groups)
            body = await self._route(path, query)
            code = 200
        except ProviderError as err:
            code = PROVIDER_ERROR_CODES.get(type(err), 500)
            body = json.dumps(ApiError(code, err.message, err.details).body()).encode()
        except ApiError as err:
            code, body = err.code, json.dumps(err.body()).encode()
        except Exception:  # a bug must still answer as a Status, and be logged once
            log.exception("metrics API request %s failed", path[:200])
            code = 500
            body = json.dumps(ApiError(500, "internal error").body()).encode()
        self._count(api, code)
        extra = [(b"allow", GET_HEAD)] if code == 405 else []
        await respond(
            send, code, body, JSON_TYPE, [*NO_CACHE, *extra], head=scope["method"] == "HEAD"
        )

    def _authenticate(self, scope) -> Identity:
        if self.auth is None:
            return anonymous()
        tls = scope.get("extensions", {}).get("tls")
        return self.auth.authenticate(tls, scope["headers"])

    def _count(self, api: str, code: int) -> None:
        key = (api, str(code))
        self._counts[key] = self._counts.get(key, 0.0) + 1
        self.snapshot.update(
            f"metrics_api/requests/{api}/{code}",
            [
                Sample(
                    catalog.METRICS_API_REQUESTS, {"api": api, "code": str(code)}, self._counts[key]
                )
            ],
        )

    # --- routing ------------------------------------------------------------------------
    async def _route(self, path: str, query: dict[str, list[str]]) -> bytes:
        doc = self._docs.get(path.rstrip("/"))
        if doc is not None:
            return doc
        if path.startswith(EXT):
            parts = segments(path[len(EXT) :])
            if len(parts) == 3 and parts[0] == "namespaces":
                return await self._external(parts[1], parts[2], query)
        elif path.startswith(CUS):
            parts = segments(path[len(CUS) :])
            if len(parts) == 5 and parts[0] == "namespaces":
                _, ns, resource, name, metric = parts
                if resource == "pods":
                    return await self._pods(ns, name, metric, query)
                return await self._object(ns, resource, name, metric, query)
            if len(parts) == 4 and parts[0] == "namespaces" and parts[2] == "metrics":
                return await self._namespace(parts[1], parts[3], query)
        raise ApiError(404, f"the server could not find the requested resource ({path[:200]})")

    @staticmethod
    def _selector(query: dict[str, list[str]], name: str) -> Selector:
        values = query.get(name) or [""]
        try:
            return parse(values[0])
        except SelectorError as exc:
            raise ApiError(400, f"invalid {name} {values[0]!r}: {exc}") from None

    @staticmethod
    def _quantity(metric: str, value: float) -> str:
        try:
            return format_quantity(value)
        except UnrepresentableValue as exc:
            raise ApiError(503, f'metric "{metric}" is unavailable: {exc}') from None

    def _item(self, head: dict, metric: str, value: MetricValue, window_key: str) -> dict:
        """One item of a value list: `head`, then timestamp, value and the window if any."""
        item = {
            **head,
            "timestamp": rfc3339(value.timestamp),
            "value": self._quantity(metric, value.value),
        }
        if value.window_seconds:
            item[window_key] = value.window_seconds
        return item

    # --- external.metrics.k8s.io ----------------------------------------------------------
    async def _external(self, ns: str, metric: str, query: dict[str, list[str]]) -> bytes:
        ns = _valid_name("namespace", ns)
        selector = self._selector(query, "labelSelector")
        values = await self.provider.external_metric(ns, metric, selector)
        items = [
            self._item(
                {"metricName": metric, "metricLabels": dict(value.labels)}, metric, value, "window"
            )
            for value in values
        ]
        return _value_list("ExternalMetricValueList", discovery.EXTERNAL_GROUP, items)

    # --- custom.metrics.k8s.io ------------------------------------------------------------
    def _custom_list(
        self, metric: str, items: list[tuple[dict, MetricValue]], selector: Selector
    ) -> bytes:
        described_metric: dict = {"name": metric}
        if not selector.empty():
            try:
                described_metric["selector"] = to_label_selector(selector)
            except SelectorError as exc:
                raise ApiError(400, f"invalid metricLabelSelector: {exc}") from None
        out = [
            self._item(
                {"describedObject": described, "metric": described_metric},
                metric,
                value,
                "windowSeconds",
            )
            for described, value in items
        ]
        return _value_list("MetricValueList", discovery.CUSTOM_GROUP, out)

    async def _pods(self, ns: str, pod: str, metric: str, query: dict[str, list[str]]) -> bytes:
        ns = _valid_name("namespace", ns)
        if pod != "*":
            pod = _valid_name("pod", pod, _DNS_SUBDOMAIN)
        pods_selector = self._selector(query, "labelSelector")
        metric_selector = self._selector(query, "metricLabelSelector")
        values = await self.provider.pods_metric(
            ns, None if pod == "*" else pod, metric, pods_selector, metric_selector
        )
        items = [
            (
                {"kind": "Pod", "namespace": ns, "name": value.labels["pod"], "apiVersion": "v1"},
                value,
            )
            for value in values
        ]
        return self._custom_list(metric, items, metric_selector)

    async def _object(
        self, ns: str, resource: str, name: str, metric: str, query: dict[str, list[str]]
    ) -> bytes:
        ns = _valid_name("namespace", ns)
        name = _valid_name(resource, name, _DNS_SUBDOMAIN)
        selector = self._selector(query, "metricLabelSelector")
        value = await self.provider.object_metric(ns, resource, name, metric, selector)
        kind, api_version = discovery.WORKLOAD_RESOURCES[resource]
        described = {"kind": kind, "namespace": ns, "name": name, "apiVersion": api_version}
        return self._custom_list(metric, [(described, value)], selector)

    async def _namespace(self, ns: str, metric: str, query: dict[str, list[str]]) -> bytes:
        ns = _valid_name("namespace", ns)
        selector = self._selector(query, "metricLabelSelector")
        value = await self.provider.namespace_metric(ns, metric, selector)
        # The Namespace object is cluster-scoped: its reference carries no namespace.
        described = {"kind": "Namespace", "name": ns, "apiVersion": "v1"}
        return self._custom_list(metric, [(described, value)], selector)


def _value_list(kind: str, group: str, items: list[dict]) -> bytes:
    return json.dumps(
        {
            "kind": kind,
            "apiVersion": f"{group}/{discovery.VERSIONS[group]}",
            "metadata": {},
            "items": items,
        }
    ).encode()


def _api_of(path: str) -> str:
    if path.startswith(EXT):
        return discovery.EXTERNAL_GROUP
    if path.startswith(CUS):
        return discovery.CUSTOM_GROUP
    return "discovery"


def create_app(
    config: Config,
    snapshot: Snapshot,
    ready: Callable[[], bool],
    auth: FrontProxyAuth | None,
    clock: Callable[[], float] = time.time,
    provider: MetricsProvider | None = None,
) -> MetricsApiApp:
    """The app serving `config.metrics_api`'s metrics from their configured sources.

    `provider`: the process's one provider (`exporter serve` shares it with the status
    board and the KEDA scaler; its owner closes it); None builds one the app owns."""
    if provider is not None:
        return MetricsApiApp(snapshot, provider, auth, owns_provider=False)
    return MetricsApiApp(snapshot, build_provider(config, snapshot, ready, clock), auth)
