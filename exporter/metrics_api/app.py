"""The aggregated API server: external.metrics.k8s.io/v1beta1 and custom.metrics.k8s.io/v1beta2.

A plain ASGI app (no framework routing: every path is matched here, so every miss is a
metav1.Status and the hot path stays short). Order per request: health paths (no auth) ->
authentication -> method -> Accept -> route -> source. Values are read from the snapshot or
PromQL through `sources.Reader`; the app itself keeps only request counters.

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
from urllib.parse import parse_qs

import httpx

from exporter import catalog
from exporter.config import ApiMetric, Config
from exporter.snapshot import Sample, Snapshot

from . import discovery
from .auth import FrontProxyAuth, Identity, anonymous
from .quantity import UnrepresentableValue, format_quantity
from .selectors import Selector, SelectorError, parse, to_label_selector, to_promql_matchers
from .sources import Answer, Point, PromqlSource, Reader, Request, SnapshotSource, Unavailable
from .status import ApiError

log = logging.getLogger(__name__)

HEALTH_PATHS = {"/healthz", "/livez", "/readyz"}
_DNS_LABEL = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?")
_DNS_SUBDOMAIN = re.compile(r"[a-z0-9]([-a-z0-9.]*[a-z0-9])?")
JSON = [(b"content-type", b"application/json"), (b"cache-control", b"no-cache, private")]
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
        media, *params = (p.strip() for p in part.split(";"))
        media = media.lower()
        q = 1.0
        for p in params:
            if p.lower().startswith("q="):
                try:
                    q = float(p[2:])
                except ValueError:
                    q = 0.0
        if media == "application/json" and q <= 0:
            return False  # JSON explicitly refused
        if media in ("*/*", "application/*", "application/json") and q > 0:
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
        config: Config,
        snapshot: Snapshot,
        ready: Callable[[], bool],
        auth: FrontProxyAuth | None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.config = config
        self.snapshot = snapshot
        self.auth = auth
        self.clock = clock
        self.namespace = config.namespace
        self._http: httpx.AsyncClient | None = None
        self._counts: dict[tuple[str, str], float] = {}
        interval = config.collection.interval_seconds

        def reader(api: str, m: ApiMetric) -> Reader:
            src: SnapshotSource | PromqlSource
            if m.source == "snapshot":
                src = SnapshotSource(m, snapshot, ready, interval, clock)
            else:
                src = PromqlSource(m, config.prometheus, self.http_client)
            return Reader(api, m, src, snapshot, clock)

        self.external = {m.name: reader("external", m) for m in config.metrics_api.external}
        self.custom = {m.name: reader("custom", m) for m in config.metrics_api.custom}
        self.workloads = {
            (c.workload.kind, c.workload.name): c.name for c in config.component_classes
        }
        # Discovery never changes while we run: serialise once.
        self._docs = {
            "/apis": json.dumps(discovery.api_group_list()).encode(),
        }
        for group in discovery.VERSIONS:
            self._docs[f"/apis/{group}"] = json.dumps(discovery.api_group(group)).encode()
            self._docs[f"/apis/{group}/{discovery.VERSIONS[group]}"] = json.dumps(
                discovery.api_resource_list(group, config)
            ).encode()

    def http_client(self) -> httpx.AsyncClient:
        # created on first use, inside the serving event loop
        if self._http is None:
            self._http = httpx.AsyncClient(limits=httpx.Limits(max_connections=20))
        return self._http

    async def aclose(self) -> None:
        if self._http is not None:
            await self._http.aclose()

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
        path = scope["path"]
        if path in HEALTH_PATHS:
            await _send(send, 200, b"ok", [(b"content-type", b"text/plain")])
            return
        api = _api_of(path)
        try:
            identity = self._authenticate(scope)
            if scope["method"] not in ("GET", "HEAD"):
                raise ApiError(405, f"{scope['method']} is not supported: this API is read-only")
            headers = dict(scope["headers"])
            accept = headers.get(b"accept", b"").decode("latin-1")
            if not accepts_json(accept):
                raise ApiError(406, f"only application/json is served, not {accept!r}")
            query = parse_qs(scope["query_string"].decode("latin-1"), keep_blank_values=True)
            if log.isEnabledFor(logging.DEBUG):
                log.debug("%s %s for %s %s", scope["method"], path, identity.user, identity.groups)
            body = await self._route(path, query)
            code = 200
        except ApiError as err:
            code, body = err.code, json.dumps(err.body()).encode()
        except Exception:  # a bug must still answer as a Status, and be logged once
            log.exception("metrics API request %s failed", path)
            code = 500
            body = json.dumps(ApiError(500, "internal error").body()).encode()
        self._count(api, code)
        await _send(send, code, b"" if scope["method"] == "HEAD" else body, JSON)

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
            parts = path[len(EXT) :].split("/")
            if len(parts) == 3 and parts[0] == "namespaces":
                return await self._external(parts[1], parts[2], query)
        elif path.startswith(CUS):
            parts = path[len(CUS) :].split("/")
            if len(parts) == 5 and parts[0] == "namespaces":
                _, ns, resource, name, metric = parts
                if resource == "pods":
                    return await self._pods(ns, name, metric, query)
                return await self._object(ns, resource, name, metric, query)
            if len(parts) == 4 and parts[0] == "namespaces" and parts[2] == "metrics":
                return await self._namespace(parts[1], parts[3], query)
        raise ApiError(404, f"the server could not find the requested resource ({path})")

    @staticmethod
    def _selector(query: dict[str, list[str]], name: str) -> Selector:
        values = query.get(name) or [""]
        try:
            return parse(values[0])
        except SelectorError as exc:
            raise ApiError(400, f"invalid {name} {values[0]!r}: {exc}") from None

    def _reader(self, readers: dict[str, Reader], group: str, metric: str) -> Reader:
        r = readers.get(metric)
        if r is None:
            raise ApiError(
                404,
                f'the server could not find the metric "{metric}" in {group}',
                {"name": metric, "group": group, "kind": metric},
            )
        return r

    async def _answer(self, reader: Reader, req: Request, fallback_labels: dict | None) -> Answer:
        try:
            answer = await reader.read(req, fallback_labels)
        except Unavailable as exc:
            raise ApiError(503, f'metric "{reader.metric.name}" is unavailable: {exc}') from None
        if answer.fallback:
            log.debug("serving fallback for %s: %s", reader.metric.name, answer.reason)
        return answer

    def _snapshot_namespace(self, reader: Reader, ns: str) -> None:
        # snapshot series describe the platform in the configured namespace only
        if isinstance(reader.source, SnapshotSource) and ns != self.namespace:
            raise ApiError(
                404,
                f'metric "{reader.metric.name}" is served for namespace '
                f'"{self.namespace}" only, not "{ns}"',
                {"name": reader.metric.name, "kind": "namespaces"},
            )

    @staticmethod
    def _quantity(reader: Reader, value: float) -> str:
        try:
            return format_quantity(value)
        except UnrepresentableValue as exc:
            raise ApiError(503, f'metric "{reader.metric.name}" is unavailable: {exc}') from None

    # --- external.metrics.k8s.io ----------------------------------------------------------
    async def _external(self, ns: str, metric: str, query: dict[str, list[str]]) -> bytes:
        ns = _valid_name("namespace", ns)
        reader = self._reader(self.external, discovery.EXTERNAL_GROUP, metric)
        selector = self._selector(query, "labelSelector")
        self._snapshot_namespace(reader, ns)
        req = Request(ns, selector, placeholders=self._placeholders(ns, selector))
        answer = await self._answer(reader, req, selector.exact())
        window = reader.metric.window_seconds
        items = []
        for p in answer.points:
            item = {
                "metricName": metric,
                "metricLabels": dict(p.labels),
                "timestamp": rfc3339(p.timestamp),
                "value": self._quantity(reader, p.value),
            }
            if window:
                item["window"] = window
            items.append(item)
        return json.dumps(
            {
                "kind": "ExternalMetricValueList",
                "apiVersion": f"{discovery.EXTERNAL_GROUP}/{discovery.EXTERNAL_VERSION}",
                "metadata": {},
                "items": items,
            }
        ).encode()

    @staticmethod
    def _placeholders(ns: str, selector: Selector, **extra: str) -> dict[str, str]:
        try:
            matchers = to_promql_matchers(selector)
        except SelectorError as exc:
            raise ApiError(400, str(exc)) from None
        return {"namespace": ns, "selector": matchers, **extra}

    # --- custom.metrics.k8s.io ------------------------------------------------------------
    def _value_list(self, reader: Reader, items: list[tuple[dict, Point]], sel: Selector) -> bytes:
        metric: dict = {"name": reader.metric.name}
        if not sel.empty():
            try:
                metric["selector"] = to_label_selector(sel)
            except SelectorError as exc:
                raise ApiError(400, f"invalid metricLabelSelector: {exc}") from None
        out = []
        for described, p in items:
            item = {
                "describedObject": described,
                "metric": metric,
                "timestamp": rfc3339(p.timestamp),
                "value": self._quantity(reader, p.value),
            }
            if reader.metric.window_seconds:
                item["windowSeconds"] = reader.metric.window_seconds
            out.append(item)
        return json.dumps(
            {
                "kind": "MetricValueList",
                "apiVersion": f"{discovery.CUSTOM_GROUP}/{discovery.CUSTOM_VERSION}",
                "metadata": {},
                "items": out,
            }
        ).encode()

    @staticmethod
    def _sum(points: list[Point]) -> Point:
        """Several series describing one object add up; the result is as old as the oldest."""
        return Point({}, sum(p.value for p in points), min(p.timestamp for p in points))

    async def _pods(self, ns: str, pod: str, metric: str, query: dict[str, list[str]]) -> bytes:
        ns = _valid_name("namespace", ns)
        if pod != "*":
            pod = _valid_name("pod", pod, _DNS_SUBDOMAIN)
        reader = self._custom_reader(metric, "pods")
        pods_sel = self._selector(query, "labelSelector")
        metric_sel = self._selector(query, "metricLabelSelector")
        if not isinstance(reader.source, PromqlSource):
            raise ApiError(
                404,
                f'metric "{metric}" is not available for pods: its snapshot series carry no '
                "pod label (serve it from a promql source)",
                {"name": metric, "group": discovery.CUSTOM_GROUP, "kind": "pods"},
            )
        both = Selector(pods_sel.requirements + metric_sel.requirements)
        req = Request(ns, both, placeholders=self._placeholders(ns, both, name=pod))
        # a fallback stands for one named pod; for "*" there is no knowing which pods exist
        answer = await self._answer(reader, req, {"pod": pod} if pod != "*" else None)
        items = []
        for p in sorted(answer.points, key=lambda p: p.labels.get("pod", "")):
            name = p.labels.get("pod")
            if not name or (pod != "*" and name != pod):
                continue
            described = {"kind": "Pod", "namespace": ns, "name": name, "apiVersion": "v1"}
            items.append((described, p))
        if pod != "*" and not items:
            raise ApiError(
                404,
                f'the server could not find the metric "{metric}" for pods "{pod}"',
                {"name": pod, "kind": "pods"},
            )
        return self._value_list(reader, items, metric_sel)

    def _custom_reader(self, metric: str, kind: str) -> Reader:
        reader = self.custom.get(metric)
        if reader is None:
            raise ApiError(
                404,
                f'the server could not find the metric "{metric}" for {kind}',
                {"name": metric, "group": discovery.CUSTOM_GROUP, "kind": kind},
            )
        return reader

    async def _object(
        self, ns: str, resource: str, name: str, metric: str, query: dict[str, list[str]]
    ) -> bytes:
        ns = _valid_name("namespace", ns)
        name = _valid_name(resource, name, _DNS_SUBDOMAIN)
        if resource not in discovery.WORKLOAD_RESOURCES:
            raise ApiError(
                404,
                f'the server could not find the metric "{metric}" for {resource}',
                {"name": metric, "group": discovery.CUSTOM_GROUP, "kind": resource},
            )
        reader = self._custom_reader(metric, resource)
        kind, api_version = discovery.WORKLOAD_RESOURCES[resource]
        cls = self.workloads.get((kind, name))
        if cls is None or (isinstance(reader.source, SnapshotSource) and ns != self.namespace):
            raise ApiError(
                404,
                f'the server could not find the metric "{metric}" for {resource} "{name}": '
                f"no component class in namespace {ns!r} runs that {kind}",
                {"name": name, "group": "apps", "kind": resource},
            )
        sel = self._selector(query, "metricLabelSelector")
        req = Request(
            ns,
            sel,
            match={"component_class": cls} if isinstance(reader.source, SnapshotSource) else {},
            placeholders=self._placeholders(
                ns, sel, name=name, resource=resource, component_class=cls
            ),
        )
        answer = await self._answer(reader, req, {})
        if not answer.points:
            raise ApiError(
                404,
                f'the server could not find the metric "{metric}" for {resource} "{name}"',
                {"name": name, "group": "apps", "kind": resource},
            )
        described = {"kind": kind, "namespace": ns, "name": name, "apiVersion": api_version}
        return self._value_list(reader, [(described, self._sum(answer.points))], sel)

    async def _namespace(self, ns: str, metric: str, query: dict[str, list[str]]) -> bytes:
        ns = _valid_name("namespace", ns)
        reader = self._custom_reader(metric, "namespaces")
        self._snapshot_namespace(reader, ns)
        sel = self._selector(query, "metricLabelSelector")
        req = Request(ns, sel, placeholders=self._placeholders(ns, sel))
        answer = await self._answer(reader, req, {})
        if not answer.points:
            raise ApiError(
                404,
                f'the server could not find the metric "{metric}" for namespace "{ns}"',
                {"name": ns, "kind": "namespaces"},
            )
        # The Namespace object is cluster-scoped: its reference carries no namespace.
        described = {"kind": "Namespace", "name": ns, "apiVersion": "v1"}
        return self._value_list(reader, [(described, self._sum(answer.points))], sel)


def _api_of(path: str) -> str:
    if path.startswith(EXT):
        return discovery.EXTERNAL_GROUP
    if path.startswith(CUS):
        return discovery.CUSTOM_GROUP
    return "discovery"


async def _send(send, code: int, body: bytes, headers: list[tuple[bytes, bytes]]) -> None:
    await send(
        {
            "type": "http.response.start",
            "status": code,
            "headers": [*headers, (b"content-length", str(len(body)).encode())],
        }
    )
    await send({"type": "http.response.body", "body": body})


def create_app(
    config: Config,
    snapshot: Snapshot,
    ready: Callable[[], bool],
    auth: FrontProxyAuth | None,
    clock: Callable[[], float] = time.time,
) -> MetricsApiApp:
    return MetricsApiApp(config, snapshot, ready, auth, clock)
