"""What every configured provider shares: metric lookup, the workload -> component-class map,
fallback values and the `metrics_api_fallback_active` flag, and the API calls themselves.

A subclass names its source (`source(metric)`, returning something with `points(request)`)
and its policy: which namespaces it serves (`serves_namespace`), how an object narrows its
series (`object_match`), and why it cannot serve pods (`pods_unsupported_reason`).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from typing import Protocol

from exporter import catalog
from exporter.config import ApiMetric, Config
from exporter.snapshot import Sample, Snapshot

from ..discovery import CUSTOM_GROUP, WORKLOAD_RESOURCES, MetricInfo
from ..selectors import Selector, SelectorError, to_promql_matchers
from .base import BadRequest, MetricValue, NotFound, Unavailable, unknown_metric

log = logging.getLogger(__name__)


@dataclass
class Request:
    """What an API call asks a source for.

    `selector` filters metric series (external `labelSelector`, custom `metricLabelSelector`,
    and for pods also the pod `labelSelector`, as Prometheus series carry pod labels through
    `labelmap` relabelling). `match` pins labels exactly (component_class of an object).
    `placeholders` fill a PromQL template.
    """

    namespace: str
    selector: Selector
    match: dict[str, str] = field(default_factory=dict)
    placeholders: dict[str, str] = field(default_factory=dict)


class Source(Protocol):
    async def points(self, req: Request) -> list[MetricValue]:
        """The selected series now, or `Unavailable`."""
        ...


@dataclass
class Answer:
    points: list[MetricValue]
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
        # why the source failed, while it fails and a fallback is configured (else None)
        self.fallback_reason: str | None = None
        self._flag(False)

    def _flag(self, on: bool, points: list[MetricValue] | None = None) -> None:
        """The fallback flag, and with served `points` the age of the oldest of them."""
        labels = {"api": self.api, "metric": self.metric.name}
        samples = [Sample(catalog.METRICS_API_FALLBACK, labels, 1.0 if on else 0.0)]
        if points:
            age = max(0.0, self.clock() - min(p.timestamp for p in points))
            samples.append(Sample(catalog.METRICS_API_VALUE_AGE, labels, age))
        self.snapshot.update(f"metrics_api/{self.api}/{self.metric.name}", samples)

    async def read(self, req: Request, fallback_labels: Mapping[str, str] | None) -> Answer:
        """The source's points; on failure the fallback (one point with `fallback_labels`) or
        Unavailable. `fallback_labels=None`: the answer has no single series a fallback could
        stand for (a list of pods), so failure is always Unavailable."""
        try:
            points = await self.source.points(req)
            if not points and self.metric.require_series:
                raise Unavailable("the source has no series for this request (stale inputs?)")
        except Unavailable as exc:
            # The flag is the metric's, not the caller's: on while its source fails and a
            # fallback is configured, whoever asked (API, status board, KEDA scaler) and
            # whether or not this answer could be the fallback (a list of pods cannot).
            on = self.metric.fallback is not None
            self._flag(on)
            self.fallback_reason = str(exc) if on else None
            if not on or fallback_labels is None:
                raise
            point = MetricValue(dict(fallback_labels), self.metric.fallback, self.clock())
            return Answer([point], fallback=True, reason=str(exc))
        self._flag(False, points)
        self.fallback_reason = None
        return Answer(points, fallback=False)


def placeholders(namespace: str, selector: Selector, **extra: str) -> dict[str, str]:
    """PromQL template values; a selector PromQL cannot express is a BadRequest."""
    try:
        matchers = to_promql_matchers(selector)
    except SelectorError as exc:
        raise BadRequest(str(exc)) from None
    return {"namespace": namespace, "selector": matchers, **extra}


def summed(values: list[MetricValue]) -> MetricValue:
    """Several series describing one object add up; the result is as old as the oldest."""
    return MetricValue(
        {},
        sum(v.value for v in values),
        min(v.timestamp for v in values),
        values[0].window_seconds,
    )


class ConfiguredProvider:
    """A `MetricsProvider` for the configured metrics of one source kind (see `add`)."""

    # Set by a provider whose series carry no `pod` label: pods metrics are then NotFound.
    pods_unsupported_reason: str | None = None

    def __init__(
        self, config: Config, snapshot: Snapshot, clock: Callable[[], float] = time.time
    ) -> None:
        self.namespace = config.namespace
        self.namespaces = config.namespaces  # the top-level one and every class's
        self.snapshot = snapshot
        self.clock = clock
        self.readers: dict[tuple[str, str], Reader] = {}
        # (namespace, kind, name) -> class; a workload name may recur in another namespace
        self.workloads = {
            (config.class_namespace(c), c.workload.kind, c.workload.name): c.name
            for c in config.component_classes
        }
        self._anywhere = {(kind, name): c for (_, kind, name), c in self.workloads.items()}

    # --- what a subclass provides -------------------------------------------------------------
    def source(self, metric: ApiMetric) -> Source:
        raise NotImplementedError

    def serves_namespace(self, namespace: str) -> bool:
        return True

    def object_match(self, component_class: str) -> dict[str, str]:
        return {}

    def workload_class(self, namespace: str, kind: str, name: str) -> str | None:
        """The class running that workload in `namespace`; None: none this provider serves.
        A provider serving every namespace also finds the workload by kind and name alone."""
        found = self.workloads.get((namespace, kind, name))
        if found is None and self.serves_namespace(namespace):
            found = self._anywhere.get((kind, name))
        return found

    def placeholders(self, namespace: str, selector: Selector, **extra: str) -> dict[str, str]:
        """Values for the source's query; a selector it cannot express is a BadRequest."""
        return placeholders(namespace, selector, **extra)

    async def aclose(self) -> None:
        return None

    # --- configuration --------------------------------------------------------------------
    def add(self, api: str, metric: ApiMetric) -> None:
        """Serve `metric` on `api` ("external" or "custom"); its fallback flag starts at 0."""
        reader = Reader(api, metric, self.source(metric), self.snapshot, self.clock)
        self.readers[(api, metric.name)] = reader

    def fallback_reason(self, api: str, metric: str) -> str | None:
        """Why `metric`'s source failed at its last read, while it fails and the metric has a
        fallback (its `metrics_api_fallback_active` is 1); None when it answered, or when
        this provider does not serve it."""
        reader = self.readers.get((api, metric))
        return None if reader is None else reader.fallback_reason

    def list_metrics(self) -> list[MetricInfo]:
        kinds = {kind for kind, _ in self._anywhere}
        pods = () if self.pods_unsupported_reason else ("pods",)
        workloads = tuple(
            resource
            for resource, (kind, _) in WORKLOAD_RESOURCES.items()
            if kind in kinds and "." in resource  # discovery lists group-qualified names
        )
        custom = (*pods, "namespaces", *workloads)
        return [
            MetricInfo("external", name)
            if api == "external"
            else MetricInfo("custom", name, custom)
            for api, name in self.readers
        ]

    # --- the calls ------------------------------------------------------------------------
    def _reader(self, api: str, metric: str, kind: str) -> Reader:
        reader = self.readers.get((api, metric))
        if reader is None:
            raise unknown_metric(api, metric, kind)
        return reader

    def _check_namespace(self, metric: str, namespace: str) -> None:
        if not self.serves_namespace(namespace):
            served = ", ".join(f'"{ns}"' for ns in self.namespaces)
            plural = "s" if len(self.namespaces) > 1 else ""
            raise NotFound(
                f'metric "{metric}" is served for namespace{plural} {served} only, '
                f'not "{namespace}"',
                {"name": metric, "kind": "namespaces"},
            )

    async def _read(
        self, reader: Reader, req: Request, fallback_labels: Mapping[str, str] | None
    ) -> list[MetricValue]:
        try:
            answer = await reader.read(req, fallback_labels)
        except Unavailable as exc:
            raise Unavailable(f'metric "{reader.metric.name}" is unavailable: {exc}') from None
        if answer.fallback:
            log.debug("serving fallback for %s: %s", reader.metric.name, answer.reason)
        window = reader.metric.window_seconds
        if window is None:
            return answer.points
        return [replace(p, window_seconds=window) for p in answer.points]

    async def external_metric(
        self, namespace: str, metric: str, selector: Selector
    ) -> list[MetricValue]:
        reader = self._reader("external", metric, metric)
        self._check_namespace(metric, namespace)
        req = Request(namespace, selector, placeholders=self.placeholders(namespace, selector))
        return await self._read(reader, req, selector.exact())

    async def pods_metric(
        self, namespace: str, pod: str | None, metric: str, pods: Selector, selector: Selector
    ) -> list[MetricValue]:
        reader = self._reader("custom", metric, "pods")
        if self.pods_unsupported_reason:
            raise NotFound(
                f'metric "{metric}" is not available for pods: {self.pods_unsupported_reason}',
                {"name": metric, "group": CUSTOM_GROUP, "kind": "pods"},
            )
        both = Selector(pods.requirements + selector.requirements)
        req = Request(
            namespace, both, placeholders=self.placeholders(namespace, both, name=pod or "*")
        )
        # a fallback stands for one named pod; for all pods there is no knowing which exist
        values = await self._read(reader, req, {"pod": pod} if pod else None)
        out = [
            v
            for v in sorted(values, key=lambda v: v.labels.get("pod", ""))
            if v.labels.get("pod") and (pod is None or v.labels["pod"] == pod)
        ]
        if pod and not out:
            raise NotFound(
                f'the server could not find the metric "{metric}" for pods "{pod}"',
                {"name": pod, "kind": "pods"},
            )
        return out

    async def object_metric(
        self, namespace: str, resource: str, name: str, metric: str, selector: Selector
    ) -> MetricValue:
        if resource not in WORKLOAD_RESOURCES:
            raise unknown_metric("custom", metric, resource)
        reader = self._reader("custom", metric, resource)
        kind, _ = WORKLOAD_RESOURCES[resource]
        component_class = self.workload_class(namespace, kind, name)
        if component_class is None:
            raise NotFound(
                f'the server could not find the metric "{metric}" for {resource} "{name}": '
                f"no component class in namespace {namespace!r} runs that {kind}",
                {"name": name, "group": "apps", "kind": resource},
            )
        req = Request(
            namespace,
            selector,
            match=self.object_match(component_class),
            placeholders=self.placeholders(
                namespace, selector, name=name, resource=resource, component_class=component_class
            ),
        )
        values = await self._read(reader, req, {})
        if not values:
            raise NotFound(
                f'the server could not find the metric "{metric}" for {resource} "{name}"',
                {"name": name, "group": "apps", "kind": resource},
            )
        return summed(values)

    async def namespace_metric(
        self, namespace: str, metric: str, selector: Selector
    ) -> MetricValue:
        reader = self._reader("custom", metric, "namespaces")
        self._check_namespace(metric, namespace)
        req = Request(namespace, selector, placeholders=self.placeholders(namespace, selector))
        values = await self._read(reader, req, {})
        if not values:
            raise NotFound(
                f'the server could not find the metric "{metric}" for namespace "{namespace}"',
                {"name": namespace, "kind": "namespaces"},
            )
        return summed(values)
