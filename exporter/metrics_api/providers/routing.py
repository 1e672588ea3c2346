"""The provider the metrics APIs call: each configured metric routed to its source's provider.

Adding a source kind = its provider module, one entry in `build_provider`'s table, and the
`source` value it answers to in `exporter.config.ApiMetric`.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from exporter.config import Config
from exporter.snapshot import Snapshot

from ..discovery import MetricInfo
from ..selectors import Selector
from .base import MetricsProvider, MetricValue, unknown_metric
from .configured import ConfiguredProvider
from .promql import PromqlProvider
from .snapshot import SnapshotProvider


class RoutingProvider:
    """A `MetricsProvider` that hands each call to the provider serving that metric."""

    def __init__(self) -> None:
        self.routes: dict[tuple[str, str], MetricsProvider] = {}

    def route(self, api: str, name: str, provider: MetricsProvider) -> None:
        self.routes[(api, name)] = provider

    def _provider(self, api: str, metric: str, kind: str) -> MetricsProvider:
        provider = self.routes.get((api, metric))
        if provider is None:
            raise unknown_metric(api, metric, kind)
        return provider

    def fallback_reason(self, api: str, metric: str) -> str | None:
        """Why the metric's source is failing while its fallback is served (None: it
        answered at its last read, or nobody serves it). The state is the metric's, shared by
        every caller of this provider."""
        provider = self.routes.get((api, metric))
        return None if provider is None else provider.fallback_reason(api, metric)

    def list_metrics(self) -> list[MetricInfo]:
        listed: dict[tuple[str, str], MetricInfo] = {}
        for provider in dict.fromkeys(self.routes.values()):
            listed.update({(m.api, m.name): m for m in provider.list_metrics()})
        return [listed[key] for key in self.routes]  # configuration order

    async def external_metric(
        self, namespace: str, metric: str, selector: Selector
    ) -> list[MetricValue]:
        provider = self._provider("external", metric, metric)
        return await provider.external_metric(namespace, metric, selector)

    async def object_metric(
        self, namespace: str, resource: str, name: str, metric: str, selector: Selector
    ) -> MetricValue:
        provider = self._provider("custom", metric, resource)
        return await provider.object_metric(namespace, resource, name, metric, selector)

    async def pods_metric(
        self, namespace: str, pod: str | None, metric: str, pods: Selector, selector: Selector
    ) -> list[MetricValue]:
        provider = self._provider("custom", metric, "pods")
        return await provider.pods_metric(namespace, pod, metric, pods, selector)

    async def namespace_metric(
        self, namespace: str, metric: str, selector: Selector
    ) -> MetricValue:
        provider = self._provider("custom", metric, "namespaces")
        return await provider.namespace_metric(namespace, metric, selector)

    async def aclose(self) -> None:
        for provider in dict.fromkeys(self.routes.values()):
            await provider.aclose()


def build_provider(
    config: Config,
    snapshot: Snapshot,
    ready: Callable[[], bool],
    clock: Callable[[], float] = time.time,
    cache_seconds: float = 0.0,
) -> RoutingProvider:
    """The provider for `config.metrics_api`: `ready` says the first collection is done.

    `exporter serve` builds one per process and hands it to the metrics API, the status
    board and the KEDA scaler, with `cache_seconds` the collection interval: identical
    PromQL queries are then sent at most once per interval (see `coalesce`). Metrics are
    added in configuration order (external, then custom), so their fallback flags appear in
    that order. A snapshot metric missing from the catalog raises KeyError.
    """
    providers: dict[str, ConfiguredProvider] = {
        "snapshot": SnapshotProvider(config, snapshot, ready, clock),
        "promql": PromqlProvider(config, snapshot, clock, cache_seconds),
    }
    routing = RoutingProvider()
    api_metrics = (("external", config.metrics_api.external), ("custom", config.metrics_api.custom))
    for api, metrics in api_metrics:
        for metric in metrics:
            provider = providers[metric.source]
            provider.add(api, metric)
            routing.route(api, metric.name, provider)
    return routing
