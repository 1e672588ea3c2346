"""Stabilisation windows, policies and the event log, ported from kubernetes/kubernetes
pkg/controller/podautoscaler/horizontal_test.go (each row names its upstream test and case).

Upstream times are relative to time.Now(); here NOW is a fixed second and events sit where
`generateEventsUniformDistribution` puts them.
"""

from __future__ import annotations

import pytest

from exporter.autoscaling.behavior import (
    convert_with_behavior_rate,
    convert_with_rules,
    scale_down_limit,
    scale_up_limit,
    stabilize_legacy,
    stabilize_with_behaviors,
)
from exporter.autoscaling.history import (
    History,
    Recommendation,
    ScaleEvent,
    replicas_change_per_period,
    store_scale_event,
)
from exporter.autoscaling.spec import (
    DEFAULT_SCALE_DOWN,
    DEFAULT_SCALE_UP,
    Behavior,
    ScalingPolicy,
    ScalingRules,
)

NOW = 10_000.0


def rules(
    pods: int, pods_period: int, percent: int, percent_period: int, window: int
) -> ScalingRules:
    """generateScalingRules: Pods then Percent policies, selectPolicy Max."""
    policies = []
    if pods:
        policies.append(ScalingPolicy("Pods", pods, pods_period))
    if percent:
        policies.append(ScalingPolicy("Percent", percent, percent_period))
    return ScalingRules(window, "Max", tuple(policies))


def uniform(raw: list[int], period: int) -> tuple[ScaleEvent, ...]:
    """generateEventsUniformDistribution: each event in the middle of its segment."""
    seg = period / len(raw)
    return tuple(
        ScaleEvent(change, NOW - int(period - seg * (i + 1) + seg / 2))
        for i, change in enumerate(raw)
    )


