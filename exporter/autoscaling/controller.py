"""One HPA sync: metrics -> proposal -> stabilisation -> rate limits -> desired replicas.

A port of `reconcileAutoscaler` and `computeReplicasForMetrics` from kubernetes/kubernetes
pkg/controller/podautoscaler/horizontal.go, as one pure function. `desired_replicas` takes the
spec, the current replica count, what each metric reads now, the controller's `History` for
this HPA and the time; it returns a `Decision` that says how many replicas the controller
would ask for and why (the upstream condition reason, plus which bound limited it), and the
`History` to pass to the next sync. Failure semantics follow upstream: if every metric fails,
or some fail and the rest would scale down, the size is left as it is (no recommendation is
logged and no event stored); if some fail but the rest scale up, the scale-up goes ahead.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace

from exporter.autoscaling.behavior import (
    RateLimit,
    convert_with_behavior_rate,
    convert_with_rules,
    stabilize_legacy,
    stabilize_with_behaviors,
)
from exporter.autoscaling.history import History, record_initial_recommendation, store_scale_event
from exporter.autoscaling.replicas import MetricProposal, Observation, propose
from exporter.autoscaling.spec import HPASpec


@dataclass(frozen=True)
class Decision:
    """The controller's answer for one sync.

    `replicas`: what it would set `spec.replicas` to. `proposal`: the largest per-metric
    proposal (None when metrics failed or the size was out of [min, max]); `metric`: the
    metric that gave it. `stabilized`: the proposal after the stabilisation windows.
    `reason`: the upstream condition reason that explains `replicas` (DesiredWithinRange,
    ScaleUpLimit, ScaleDownLimit, TooManyReplicas, TooFewReplicas, ScaleUpStabilized,
    ScaleDownStabilized, ScalingDisabled, or a FailedGet*Metric). `limited_by`: the bound, in
    words ("scale-up policy Pods 4 pods per 30s allows 5", "max_replicas 8", ...), or None.
    """

    current: int
    replicas: int
    proposal: int | None
    metric: str | None
    stabilized: int | None
    reason: str
    message: str
    limited_by: str | None
    metrics: tuple[MetricProposal, ...]
    rate: RateLimit | None
    history: History

    @property
    def rescaled(self) -> bool:
        return self.replicas != self.current


def compute_replicas_for_metrics(
    spec: HPASpec,
    observations: Mapping[str, Observation],
    spec_replicas: int,
    status_replicas: int,
    ready_pods: int,
) -> tuple[int | None, str | None, tuple[MetricProposal, ...]]:
    """computeReplicasForMetrics: the largest valid proposal, or None when it must hold."""
    proposals = tuple(
        propose(
            m, observations.get(m.name), spec_replicas, status_replicas, ready_pods, spec.tolerance
        )
        for m in spec.metrics
    )
    best: int | None = None
    metric: str | None = None
    for p in proposals:
        if p.replicas is not None and (best is None or best == 0 or p.replicas > best):
            best, metric = p.replicas, p.spec.name
    invalid = sum(p.replicas is None for p in proposals)
    if invalid >= len(proposals) or (invalid > 0 and best is not None and best < spec_replicas):
        return None, None, proposals
    return best, metric, proposals


def desired_replicas(
    spec: HPASpec,
    current: int,
    observations: Mapping[str, Observation],
    history: History,
    now: float,
    ready_pods: int | None = None,
) -> Decision:
    """One reconcile of the HPA at time `now` (seconds).

    `current` is the scale subresource's replicas (spec and status taken as equal);
    `ready_pods` defaults to `current` (every pod ready), and is what External Value and
    Resource proposals multiply by.
    """
    ready = current if ready_pods is None else ready_pods
    history = record_initial_recommendation(history, current, now)

    def done(
        replicas: int, reason: str, message: str, limited_by: str | None = None, **kw
    ) -> Decision:
        kw.setdefault("proposal", None)
        kw.setdefault("metric", None)
        kw.setdefault("stabilized", None)
        kw.setdefault("metrics", ())
        kw.setdefault("rate", None)
        h = kw.pop("history", history)
        if replicas != current and reason != "ScalingDisabled":
            h = store_scale_event(h, spec.behavior, current, replicas, now)
        return Decision(current, replicas, reason=reason, message=message, limited_by=limited_by,
                        history=h, **kw)  # fmt: skip

    if current == 0 and spec.min_replicas != 0:
        msg = "scaling is disabled since the replica count of the target is zero"
        return done(0, "ScalingDisabled", msg)
    if current > spec.max_replicas:
        msg = "Current number of replicas above Spec.MaxReplicas"
        return done(spec.max_replicas, "TooManyReplicas", msg, f"max_replicas {spec.max_replicas}")
    if current < spec.min_replicas:
        msg = "Current number of replicas below Spec.MinReplicas"
        return done(spec.min_replicas, "TooFewReplicas", msg, f"min_replicas {spec.min_replicas}")

    proposal, metric, proposals = compute_replicas_for_metrics(
        spec, observations, current, current, ready
    )
    if proposal is None:
        first = next((p for p in proposals if p.replicas is None), proposals[0])
        msg = f"the HPA was unable to compute the replica count: {first.error}"
        return done(current, first.error_reason or "FailedGetMetric", msg, metrics=proposals)
    desired = max(proposal, 0)
    recs = history.recommendations or ()
    if spec.behavior is None:
        stab = stabilize_legacy(recs, desired, now)
        norm = convert_with_rules(current, stab.replicas, spec.min_replicas, spec.max_replicas)
    else:
        b = spec.behavior
        stab = stabilize_with_behaviors(
            recs, current, desired, b.scale_up.stabilization_window_seconds,
            b.scale_down.stabilization_window_seconds, now,
        )  # fmt: skip
        norm = convert_with_behavior_rate(
            current, stab.replicas, spec.min_replicas, spec.max_replicas, b.scale_up,
            b.scale_down, history.scale_up_events, history.scale_down_events, now,
        )  # fmt: skip
    h = replace(history, recommendations=stab.recommendations)
    reason, message, limited_by = norm.reason, norm.message, _limited_by(spec, norm, stab, desired)
    if norm.reason == "DesiredWithinRange" and stab.replicas != desired:
        reason, message = stab.reason, stab.message
    return done(
        norm.replicas, reason, message, limited_by, proposal=desired, metric=metric,
        stabilized=stab.replicas, metrics=proposals, rate=norm.rate, history=h,
    )  # fmt: skip


def _limited_by(spec: HPASpec, norm, stab, desired: int) -> str | None:
    if norm.reason == "TooManyReplicas":
        return f"max_replicas {spec.max_replicas}"
    if norm.reason == "TooFewReplicas":
        return f"min_replicas {spec.min_replicas}"
    if norm.reason in ("ScaleUpLimit", "ScaleDownLimit"):
        direction = "up" if norm.reason == "ScaleUpLimit" else "down"
        if spec.behavior is None:
            return f"legacy scale-up limit max(2 x current, 4) = {norm.rate.limit}"
        return norm.rate.describe(direction)
    if stab.replicas != desired and spec.behavior is not None:
        up = stab.reason == "ScaleUpStabilized"
        rules = spec.behavior.scale_up if up else spec.behavior.scale_down
        direction = "up" if up else "down"
        return f"scale-{direction} stabilization window {rules.stabilization_window_seconds}s"
    if stab.replicas != desired:
        return "legacy scale-down stabilization window 300s"
    return None
