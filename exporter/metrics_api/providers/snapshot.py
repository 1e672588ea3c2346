"""Metrics read from the exporter's own live snapshot (the catalog metrics its collectors write).

A value is refused (`Unavailable`) before the first collection, when a selected series is
older than `STALE_AFTER_INTERVALS` collection intervals (its collector is failing or hung), and
when it is NaN or infinite. Snapshot series describe the platform in the configured namespace
only (other namespaces: NotFound) and carry no `pod` label (no pods metrics); an object's
series are those of its component class.

Nothing is kept between requests but the snapshot, so several exporter replicas (each with its
own collectors and snapshot) answer the same, up to one collection interval apart.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable

from exporter import catalog
from exporter.config import ApiMetric, Config
from exporter.snapshot import Snapshot

from .base import MetricValue, Unavailable
from .configured import ConfiguredProvider, Request

# A series this many collection intervals old is treated as lost, not as the current value.
STALE_AFTER_INTERVALS = 3


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

    async def points(self, req: Request) -> list[MetricValue]:
        if not self.ready():
            raise Unavailable("the first collection has not finished")
        now = self.clock()
        out = []
        for series in self.snapshot.series(self.name):
            labels = dict(series.labels)
            if any(labels.get(k) != v for k, v in req.match.items()):
                continue
            if not req.selector.matches(labels):
                continue
            age = now - series.timestamp
            if age > self.max_age:
                raise Unavailable(
                    f"{self.name}{labels} was last collected {age:.0f}s ago "
                    f"(stale after {self.max_age:g}s)"
                )
            if math.isnan(series.value) or math.isinf(series.value):
                raise Unavailable(f"{self.name}{labels} is {series.value}")
            out.append(MetricValue(labels, series.value, series.timestamp))
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
        self.interval = config.collection.interval_seconds

    def source(self, metric: ApiMetric) -> SnapshotSource:
        return SnapshotSource(metric, self.snapshot, self.ready, self.interval, self.clock)

    def serves_namespace(self, namespace: str) -> bool:
        # snapshot series describe the platform in the configured namespace only
        return namespace == self.namespace

    def object_match(self, component_class: str) -> dict[str, str]:
        return {"component_class": component_class}