U = uniform
# TestScalingWithRules: (case, up events, down events, min, max, up rules, down rules,
#                        current, prenormalized desired, expected replicas, expected condition)
SCALING_WITH_RULES = [
    ("prenormalized desired replicas within range", (), (), 3, 8, None, None, 5, 7, 7, "DesiredWithinRange"),
    ("prenormalized desired replicas < minReplicas", (), (), 2, 8, None, None, 3, 1, 2, "TooFewReplicas"),
    ("prenormalized desired replicas within range when minReplicas is 0", (), (), 0, 10, None, None, 1, 0, 0, "DesiredWithinRange"),
    ("maxReplicas is the limit because maxReplicas < scaleUpLimit", (), (), 1, 10, None, None, 20, 1000, 10, "TooManyReplicas"),
    ("desired replica count is more than the maximum replica count", (), (), 100, 150, None, None, 100, 1000, 150, "TooManyReplicas"),
    ("scaleUpLimit is the limit because scaleUpLimit < maxReplicas with user policies", (), (), 1, 2000, rules(0, 0, 1, 60, 0), None, 3, 1000, 4, "ScaleUpLimit"),
    # upstream marks this one testThis and skips it; the port runs it
    ("scaleDownLimit is the limit because scaleDownLimit > minReplicas with user defined policies", (), (), 3, 2000, None, rules(20, 60, 0, 0, 0), 1000, 3, 980, "ScaleDownLimit"),
    ("scaleUp with default behavior", (), (), 1, 1000, None, None, 10, 50, 20, "ScaleUpLimit"),
    ("scaleUp with pods policy larger than percent policy", (), (), 1, 1000, rules(100, 60, 100, 60, 0), None, 10, 500, 110, "ScaleUpLimit"),
    ("scaleUp with percent policy larger than pods policy", (), (), 1, 1000, rules(2, 60, 100, 60, 0), None, 10, 500, 20, "ScaleUpLimit"),
    ("scaleUp with spec MaxReplicas limitation with large pod policy", (), (), 1, 1000, rules(100, 60, 0, 0, 0), None, 10, 50, 50, "DesiredWithinRange"),
    ("scaleUp with spec MaxReplicas limitation with large percent policy", (), (), 1, 1000, rules(10000, 60, 0, 0, 0), None, 10, 50, 50, "DesiredWithinRange"),
    ("scaleUp with pod policy limitation", (), (), 1, 1000, rules(30, 60, 0, 0, 0), None, 10, 50, 40, "ScaleUpLimit"),
    ("scaleUp with percent policy limitation", (), (), 1, 1000, rules(0, 0, 200, 60, 0), None, 10, 50, 30, "ScaleUpLimit"),
    ("scaleDown with percent policy larger than pod policy", (), (), 1, 1000, None, rules(20, 60, 1, 60, 300), 100, 2, 80, "ScaleDownLimit"),
    ("scaleDown with pod policy larger than percent policy", (), (), 1, 1000, None, rules(2, 60, 1, 60, 300), 100, 2, 98, "ScaleDownLimit"),
    ("scaleDown with spec MinReplicas=nil limitation with large pod policy", (), (), 1, 1000, None, rules(100, 60, 0, 0, 300), 10, 0, 1, "TooFewReplicas"),
    ("scaleDown with spec MinReplicas limitation with large pod policy", (), (), 1, 1000, None, rules(100, 60, 0, 0, 300), 10, 0, 1, "TooFewReplicas"),
    ("scaleDown with spec MinReplicas limitation with large percent policy", (), (), 5, 1000, None, rules(0, 0, 100, 60, 300), 10, 2, 5, "TooFewReplicas"),
    ("scaleDown with pod policy limitation", (), (), 1, 1000, None, rules(5, 60, 0, 0, 300), 10, 2, 5, "ScaleDownLimit"),
    ("scaleDown with percent policy limitation", (), (), 1, 1000, None, rules(0, 0, 50, 60, 300), 10, 5, 5, "DesiredWithinRange"),
    ("scaleUp with spec MaxReplicas limitation with large pod policy and events", U([1, 5, 9], 120), (), 1, 200, rules(300, 60, 0, 0, 0), None, 100, 500, 200, "TooManyReplicas"),
    ("scaleUp with spec MaxReplicas limitation with large percent policy and events", U([1, 5, 9], 120), (), 1, 200, rules(0, 0, 10000, 60, 0), None, 100, 500, 200, "TooManyReplicas"),
    ("scaleUp with currentReplicas limitation with rate.PeriodSeconds with a lot of recent scale up events", U([1, 5, 9], 120), (), 1, 1000, rules(5, 120, 0, 0, 0), None, 100, 500, 100, "ScaleUpLimit"),
    ("scaleUp with pod policy and previous scale up events", U([1, 5, 9], 120), (), 1, 1000, rules(150, 120, 0, 0, 0), None, 100, 500, 235, "ScaleUpLimit"),
    ("scaleUp with percent policy and previous scale up events", U([1, 5, 9], 120), (), 1, 1000, rules(0, 0, 200, 120, 0), None, 100, 500, 255, "ScaleUpLimit"),
    ("scaleUp with percent policy and previous scale up and down events", U([4], 120), U([2], 120), 1, 1000, rules(0, 0, 300, 300, 0), None, 6, 24, 16, "ScaleUpLimit"),
    ("scaleDown with default policy and previous events", (), U([1, 5, 9], 120), 1, 1000, None, None, 10, 5, 5, "DesiredWithinRange"),
    ("scaleDown with spec MinReplicas=nil limitation with large pod policy and previous events", (), U([1, 5, 9], 120), 1, 1000, None, rules(115, 120, 0, 0, 300), 100, 0, 1, "TooFewReplicas"),
    ("scaleDown with spec MinReplicas limitation with large pod policy and previous events", (), U([1, 5, 9], 120), 5, 1000, None, rules(130, 120, 0, 0, 300), 100, 0, 5, "TooFewReplicas"),
    ("scaleDown with spec MinReplicas limitation with large percent policy and previous events", (), U([1, 5, 9], 120), 5, 1000, None, rules(0, 0, 100, 120, 300), 100, 2, 5, "TooFewReplicas"),
    ("scaleDown with pod policy limitation and previous events", (), U([1, 5, 9], 120), 1, 1000, None, rules(5, 120, 0, 0, 300), 100, 2, 100, "ScaleDownLimit"),
    ("scaleDown with percent policy limitation and previous events", (), U([2, 4, 6], 120), 1, 1000, None, rules(0, 0, 50, 120, 300), 100, 0, 56, "ScaleDownLimit"),
    ("scaleDown with percent policy and previous scale up and down events", U([2], 120), U([4], 120), 1, 1000, None, rules(0, 0, 50, 180, 0), 10, 1, 6, "ScaleDownLimit"),
    ("scaleDown with previous events preventing further scale down", (), U([10, 10, 10], 120), 1, 1000, None, rules(0, 0, 10, 120, 300), 100, 0, 100, "ScaleDownLimit"),
    ("scaleDown with with previous events still allowing more scale down", (), U([10, 10, 10], 120), 1, 1000, None, rules(0, 0, 1000, 120, 300), 10, 5, 5, "DesiredWithinRange"),
    ("check 'outdated' flag for events for one behavior for up", U([8, 12, 9, 11], 120), (), 1, 1000, rules(1000, 60, 0, 0, 0), None, 100, 200, 200, "DesiredWithinRange"),
    ("check that events were not marked 'outdated' for two different policies in the behavior for up", U([8, 12, 9, 11], 120), (), 1, 1000, rules(1000, 120, 100, 60, 0), None, 100, 200, 200, "DesiredWithinRange"),
    ("check that events were marked 'outdated' for two different policies in the behavior for up", U([8, 12, 9, 11], 120), (), 1, 1000, rules(1000, 30, 100, 60, 0), None, 100, 200, 200, "DesiredWithinRange"),
    ("check 'outdated' flag for events for one behavior for down", (), U([8, 12, 9, 11], 120), 1, 1000, None, rules(1000, 60, 0, 0, 300), 100, 5, 5, "DesiredWithinRange"),
    ("check that events were not marked 'outdated' for two different policies in the behavior for down", (), U([8, 12, 9, 11], 120), 1, 1000, None, rules(1000, 120, 100, 60, 300), 100, 5, 5, "DesiredWithinRange"),
    ("check that events were marked 'outdated' for two different policies in the behavior for down", (), U([8, 12, 9, 11], 120), 1, 1000, None, rules(1000, 30, 100, 60, 300), 100, 5, 5, "DesiredWithinRange"),
]  # fmt: skip


