"""Stabilisation windows and rate limits: the normalisation half of the HPA controller.

Ports from kubernetes/kubernetes pkg/controller/podautoscaler/horizontal.go:
`stabilizeRecommendationWithBehaviors`, `convertDesiredReplicasWithBehaviorRate`,
`calculateScaleUpLimitWithScalingRules`, `calculateScaleDownLimitWithBehaviors`, and the
legacy path for HPAs without `behavior` (`stabilizeRecommendation`,
`convertDesiredReplicasWithRules`, `calculateScaleUpLimit`). Pure functions: each returns the
result, the upstream condition reason and message, and the new recommendation log.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from exporter.autoscaling.history import Recommendation, ScaleEvent, replicas_change_per_period
from exporter.autoscaling.spec import (
    DEFAULT_DOWNSCALE_STABILIZATION_SECONDS,
    ScalingPolicy,
    ScalingRules,
)

Events = tuple[ScaleEvent, ...]
MIN_INT32, MAX_INT32 = -(2**31), 2**31 - 1
SCALE_UP_LIMIT_FACTOR, SCALE_UP_LIMIT_MINIMUM = 2.0, 4.0


@dataclass(frozen=True)
class PolicyLimit:
    """One policy's bound this sync: the period started at `period_start` replicas."""

    policy: ScalingPolicy
    period_start: int
    limit: int


@dataclass(frozen=True)
class RateLimit:
    """The bound selectPolicy picked from the policies (or the current size if Disabled)."""

    limit: int
    select_policy: str
    policies: tuple[PolicyLimit, ...]
    chosen: PolicyLimit | None  # None when Disabled or when no policy applies

    def describe(self, direction: str) -> str:
        if self.select_policy == "Disabled":
            return f"scale-{direction} disabled (selectPolicy: Disabled)"
        if self.chosen is None:
            return f"scale-{direction} limit {self.limit}"
        p = self.chosen.policy
        return f"scale-{direction} policy {p.describe()} allows {self.limit}"


def _period_start(current: int, policy: ScalingPolicy, up: tuple[ScaleEvent, ...],
                  down: tuple[ScaleEvent, ...], now: float) -> int:  # fmt: skip
    added = replicas_change_per_period(policy.period_seconds, up, now)
    deleted = replicas_change_per_period(policy.period_seconds, down, now)
    return current - added + deleted


def _policy_limits(
    up: bool,
    current: int,
    up_events: tuple[ScaleEvent, ...],
    down_events: tuple[ScaleEvent, ...],
    rules: ScalingRules,
    now: float,
) -> RateLimit:
    if rules.select_policy == "Disabled":
        return RateLimit(current, "Disabled", (), None)
    limits = []
    for policy in rules.policies:
        start = _period_start(current, policy, up_events, down_events, now)
        if policy.type == "Pods":
            proposed = start + policy.value if up else start - policy.value
        elif up:  # rounded up, or a small Percent could never add a pod
            proposed = math.ceil(start * (1 + policy.value / 100))
        else:  # int32() truncates toward zero
            proposed = int(start * (1 - policy.value / 100))
        limits.append(PolicyLimit(policy, start, proposed))
    # Max (the default) wants the largest change: the highest limit up, the lowest down.
    take_min = (rules.select_policy == "Min") == up
    return _select(limits, take_min, MAX_INT32 if take_min else MIN_INT32, rules)


def scale_up_limit(
    current: int, up: Events, down: Events, rules: ScalingRules, now: float
) -> RateLimit:
    """calculateScaleUpLimitWithScalingRules: the most replicas the policies allow now."""
    return _policy_limits(True, current, up, down, rules, now)


def scale_down_limit(
    current: int, up: Events, down: Events, rules: ScalingRules, now: float
) -> RateLimit:
    """calculateScaleDownLimitWithBehaviors: the fewest replicas the policies allow now."""
    return _policy_limits(False, current, up, down, rules, now)


def _select(
    limits: list[PolicyLimit], take_min: bool, initial: int, rules: ScalingRules
) -> RateLimit:
    result, chosen = initial, None
    for pl in limits:
        # Go's minOfInt32/maxOfInt32 keep the first of equals.
        if (take_min and pl.limit < result) or (not take_min and pl.limit > result):
            result, chosen = pl.limit, pl
    return RateLimit(result, rules.select_policy, tuple(limits), chosen)


@dataclass(frozen=True)
class Stabilized:
    replicas: int
    reason: str  # ScaleUpStabilized | ScaleDownStabilized (meaningful only if it changed)
    message: str
    recommendations: tuple[Recommendation, ...]


