"""Per-metric replica proposals, ported from kubernetes/kubernetes
pkg/controller/podautoscaler/replica_calculator_test.go (each row names its upstream test).

Upstream levels and targets are milli-values; here they are in units (8600 -> 8.6), which
`milli()` turns back into the same integers.
"""

from __future__ import annotations

import math

import pytest

from exporter.autoscaling import Behavior, History, HPASpec, desired_replicas
from exporter.autoscaling.replicas import PodSample, milli, propose
from exporter.autoscaling.spec import MetricSpec

EXTERNAL_VALUE = [
    # (upstream test, current replicas, ready pods, usage, Value target, expected replicas)
    ("TestReplicaCalcScaleUpCMExternal", 1, 1, 8.6, 4.4, 2),
    ("TestReplicaCalcScaleUpCMExternalIgnoresUnreadyPods", 3, 1, 8.6, 4.4, 2),
    ("TestReplicaCalcScaleUpCMExternalNoLabels", 1, 1, 8.6, 4.4, 2),
    ("TestReplicaCalcScaleDownCMExternal", 5, 5, 8.6, 14.334, 3),
    ("TestReplicaCalcToleranceCMExternal", 3, 3, 8.6, 8.888, 3),
    ("TestScaleUpCMExternal", 3, 3, 8.6, 6.666, 4),  # horizontal_test.go
]


@pytest.mark.parametrize("case,current,ready,usage,target,expected", EXTERNAL_VALUE)
def test_external_value(case, current, ready, usage, target, expected):
    spec = MetricSpec("External", "qps", "Value", target)
    p = propose(spec, usage, current, current, ready, 0.1)
    assert p.replicas == expected, case
    assert p.current == usage


EXTERNAL_AVERAGE = [
    # (upstream test, current, usage, AverageValue target, expected, expected usage per pod)
    ("TestReplicaCalcScaleUpPerPodCMExternal", 3, 8.6, 2.15, 4, 2.867),
    ("TestReplicaCalcScaleDownPerPodCMExternal", 5, 8.6, 2.867, 3, 1.720),
    ("TestReplicaCalcTolerancePerPodCMExternal", 3, 8.6, 2.9, 3, 2.867),
    ("TestScaleUpPerPodCMExternal", 3, 8.6, 2.222, 4, 2.867),  # horizontal_test.go
]


@pytest.mark.parametrize("case,current,usage,target,expected,per_pod", EXTERNAL_AVERAGE)
def test_external_average_value(case, current, usage, target, expected, per_pod):
    spec = MetricSpec("External", "qps", "AverageValue", target)
    p = propose(spec, usage, current, current, current, 0.1)
    assert p.replicas == expected, case
    # upstream reports ceil(usage / replicas) in milli-units
    assert math.ceil(milli(usage) / current) == round(per_pod * 1000)


def pods(*levels: float | None, phases: tuple[str, ...] = ()) -> tuple[PodSample, ...]:
    phases = phases or ("Running",) * len(levels)
    return tuple(PodSample(v, phase=ph) for v, ph in zip(levels, phases, strict=True))


PODS = [
    # (upstream test, current, pods, AverageValue target, expected, expected average usage)
    ("TestReplicaCalcScaleUpCM", 3, pods(20, 10, 30), 15, 4, 20),
    ("TestReplicaCalcScaleUpCMUnreadyHotCpuNoLessScale", 3, pods(50, 10, 30), 15, 6, 30),
    (
        "TestReplicaCalcScaleUpCMUnreadyHotCpuScaleWouldScaleDown",
        3,
        pods(50, 15, 30),
        15,
        7,
        31.666,
    ),
    ("TestReplicaCalcScaleDownCM", 5, pods(12, 12, 12, 12, 12), 20, 3, 12),
    ("TestReplicaCalcToleranceCM", 3, pods(20, 21, 21), 20, 3, 20.666),
    (
        "TestPlainMetricReplicaCalcMissingMetricsNoChangeEq",
        5,
        pods(20, 19, 21, None, None),
        20,
        5,
        20,
    ),
    # horizontal_test.go reconcile cases on one Pods metric (no behavior, 2..6 replicas)
    ("TestScaleUpCM", 3, pods(20, 10, 30), 15, 4, 20),
    ("TestScaleUpCMUnreadyAndHotCpuNoLessScale", 3, pods(50, 10, 30), 15, 6, 30),
]


@pytest.mark.parametrize("case,current,samples,target,expected,usage", PODS)
def test_pods_average_value(case, current, samples, target, expected, usage):
    spec = MetricSpec("Pods", "qps", "AverageValue", target)
    p = propose(spec, samples, current, current, current, 0.1)
    assert p.replicas == expected, case
    assert p.current == usage


PODS_TOLERANCE = [
    # TestReplicaCalcPodMetric (the table-driven GetMetricReplicas cases of the current
    # replica_calculator_test.go) and older podMetric cases not in PODS above:
    # (upstream case, current, pods, AverageValue target, tolerance, expected, average usage)
    ("TestReplicaCalcPodMetric/outside configurable 1% tolerance", 3, pods(20, 21, 21), 20,
     0.01, 4, 20.666),
    # pods in the list without a value are "missing": the maxSurge pod of a rolling update
    # counts as on target (scale-down direction), and 10+10+17 over 3 pods would still ask
    # for 3 > 2 replicas while below target, so the size stays
    ("TestReplicaCalcPodMetric/rolling update with maxSurge: extra pod missing metric", 2,
     pods(10, 10, None), 17, 0.1, 2, 10),
    ("TestReplicaCalcScaleUpCMExternal (podMetric)", 1, pods(8.6), 4.4, 0.1, 2, 8.6),
    ("TestReplicaCalcScaleUpCMExternalNoLabels (podMetric)", 1, pods(8.6), 4.4, 0.1, 2, 8.6),
]  # fmt: skip