@pytest.mark.parametrize(
    "case,up_events,down_events,min_r,max_r,up,down,current,desired,expected,condition",
    SCALING_WITH_RULES,
    ids=[f"TestScalingWithRules/{c[0]}" for c in SCALING_WITH_RULES],
)
def test_scaling_with_rules(
    case, up_events, down_events, min_r, max_r, up, down, current, desired, expected, condition
):
    got = convert_with_behavior_rate(
        current, desired, min_r, max_r, up or DEFAULT_SCALE_UP, down or DEFAULT_SCALE_DOWN,
        up_events, down_events, NOW,
    )  # fmt: skip
    assert (got.replicas, got.reason) == (expected, condition), case


def test_scale_up_limit_names_the_policy_that_allowed_it():
    # TestScalingWithRules "scaleUp with pods policy larger than percent policy"
    got = scale_up_limit(10, (), (), rules(100, 60, 100, 60, 0), NOW)
    assert got.limit == 110 and got.chosen.policy == ScalingPolicy("Pods", 100, 60)
    assert got.describe("up") == "scale-up policy Pods 100 pods per 60s allows 110"
    assert [pl.limit for pl in got.policies] == [110, 20]


def test_calculate_limits_with_select_policy_min():
    both = (ScalingPolicy("Pods", 2, 60), ScalingPolicy("Percent", 50, 60))
    # TestCalculateScaleUpLimitWithScalingRules
    assert scale_up_limit(1, (), (), ScalingRules(300, "Min", both), NOW).limit == 2
    # TestCalculateScaleDownLimitWithBehaviors
    assert scale_down_limit(5, (), (), ScalingRules(300, "Min", both), NOW).limit == 3


