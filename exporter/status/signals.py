"""One scaling signal read the way the HPA controller reads it: through the metrics-API provider.

An External metric of the class's HPA model is asked for as the controller asks
`external.metrics.k8s.io`: `<metric>` with the metric's selector (`component_class=<class>`),
series summed. A Pods metric is asked for as the controller asks `custom.metrics.k8s.io`:
`pods/*/<metric>` with the scale target's pod selector, one value per pod. Both go through
the process's one provider, so the page shows exactly what the HPA would get: a fresh value,
the configured fallback (flagged, with the reason the source failed), or no value and why.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from exporter.autoscaling import MetricSpec, PodSample
from exporter.autoscaling.model import ClassAutoscaler
from exporter.config import Config
from exporter.metrics_api.providers import NotFound, ProviderError, RoutingProvider
from exporter.metrics_api.selectors import Selector, equals


@dataclass(frozen=True)
class Reading:
    """What the HPA would read for one signal now.

    `value` is None when the API would refuse it (`unavailable` says why, in the provider's
    words). External: the sum of the selected series. Pods: the mean of the per-pod values in
    `pods` ((pod, value) pairs, sorted by pod). `fallback` is True when the value is the
    metric's configured fallback, and `fallback_reason` why the source failed. `age` is
    seconds since the oldest series used was measured; `series` how many were used.
    """

    metric: str
    source: str  # snapshot | promql | "" when the metrics API does not serve it
    value: float | None
    age: float | None
    series: int
    fallback: bool = False
    fallback_reason: str | None = None
    unavailable: str | None = None
    kind: str = "External"
    pods: tuple[tuple[str, float], ...] = ()

    def observation(self, current: int, live: bool) -> float | tuple[PodSample, ...] | None:
        """What the controller's replica calculator gets for this signal.

        Pods: one sample per reporting pod, plus, when the live HPA counts more replicas than
        pods report (`live`), the rest as pods without a sample ("missing" pods, which
        upstream counts as on target when scaling down and as idle when scaling up).
        """
        if self.value is None:
            return None
        if self.kind != "Pods":
            return self.value
        samples = [PodSample(v) for _, v in self.pods]
        if live and current > len(samples):
            samples += [PodSample(None)] * (current - len(samples))
        return tuple(samples)


def metric_source(config: Config, metric: str, api: str = "external") -> str:
    """The configured `source` of a metric on `api`, or "" when it is not served there."""
    served = config.metrics_api.external if api == "external" else config.metrics_api.custom
    for m in served:
        if m.name == metric:
            return m.source
    return ""


DISABLED = "the metrics API is disabled (metrics_api.enabled: false): the HPA gets no value"
NO_POD_METRICS = "no metrics returned from custom metrics API"  # the controller's words


def _selector(pairs: tuple[tuple[str, str], ...]) -> Selector:
    return equals(pairs)


async def read_signal(
    provider: RoutingProvider | None,
    config: Config,
    model: ClassAutoscaler,
    spec: MetricSpec,
    clock=time.time,
    namespace: str | None = None,
) -> Reading:
    """The signal `spec` of the class's HPA model, as the controller's API call returns it.

    Never raises for a provider failure: an unavailable or unknown metric is a `Reading`
    with `value=None` and the reason. `provider=None`: the metrics API is off. `namespace`:
    the class's (its HPA asks from there); None: the top-level one.
    """
    api = "custom" if spec.kind == "Pods" else "external"
    source = metric_source(config, spec.name, api)
    empty = Reading(spec.name, source, None, None, 0, kind=spec.kind)
    ns = namespace or config.namespace
    if provider is None:
        return _unavailable(empty, DISABLED)
    try:
        if spec.kind == "Pods":
            points = await provider.pods_metric(
                ns, None, spec.name, _selector(model.pod_selector), Selector()
            )
        else:
            points = await provider.external_metric(ns, spec.name, _selector(spec.selector))
    except NotFound as exc:
        reason = exc.message if source else f"not served by this exporter: {exc.message}"
        return _unavailable(empty, reason)
    except ProviderError as exc:
        return _unavailable(empty, exc.message)
    if not points:
        if spec.kind == "Pods":
            return _unavailable(empty, f"{NO_POD_METRICS} for pods {model.pod_selector_text()}")
        selected = ",".join(f"{k}={v}" for k, v in spec.selector)
        return _unavailable(empty, f"no series of {spec.name} with {selected}")
    fallback_reason = provider.fallback_reason(api, spec.name)
    age = max(0.0, clock() - min(p.timestamp for p in points))
    if spec.kind == "Pods":
        pods = tuple((p.labels.get("pod", ""), p.value) for p in points)
        value = sum(v for _, v in pods) / len(pods)
        return Reading(spec.name, source, value, age, len(points), kind="Pods", pods=pods)
    return Reading(
        spec.name,
        source,
        sum(p.value for p in points),
        age,
        len(points),
        fallback=fallback_reason is not None,
        fallback_reason=fallback_reason,
    )


def _unavailable(empty: Reading, reason: str) -> Reading:
    return Reading(empty.metric, empty.source, None, None, 0, unavailable=reason, kind=empty.kind)
