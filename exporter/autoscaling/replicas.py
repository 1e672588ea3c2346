"""Replica proposals from one metric: a port of the HPA controller's ReplicaCalculator.

kubernetes/kubernetes pkg/controller/podautoscaler/replica_calculator.go:
`GetExternalMetricReplicas` (External Value), `GetExternalPerPodMetricReplicas` (External
AverageValue), `GetMetricReplicas`/`calcPlainMetricReplicas` (Pods AverageValue, with the
missing/unready pod rules) and `GetResourceReplicas` for the simple case the exporter's HPAs
use (all pods ready, equal requests: the observation is the average utilization in percent).

Values go through `milli()` first, as the controller works on `Quantity.MilliValue()`
integers; the tolerance test is `1 - t <= ratio <= 1 + t`. A failed metric returns a
proposal with `replicas=None` and the upstream condition reason in `error_reason`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from decimal import ROUND_CEILING, Decimal
from typing import Literal

from exporter.autoscaling.spec import MetricSpec

MAX_INT32 = 2**31 - 1


@dataclass(frozen=True)
class PodSample:
    """One pod as the controller's pod lister and metrics client see it.

    `value=None`: no sample for this pod (a "missing" pod). Failed or deleted pods are ignored;
    Pending pods count as unready.
    """

    value: float | None
    phase: Literal["Running", "Pending", "Failed"] = "Running"
    ready: bool = True
    deleted: bool = False


# External: the summed series; Pods: the per-pod average (all current pods report it) or the
# pods one by one; Resource: the average utilization in percent. None: the metric is unavailable.
Observation = float | tuple[PodSample, ...] | None


@dataclass(frozen=True)
class MetricProposal:
    """What one metric asks for, and why."""

    spec: MetricSpec
    current: float | None  # Value: the sum; AverageValue: per replica; Utilization: percent
    usage_ratio: float | None
    replicas: int | None  # None: the metric failed (see error)
    within_tolerance: bool = False
    error: str | None = None
    error_reason: str | None = None  # FailedGetExternalMetric, FailedGetPodsMetric, ...


class MetricUnavailable(Exception):
    """The metric could not be read; the message is the controller's."""


def milli(value: float) -> int:
    """Quantity.MilliValue(): the value in thousandths, rounded up."""
    return int((Decimal(repr(float(value))) * 1000).to_integral_value(rounding=ROUND_CEILING))


def within(ratio: float, tolerance: float) -> bool:
    """Tolerances.isWithin (NaN is never within, as in Go)."""
    return (1.0 - tolerance) <= ratio <= (1.0 + tolerance)


def _ceil_int32(x: float) -> int:
    return MAX_INT32 if x > MAX_INT32 else math.ceil(x)


def _div(a: float, b: float) -> float:
    # Go float64 division: x/0 is +Inf (or NaN for 0/0) instead of an exception.
    if b == 0:
        return math.nan if a == 0 else math.copysign(math.inf, a)
    return a / b


def usage_ratio_replica_count(current: int, ratio: float, ready_pods: int, tolerance: float) -> int:
    """getUsageRatioReplicaCount: ratio x ready pods; from zero replicas, ignore tolerance."""
    if current != 0:
        if within(ratio, tolerance):
            return current
        if ready_pods == 0:
            raise MetricUnavailable("no pods returned by selector while calculating replica count")
        return _ceil_int32(ratio * ready_pods)
    return math.ceil(ratio)


def external_value_replicas(
    spec_replicas: int, ready_pods: int, usage: int, target: int, tolerance: float
) -> tuple[int, float]:
    """GetExternalMetricReplicas: the summed series (milli) against a Value target (milli)."""
    ratio = _div(usage, target)
    return usage_ratio_replica_count(spec_replicas, ratio, ready_pods, tolerance), ratio


def external_per_pod_replicas(
    status_replicas: int, usage: int, target_per_pod: int, tolerance: float
) -> tuple[int, float]:
    """GetExternalPerPodMetricReplicas: the summed series against an AverageValue target."""
    ratio = _div(usage, target_per_pod * status_replicas)
    if within(ratio, tolerance):
        return status_replicas, ratio
    return math.ceil(usage / target_per_pod), ratio


def _trunc_div(total: int, n: int) -> int:
    q = abs(total) // n
    return q if total >= 0 else -q  # Go's integer division truncates toward zero


def _usage_ratio(metrics: dict[int, int], target: int) -> tuple[float, int]:
    """GetMetricUsageRatio: the integer average per pod against the target."""
    usage = _trunc_div(sum(metrics.values()), len(metrics))
    return usage / target, usage