def stabilize_with_behaviors(
    recommendations: tuple[Recommendation, ...],
    current: int,
    desired: int,
    up_window: int,
    down_window: int,
    now: float,
) -> Stabilized:
    """stabilizeRecommendationWithBehaviors: keep within [min over the up window, max over
    the down window] of past recommendations, then log `desired` (reusing a stale slot)."""
    up_rec = down_rec = desired
    up_cutoff, down_cutoff = now - up_window, now - down_window
    old_index = None
    for i, rec in enumerate(recommendations):
        if rec.at > up_cutoff:
            up_rec = min(rec.replicas, up_rec)
        if rec.at > down_cutoff:
            down_rec = max(rec.replicas, down_rec)
        if rec.at < up_cutoff and rec.at < down_cutoff:
            old_index = i
    recommendation = max(current, up_rec)
    recommendation = min(recommendation, down_rec)
    log = _log(recommendations, old_index, Recommendation(desired, now))
    if desired >= current:
        reason = "ScaleUpStabilized"
        message = "recent recommendations were lower than current one, applying the lowest recent recommendation"
    else:
        reason = "ScaleDownStabilized"
        message = "recent recommendations were higher than current one, applying the highest recent recommendation"
    return Stabilized(recommendation, reason, message, log)


def stabilize_legacy(
    recommendations: tuple[Recommendation, ...],
    desired: int,
    now: float,
    window: int = DEFAULT_DOWNSCALE_STABILIZATION_SECONDS,
) -> Stabilized:
    """stabilizeRecommendation (no behavior): the max recommendation of the last `window` s."""
    best = desired
    cutoff = now - window
    old_index = None
    for i, rec in enumerate(recommendations):
        if rec.at < cutoff:
            old_index = i
        elif rec.replicas > best:
            best = rec.replicas
    log = _log(recommendations, old_index, Recommendation(desired, now))
    message = "recent recommendations were higher than current one, applying the highest recent recommendation"
    return Stabilized(best, "ScaleDownStabilized", message, log)


def _log(
    recs: tuple[Recommendation, ...], old_index: int | None, new: Recommendation
) -> tuple[Recommendation, ...]:
    if old_index is None:
        return (*recs, new)
    return (*recs[:old_index], new, *recs[old_index + 1 :])


# ScalingLimited condition reasons and their upstream messages.
LIMIT_MESSAGES = {
    "DesiredWithinRange": "the desired count is within the acceptable range",
    "ScaleUpLimit": "the desired replica count is increasing faster than the maximum scale rate",
    "TooManyReplicas": "the desired replica count is more than the maximum replica count",
    "ScaleDownLimit": "the desired replica count is decreasing faster than the maximum scale rate",
    "TooFewReplicas": "the desired replica count is less than the minimum replica count",
}


@dataclass(frozen=True)
class Normalized:
    replicas: int
    reason: str  # a key of LIMIT_MESSAGES
    rate: RateLimit | None  # the policy bound consulted, if any

    @property
    def message(self) -> str:
        return LIMIT_MESSAGES[self.reason]


def _upper(limit: int, max_replicas: int) -> tuple[int, str]:
    return (limit, "ScaleUpLimit") if max_replicas > limit else (max_replicas, "TooManyReplicas")


def convert_with_behavior_rate(
    current: int,
    desired: int,
    min_replicas: int,
    max_replicas: int,
    scale_up: ScalingRules,
    scale_down: ScalingRules,
    up_events: Events,
    down_events: Events,
    now: float,
) -> Normalized:
    """convertDesiredReplicasWithBehaviorRate: clamp by the policies and min/max."""
    if desired > current:
        rate = scale_up_limit(current, up_events, down_events, scale_up, now)
        # max(..., current): no further scale-up until old events expire
        allowed, reason = _upper(max(rate.limit, current), max_replicas)
        if desired > allowed:
            return Normalized(allowed, reason, rate)
        return Normalized(desired, "DesiredWithinRange", rate)
    if desired < current:
        rate = scale_down_limit(current, up_events, down_events, scale_down, now)
        limit = min(rate.limit, current)  # no further scale-down until old events expire
        if min_replicas < limit:
            allowed, reason = limit, "ScaleDownLimit"
        else:
            allowed, reason = min_replicas, "TooFewReplicas"
        if desired < allowed:
            return Normalized(allowed, reason, rate)
        return Normalized(desired, "DesiredWithinRange", rate)
    return Normalized(desired, "DesiredWithinRange", None)


def convert_with_rules(
    current: int, desired: int, min_replicas: int, max_replicas: int
) -> Normalized:
    """convertDesiredReplicasWithRules (no behavior): min, max and max(2 x current, 4)."""
    limit = int(max(SCALE_UP_LIMIT_FACTOR * current, SCALE_UP_LIMIT_MINIMUM))
    allowed, reason = _upper(limit, max_replicas)
    if desired < min_replicas:
        return Normalized(min_replicas, "TooFewReplicas", None)
    if desired > allowed:
        legacy = RateLimit(limit, "Max", (), None) if reason == "ScaleUpLimit" else None
        return Normalized(allowed, reason, legacy)
    return Normalized(desired, "DesiredWithinRange", None)