@pytest.mark.parametrize("case,current,samples,target,tolerance,expected,usage", PODS_TOLERANCE)
def test_pods_average_value_upstream_table(
    case, current, samples, target, tolerance, expected, usage
):
    spec = MetricSpec("Pods", "qps", "AverageValue", target)
    p = propose(spec, samples, current, current, current, tolerance)
    assert p.replicas == expected, case
    assert p.current == usage


def test_pods_errors_are_the_controllers():
    """calcPlainMetricReplicas' two errors, under FailedGetPodsMetric (horizontal.go's
    reason for a Pods metric), and a failed read holds the size in a whole sync."""
    spec = MetricSpec("Pods", "qps", "AverageValue", 10)
    none = propose(spec, (), 3, 3, 3, 0.1)
    assert none.error == "no pods returned by selector while calculating replica count"
    pending = propose(spec, pods(5, 5, phases=("Pending", "Pending")), 2, 2, 2, 0.1)
    assert pending.error == "did not receive metrics for targeted pods (pods might be unready)"
    assert {none.error_reason, pending.error_reason} == {"FailedGetPodsMetric"}
    hpa = HPASpec(1, 10, (spec,), Behavior())
    d = desired_replicas(hpa, 3, {"qps": None}, History(), 0.0)
    assert (d.replicas, d.reason) == (3, "FailedGetPodsMetric")
    assert (
        d.message
        == "the HPA was unable to compute the replica count: unable to get metric qps: no value"
    )


def test_pods_missing_and_pending_pods_follow_the_upstream_rules():
    spec = MetricSpec("Pods", "qps", "AverageValue", 10)
    # scale-up with a missing pod: it counts as idle, so 2 reporting pods at 30 -> ceil(60/30)
    up = propose(spec, pods(30, 30, None), 3, 3, 3, 0.1)
    assert up.replicas == 6  # (30+30+0)/3 = 20 -> ratio 2 over 3 pods
    # scale-up with a Pending pod: counted as 0 too
    pending = propose(spec, pods(30, 30, 5, phases=("Running", "Running", "Pending")), 3, 3, 3, 0.1)
    assert pending.replicas == 6
    # Failed pods are ignored entirely
    failed = propose(spec, pods(30, 30, 5, phases=("Running", "Running", "Failed")), 3, 3, 3, 0.1)
    assert failed.replicas == 6  # 30/10 x 2 ready pods
    # scale-down with a missing pod: it counts as on target, damping the scale-down
    down = propose(spec, pods(2, 2, None), 3, 3, 3, 0.1)
    assert down.replicas == 2  # (2000+2000+10000)/3 = 4666 -> ratio .4666 x 3 -> 2


RESOURCE = [
    # (upstream test, current, ready pods, utilization % of the ready pods, target, expected)
    ("TestReplicaCalcScaleUp", 3, 3, (300 + 500 + 700) / 30, 30, 5),
    ("TestReplicaCalcScaleDown", 5, 5, (100 + 300 + 500 + 250 + 250) / 50, 50, 3),
    ("TestReplicaCalcTolerance", 3, 3, (1010 + 1030 + 1020) * 100 / 3000, 100, 3),
    ("TestReplicaCalcScaleUpIgnoresFailedPods", 2, 2, (500 + 700) / 20, 30, 4),
    ("TestScaleDownWithScalingRules", 5, 5, 28, 50, 3),  # horizontal_test.go, metric part
]


@pytest.mark.parametrize("case,current,ready,utilization,target,expected", RESOURCE)
def test_resource_utilization(case, current, ready, utilization, target, expected):
    spec = MetricSpec("Resource", "cpu", "Utilization", target)
    assert propose(spec, utilization, current, current, ready, 0.1).replicas == expected, case


def test_unavailable_metric_names_the_upstream_reason():
    for kind, target_type, reason in (
        ("External", "AverageValue", "FailedGetExternalMetric"),
        ("Pods", "AverageValue", "FailedGetPodsMetric"),
        ("Resource", "Utilization", "FailedGetResourceMetric"),
    ):
        p = propose(MetricSpec(kind, "m", target_type, 1), None, 3, 3, 3, 0.1)
        assert (p.replicas, p.error_reason) == (None, reason)
    no_pods = propose(MetricSpec("Pods", "m", "AverageValue", 1), pods(None, None), 2, 2, 2, 0.1)
    assert no_pods.replicas is None
    assert "did not receive metrics" in no_pods.error


def test_tolerance_band_edges():
    spec = MetricSpec("External", "q", "AverageValue", 1)
    assert propose(spec, 11, 10, 10, 10, 0.1).replicas == 10  # ratio 1.1: inside
    assert propose(spec, 11.001, 10, 10, 10, 0.1).replicas == 12  # just outside
    assert propose(spec, 9, 10, 10, 10, 0.1).replicas == 10  # ratio 0.9: inside
    assert propose(spec, 8.999, 10, 10, 10, 0.1).replicas == 9


def test_milli_rounds_up_like_quantity():
    assert milli(2) == 2000
    assert milli(0.1 * 3) == 301  # 0.30000000000000004 has more than milli precision
    assert milli(8.6) == 8600