def plain_metric_replicas(
    pods: tuple[PodSample, ...], current: int, target: int, tolerance: float
) -> tuple[int, float, int]:
    """calcPlainMetricReplicas: (replicas, usage ratio, average usage in milli)."""
    if not pods:
        raise MetricUnavailable("no pods returned by selector while calculating replica count")
    ready = 0
    unready: list[int] = []
    missing: list[int] = []
    metrics: dict[int, int] = {}
    for i, pod in enumerate(pods):  # groupPods for a non-CPU metric
        if pod.deleted or pod.phase == "Failed":
            continue
        if pod.phase == "Pending":
            unready.append(i)
            continue
        if pod.value is None:
            missing.append(i)
            continue
        metrics[i] = milli(pod.value)
        ready += 1
    if not metrics:
        raise MetricUnavailable("did not receive metrics for targeted pods (pods might be unready)")
    ratio, usage = _usage_ratio(metrics, target)
    scale_up_with_unready = bool(unready) and ratio > 1.0
    if not scale_up_with_unready and not missing:
        if within(ratio, tolerance):
            return current, ratio, usage
        return _ceil_int32(ratio * ready), ratio, usage
    if missing:
        # Scale-down: missing pods count as exactly on target; scale-up: as idle.
        fill = target if ratio < 1.0 else 0
        if ratio != 1.0:
            metrics.update({i: fill for i in missing})
    if scale_up_with_unready:
        metrics.update({i: 0 for i in unready})
    new_ratio, _ = _usage_ratio(metrics, target)
    if (
        within(new_ratio, tolerance)
        or (ratio < 1.0 and new_ratio > 1.0)
        or (ratio > 1.0 and new_ratio < 1.0)
    ):
        return current, ratio, usage  # too small a change, or the direction would flip
    new_replicas = _ceil_int32(new_ratio * len(metrics))
    if (new_ratio < 1.0 and new_replicas > current) or (new_ratio > 1.0 and new_replicas < current):
        return current, ratio, usage
    return new_replicas, ratio, usage


def resource_utilization_replicas(
    current: int, ready_pods: int, utilization: float, target: float, tolerance: float
) -> tuple[int, float, int]:
    """GetResourceReplicas with every pod ready and equal requests: ratio x ready pods."""
    if ready_pods <= 0:
        raise MetricUnavailable("did not receive metrics for targeted pods (pods might be unready)")
    percent = int(utilization)  # the controller's int32(usage * 100 / requests)
    ratio = percent / target
    if within(ratio, tolerance):
        return current, ratio, percent
    return _ceil_int32(ratio * ready_pods), ratio, percent


_ERROR_REASONS = {
    "External": "FailedGetExternalMetric",
    "Pods": "FailedGetPodsMetric",
    "Resource": "FailedGetResourceMetric",
}


def propose(
    spec: MetricSpec,
    observation: Observation,
    spec_replicas: int,
    status_replicas: int,
    ready_pods: int,
    tolerance: float,
) -> MetricProposal:
    """computeReplicasForMetric for one metric spec and what was observed for it."""
    try:
        if observation is None:
            raise MetricUnavailable(f"unable to get metric {spec.name}: no value")
        return _propose(spec, observation, spec_replicas, status_replicas, ready_pods, tolerance)
    except MetricUnavailable as exc:
        return MetricProposal(
            spec, None, None, None, error=str(exc), error_reason=_ERROR_REASONS[spec.kind]
        )


def _propose(
    spec: MetricSpec,
    obs: float | tuple[PodSample, ...],
    spec_replicas: int,
    status_replicas: int,
    ready_pods: int,
    tolerance: float,
) -> MetricProposal:
    target = milli(spec.target)
    if spec.kind == "Pods":
        pods = obs if isinstance(obs, tuple) else (PodSample(float(obs)),) * spec_replicas
        n, ratio, usage = plain_metric_replicas(pods, spec_replicas, target, tolerance)
        return MetricProposal(spec, usage / 1000, ratio, n, within(ratio, tolerance))
    if isinstance(obs, tuple):
        raise MetricUnavailable(f"{spec.kind} metric {spec.name}: takes one value, not pods")
    if spec.kind == "Resource":
        n, ratio, percent = resource_utilization_replicas(
            spec_replicas, ready_pods, obs, spec.target, tolerance
        )
        return MetricProposal(spec, float(percent), ratio, n, within(ratio, tolerance))
    usage = milli(obs)
    if spec.target_type == "Value":
        n, ratio = external_value_replicas(spec_replicas, ready_pods, usage, target, tolerance)
        return MetricProposal(spec, usage / 1000, ratio, n, within(ratio, tolerance))
    n, ratio = external_per_pod_replicas(status_replicas, usage, target, tolerance)
    per_pod = _div(usage / 1000, status_replicas)
    return MetricProposal(spec, per_pod, ratio, n, within(ratio, tolerance))
