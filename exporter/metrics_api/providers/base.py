"""The metrics provider interface: what the metrics APIs (and any other caller) ask for.

Modelled on kubernetes-sigs/custom-metrics-apiserver `pkg/provider/interfaces.go`: external
metrics by namespace, metric name and label selector; custom metrics for one object by name,
for pods (one by name, or all), for a namespace; and the list of all metrics for discovery.
Nothing here knows HTTP: errors are typed exceptions (`NotFound`, `BadRequest`,
`Unavailable`) that the HTTP app maps to metav1.Status codes 404/400/503 and a gRPC caller
may map to its own status codes.

A value is fresh or the call fails: a provider never returns a partial or stale answer, only
the metric's configured fallback (flagged in `metrics_api_fallback_active`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Protocol

from ..discovery import CUSTOM_GROUP, EXTERNAL_GROUP, MetricInfo
from ..selectors import Selector


class ProviderError(Exception):
    """A call the provider cannot answer; `details` name the missing thing (for a Status)."""

    def __init__(self, message: str, details: dict | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.details = details


class NotFound(ProviderError):
    """No such metric, or no value of it for that object, namespace or pod."""


class BadRequest(ProviderError):
    """The request cannot be answered as asked (e.g. a selector the source cannot express)."""


class Unavailable(ProviderError):
    """No trustworthy value right now (source failing, stale or not yet collected) and no
    fallback configured. Also what a source raises before its provider applies fallbacks."""


@dataclass(frozen=True)
class MetricValue:
    """One value: its series labels, the value, when it was measured, the span it summarises."""

    labels: Mapping[str, str]
    value: float
    timestamp: float
    window_seconds: int | None = None


class MetricsProvider(Protocol):
    """Values for the external and custom metrics APIs. Every method raises `NotFound` for a
    metric it does not serve, and `Unavailable` when the value cannot be vouched for."""

    def list_metrics(self) -> list[MetricInfo]:
        """Every metric served, in configuration order (discovery lists these)."""
        ...

    async def external_metric(
        self, namespace: str, metric: str, selector: Selector
    ) -> list[MetricValue]:
        """The series of an external metric in `namespace` that `selector` selects."""
        ...

    async def object_metric(
        self, namespace: str, resource: str, name: str, metric: str, selector: Selector
    ) -> MetricValue:
        """A custom metric of one workload object (`resource` as the API names it, e.g.
        `deployments.apps`), its series summed."""
        ...

    async def pods_metric(
        self, namespace: str, pod: str | None, metric: str, pods: Selector, selector: Selector
    ) -> list[MetricValue]:
        """A custom metric per pod (label `pod`), sorted by pod: the pod named `pod`, or
        every pod `pods` selects; `selector` selects series when `pod` is None."""
        ...

    async def namespace_metric(
        self, namespace: str, metric: str, selector: Selector
    ) -> MetricValue:
        """A custom metric of the Namespace object, its series summed."""
        ...

    def fallback_reason(self, api: str, metric: str) -> str | None:
        """Why the metric's source is failing while its configured fallback stands in for it
        (`metrics_api_fallback_active` 1), or None. The state belongs to the metric: set by
        the first failed read, cleared by the first good one, whoever asked."""
        ...

    async def aclose(self) -> None:
        """Release connections (called once, at shutdown)."""
        ...


def unknown_metric(api: str, metric: str, kind: str) -> NotFound:
    """The NotFound for a metric name nobody serves, worded as custom-metrics-apiserver does."""
    if api == "external":
        return NotFound(
            f'the server could not find the metric "{metric}" in {EXTERNAL_GROUP}',
            {"name": metric, "group": EXTERNAL_GROUP, "kind": metric},
        )
    return NotFound(
        f'the server could not find the metric "{metric}" for {kind}',
        {"name": metric, "group": CUSTOM_GROUP, "kind": kind},
    )
