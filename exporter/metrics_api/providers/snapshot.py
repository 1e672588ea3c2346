"""Metrics read from the exporter's own live snapshot (the catalog metrics its collectors write).

A value is refused (`Unavailable`) before the first collection, when a series it is made of
is older than `metrics_api.stale_after_intervals` collection intervals (its collector is
failing or hung), is missing or its queue is down (see `expected.py`), and when it is NaN or
infinite. Snapshot series describe the platform in the configured namespaces only: a
request in one namespace sees the series of the classes that live there (`Scope`; other
namespaces: NotFound), and carry no `pod` label (no pods metrics); an object's series are
those of its component class.

Nothing is kept between requests but the snapshot, so several exporter replicas (each with its
own collectors and snapshot) answer the same, up to one collection interval apart.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Mapping

from exporter import catalog
from exporter.config import ApiMetric, Config
from exporter.snapshot import Snapshot

from ..discovery import EXTERNAL_GROUP
from ..selectors import Selector
from .base import MetricValue, NotFound, Unavailable
from .configured import ConfiguredProvider, Request
from .expected import ExpectedSeries, expected_series


class Scope:
    """Which namespace each component class lives in (from the config), so a request in one
    namespace sees that namespace's classes only. A series without a configured class
    describes the platform in the top-level namespace."""

    def __init__(self, config: Config) -> None:
        self.top = config.namespace
        self.class_ns = {c.name: config.class_namespace(c) for c in config.component_classes}
        self.namespaces = set(config.namespaces)

    def holds(self, namespace: str, labels: Mapping[str, str]) -> bool:
        return self.class_ns.get(labels.get("component_class", ""), self.top) == namespace


class SnapshotSource:
    """Series of one catalog metric in the live snapshot, all fresh or none served.

    The series a value needs are those present and those the config says must be there
    (`expected.py`); one missing, stale, down (`queue_up 0`) or non-finite makes the whole
    value `Unavailable`: never a partial sum.

    A read costs what it returns: the labels a request pins (the object's class, `k=v` in
    the selector) pick the candidate series from the snapshot's label index, and the
    expected series are grouped by class when the source is built.
    """

    def __init__(
        self,
        metric: ApiMetric,
        snapshot: Snapshot,
        ready: Callable[[], bool],
        max_age: float,
        expected: list[ExpectedSeries],
        clock: Callable[[], float] = time.time,
        scope: Scope | None = None,
    ) -> None:
        self.name = metric.metric or metric.name
        catalog.spec(self.name)  # KeyError names an unknown metric at start, not per request
        self.snapshot = snapshot
        self.ready = ready
        self.max_age = max_age
        self.expected = expected
        self.expected_by_class: dict[str, list[ExpectedSeries]] = {}
        for exp in expected:
            self.expected_by_class.setdefault(exp.labels["component_class"], []).append(exp)
        self.clock = clock
        self.scope = scope

    def _selected(self, req: Request, labels: Mapping[str, str]) -> bool:
        return (
            all(labels.get(k) == v for k, v in req.match.items())
            and req.selector.matches(labels)
            and (self.scope is None or self.scope.holds(req.namespace, labels))
        )

    @staticmethod
    def _pinned(req: Request) -> dict[str, str]:
        """Labels every selected series must carry with that value (a superset is fine:
        `_selected` still decides; this only narrows the candidates)."""
        return {**req.selector.exact(), **req.match}

    def _stale(self, what: str, age: float) -> Unavailable:
        return Unavailable(
            f"{what} was last collected {age:.0f}s ago (stale after {self.max_age:g}s)"
        )

    def _candidates_expected(self, pinned: Mapping[str, str]) -> list[ExpectedSeries]:
        cls = pinned.get("component_class")
        return self.expected if cls is None else self.expected_by_class.get(cls, [])

    def _check_expected(
        self, req: Request, pinned: Mapping[str, str], now: float, have: set[tuple]
    ) -> None:
        for exp in self._candidates_expected(pinned):
            if not self._selected(req, exp.labels):
                continue
            what = f"{self.name}{exp.labels}"
            up = self.snapshot.timed_value(catalog.QUEUE_UP.name, exp.labels)
            if up is None:
                raise Unavailable(f"{what}: the queue has not been read yet")
            if up[0] != 1.0:
                raise Unavailable(f"{what}: the queue could not be read (queue_up 0)")
            if now - up[1] > self.max_age:
                raise self._stale(f"queue_up{exp.labels}", now - up[1])
            if exp.required and tuple(sorted(exp.labels.items())) not in have:
                raise Unavailable(f"{what} is missing from the last collection")

    async def points(self, req: Request) -> list[MetricValue]:
        if not self.ready():
            raise Unavailable("the first collection has not finished")
        now = self.clock()
        pinned = self._pinned(req)
        out = []
        stale: Unavailable | None = None
        seen = set()
        for series in self.snapshot.select(self.name, pinned):
            labels = dict(series.labels)
            if not self._selected(req, labels):
                continue
            seen.add(tuple(sorted(labels.items())))
            age = now - series.timestamp
            if age > self.max_age:
                stale = stale or self._stale(f"{self.name}{labels}", age)
                continue
            if not math.isfinite(series.value):
                raise Unavailable(f"{self.name}{labels} is {series.value}")
            out.append(MetricValue(labels, series.value, series.timestamp))
        # A queue its collector could not read (queue_up 0) is named as such, not only as
        # the stale series that follows from it 3 intervals later.
        self._check_expected(req, pinned, now, seen)
        if stale is not None:
            raise stale
        return out


class SnapshotProvider(ConfiguredProvider):
    """The `source: snapshot` metrics."""

    pods_unsupported_reason = (
        "its snapshot series carry no pod label (serve it from a promql source)"
    )

    def __init__(
        self,
        config: Config,
        snapshot: Snapshot,
        ready: Callable[[], bool],
        clock: Callable[[], float] = time.time,
    ) -> None:
        super().__init__(config, snapshot, clock)
        self.ready = ready
        self.config = config
        self.max_age = (
            config.metrics_api.stale_after_intervals * config.collection.queues.interval_seconds
        )
        self.scope = Scope(config)

    def source(self, metric: ApiMetric) -> SnapshotSource:
        expected = expected_series(self.config, metric.metric or metric.name)
        return SnapshotSource(
            metric, self.snapshot, self.ready, self.max_age, expected, self.clock, self.scope
        )

    def placeholders(self, namespace: str, selector: Selector, **extra: str) -> dict[str, str]:
        return {}  # no query to fill: the whole selector grammar matches snapshot labels

    def serves_namespace(self, namespace: str) -> bool:
        # snapshot series describe the platform in the configured namespaces only
        return namespace in self.scope.namespaces

    async def external_metric(
        self, namespace: str, metric: str, selector: Selector
    ) -> list[MetricValue]:
        """As every provider's, and a class pinned by the selector that lives in another
        namespace is NotFound (its HPA asks from its own), not an empty list."""
        self._reader("external", metric, metric)  # an unknown metric is NotFound first
        cls = selector.exact().get("component_class")
        home = self.scope.class_ns.get(cls or "")
        if home is not None and home != namespace:
            raise NotFound(
                f'the server could not find the metric "{metric}" for component class '
                f'"{cls}" in namespace "{namespace}"',
                {"name": metric, "group": EXTERNAL_GROUP, "kind": metric},
            )
        return await super().external_metric(namespace, metric, selector)

    def workload_class(self, namespace: str, kind: str, name: str) -> str | None:
        return self.workloads.get((namespace, kind, name))  # a class is in one namespace

    def object_match(self, component_class: str) -> dict[str, str]:
        return {"component_class": component_class}
