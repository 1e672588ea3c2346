"""One scaling signal read the way the HPA reads it: through the metrics-API provider.

A class's HPA asks the external metrics API for `<metric>` with the label selector
`component_class=<class>` and sums the series (External AverageValue). This module makes the
same provider call, so the page shows exactly what the HPA would get: a fresh value, the
configured fallback (flagged, with the reason the source failed), or no value and why.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from exporter.config import Config
from exporter.metrics_api.providers import NotFound, ProviderError, RoutingProvider
from exporter.metrics_api.selectors import equals


@dataclass(frozen=True)
class Reading:
    """What the HPA would read for one signal now.

    `value` is None when the API would refuse it (`unavailable` says why, in the provider's
    words). `fallback` is True when the value is the metric's configured fallback, and
    `fallback_reason` why the source failed. `age` is seconds since the oldest series summed
    was measured.
    """

    metric: str
    source: str  # snapshot | promql | "" when the metrics API does not serve it
    value: float | None
    age: float | None
    series: int
    fallback: bool = False
    fallback_reason: str | None = None
    unavailable: str | None = None


def metric_source(config: Config, metric: str) -> str:
    """The configured `source` of an external metric, or "" when it is not served."""
    for m in config.metrics_api.external:
        if m.name == metric:
            return m.source
    return ""


def _fallback_reason(provider: RoutingProvider, metric: str) -> str | None:
    served_by = provider.routes.get(("external", metric))
    reader = getattr(served_by, "readers", {}).get(("external", metric))
    return getattr(reader, "fallback_reason", None)


DISABLED = "the metrics API is disabled (metrics_api.enabled: false): the HPA gets no value"


async def read_signal(
    provider: RoutingProvider | None,
    config: Config,
    component_class: str,
    metric: str,
    clock=time.time,
    namespace: str | None = None,
) -> Reading:
    """The summed external metric for the class, as the HPA's API call would return it.

    Never raises for a provider failure: an unavailable or unknown metric is a `Reading`
    with `value=None` and the reason. `provider=None`: the metrics API is off. `namespace`:
    the class's (its HPA asks from there); None: the top-level one.
    """
    source = metric_source(config, metric)
    if provider is None:
        return Reading(metric, source, None, None, 0, unavailable=DISABLED)
    selector = equals("component_class", component_class)
    try:
        points = await provider.external_metric(namespace or config.namespace, metric, selector)
    except NotFound as exc:
        reason = exc.message if source else f"not served by this exporter: {exc.message}"
        return Reading(metric, source, None, None, 0, unavailable=reason)
    except ProviderError as exc:
        return Reading(metric, source, None, None, 0, unavailable=exc.message)
    if not points:
        reason = f"no series of {metric} with component_class={component_class}"
        return Reading(metric, source, None, None, 0, unavailable=reason)
    fallback_reason = _fallback_reason(provider, metric)
    oldest = min(p.timestamp for p in points)
    return Reading(
        metric,
        source,
        sum(p.value for p in points),
        max(0.0, clock() - oldest),
        len(points),
        fallback=fallback_reason is not None,
        fallback_reason=fallback_reason,
    )