def test_percent_limits_round_as_the_controller_does():
    # not an upstream case: pins int32() truncation down and math.Ceil up
    half = ScalingRules(0, "Max", (ScalingPolicy("Percent", 50, 60),))
    assert scale_down_limit(5, (), (), half, NOW).limit == 2  # int32(2.5)
    assert scale_up_limit(5, (), (), half, NOW).limit == 8  # ceil(7.5)


def test_select_policy_disabled_holds_the_size():
    off = ScalingRules(0, "Disabled", ())
    got = convert_with_behavior_rate(5, 9, 1, 10, off, DEFAULT_SCALE_DOWN, (), (), NOW)
    assert (got.replicas, got.reason) == (5, "ScaleUpLimit")
    got = convert_with_behavior_rate(5, 1, 1, 10, DEFAULT_SCALE_UP, off, (), (), NOW)
    assert (got.replicas, got.reason) == (5, "ScaleDownLimit")
    assert got.rate.describe("down") == "scale-down disabled (selectPolicy: Disabled)"


# TestConvertDesiredReplicasWithRules (the legacy path, no behavior)
CONVERT_WITH_RULES = [
    ("prenormalized desired replicas within range", 5, 7, 3, 8, 7, "DesiredWithinRange"),
    ("prenormalized desired replicas < minReplicas", 3, 1, 2, 8, 2, "TooFewReplicas"),
    ("prenormalized desired zeroed replicas within range", 1, 0, 0, 10, 0, "DesiredWithinRange"),
    ("maxReplicas is the limit because maxReplicas < scaleUpLimit", 20, 1000, 1, 10, 10, "TooManyReplicas"),
    ("scaleUpLimit is the limit because scaleUpLimit < maxReplicas", 3, 1000, 1, 2000, 6, "ScaleUpLimit"),
]  # fmt: skip


@pytest.mark.parametrize("case,current,desired,min_r,max_r,expected,condition", CONVERT_WITH_RULES)
def test_convert_desired_replicas_with_rules(
    case, current, desired, min_r, max_r, expected, condition
):
    got = convert_with_rules(current, desired, min_r, max_r)
    assert (got.replicas, got.reason) == (expected, condition), case


def recs(*pairs: tuple[int, float]) -> tuple[Recommendation, ...]:
    """(replicas, minutes ago)"""
    return tuple(Recommendation(r, NOW - minutes * 60) for r, minutes in pairs)


# TestNormalizeDesiredReplicas (legacy stabilisation, 5 minute window):
# (case, log, desired, expected stabilized, expected log length)
NORMALIZE_LEGACY = [
    ("empty log", (), 5, 5, 1),
    ("stabilize", recs((4, 2), (5, 1)), 3, 5, 3),
    ("no stabilize", recs((1, 2), (2, 1)), 3, 3, 3),
    ("no stabilize - old recommendations", recs((10, 10), (9, 9)), 3, 3, 2),
    ("stabilize - old recommendations", recs((10, 10), (4, 1), (5, 2), (9, 9)), 3, 5, 4),
]


@pytest.mark.parametrize("case,log,desired,expected,length", NORMALIZE_LEGACY)
def test_normalize_desired_replicas(case, log, desired, expected, length):
    got = stabilize_legacy(log, desired, NOW)
    assert (got.replicas, len(got.recommendations)) == (expected, length), case


# TestNormalizeDesiredReplicasWithBehavior: (case, log, current, desired, up window,
#   down window, expected stabilized, expected log values or None)
NORMALIZE_WITH_BEHAVIOR = [
    ("empty recommendations for scaling down", (), 100, 5, 0, 0, 5, [5]),
    ("simple scale down stabilization", recs((4, 2), (5, 1)), 100, 3, 0, 180, 5, [4, 5, 3]),
    ("simple scale up stabilization", recs((4, 2), (5, 1)), 1, 7, 300, 0, 4, [4, 5, 7]),
    ("no scale down stabilization", recs((1, 2), (2, 1)), 100, 3, 300, 0, 3, [1, 2, 3]),
    ("no scale up stabilization", recs((4, 2), (5, 1)), 1, 3, 0, 300, 3, [4, 5, 3]),
    ("no scale down stabilization, reuse recommendation element", recs((10, 10), (9, 9)), 100, 3, 0, 0, 3, [10, 3]),
    ("no scale up stabilization, reuse recommendation element", recs((10, 10), (9, 9)), 1, 100, 0, 0, 100, [10, 100]),
    ("scale down stabilization, reuse one of obsolete recommendation element", recs((10, 10), (4, 1), (5, 2), (9, 9)), 100, 3, 0, 180, 5, [10, 4, 5, 3]),
    ("scale up stabilization, reuse one of obsolete recommendation element", recs((10, 100), (6, 1), (5, 2), (9, 3)), 1, 100, 300, 0, 5, [100, 6, 5, 9]),
    ("scale up and down stabilization, do not scale up when prenormalized rec goes down", recs((2, 100), (3, 3)), 2, 1, 300, 300, 2, None),
    ("scale up and down stabilization, do not scale down when prenormalized rec goes up", recs((2, 100), (1, 3)), 2, 3, 300, 300, 2, None),
]  # fmt: skip


@pytest.mark.parametrize(
    "case,log,current,desired,up_window,down_window,expected,expected_log",
    NORMALIZE_WITH_BEHAVIOR,
    ids=[f"TestNormalizeDesiredReplicasWithBehavior/{c[0]}" for c in NORMALIZE_WITH_BEHAVIOR],
)
def test_normalize_desired_replicas_with_behavior(
    case, log, current, desired, up_window, down_window, expected, expected_log
):
    got = stabilize_with_behaviors(log, current, desired, up_window, down_window, NOW)
    assert got.replicas == expected, case
    if expected_log is not None:
        assert [r.replicas for r in got.recommendations] == expected_log, case


def ev(change: int, seconds_ago: float, outdated: bool = False) -> ScaleEvent:
    return ScaleEvent(change, NOW - seconds_ago, outdated)


# TestStoreScaleEvents: (case, change, previous events, rules or None, expected events as
#   (change, outdated), expected change over the last 60 s before storing)
STORE_SCALE_EVENTS = [
    ("empty entries with default behavior", 5, (), None, [], 0),
    ("empty entries with two-policy-behavior", 5, (), rules(10, 60, 100, 60, 0), [(5, False)], 0),
    ("one outdated entry to be kept untouched without behavior", 5, (ev(7, 61),), None, [(7, False)], 0),
    ("one outdated entry to be replaced with behavior", 5, (ev(7, 61),), rules(10, 60, 100, 60, 0), [(5, False)], 0),
    ("one actual entry to be not touched with behavior", 5, (ev(7, 58),), rules(10, 60, 100, 60, 0), [(7, False), (5, False)], 7),
    ("two entries, one of them to be replaced", 5, (ev(7, 61), ev(6, 59)), rules(10, 60, 0, 0, 0), [(5, False), (6, False)], 6),
    ("replace one entry, use policies with different periods", 5, (ev(8, 29), ev(6, 59), ev(7, 61), ev(9, 61)), rules(10, 60, 100, 30, 0), [(8, False), (6, False), (7, True), (5, False)], 14),
    ("two entries, both actual", 5, (ev(7, 58), ev(6, 59)), rules(10, 120, 100, 30, 0), [(7, False), (6, False), (5, False)], 13),
]  # fmt: skip


@pytest.mark.parametrize(
    "case,change,previous,scaling_rules,expected,expected_change",
    STORE_SCALE_EVENTS,
    ids=[f"TestStoreScaleEvents/{c[0]}" for c in STORE_SCALE_EVENTS],
)
def test_store_scale_events(case, change, previous, scaling_rules, expected, expected_change):
    # scale up
    assert replicas_change_per_period(60, previous, NOW) == expected_change
    up = None if scaling_rules is None else Behavior(scale_up=scaling_rules)
    h = store_scale_event(History(scale_up_events=previous), up, 10, 10 + change, NOW)
    assert [(e.change, e.outdated) for e in h.scale_up_events] == expected, case
    # scale down
    down = None if scaling_rules is None else Behavior(scale_down=scaling_rules)
    h = store_scale_event(History(scale_down_events=previous), down, 10, 10 - change, NOW)
    assert [(e.change, e.outdated) for e in h.scale_down_events] == expected, case
