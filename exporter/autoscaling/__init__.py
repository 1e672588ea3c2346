"""The Kubernetes HPA controller's algorithm, ported as pure functions.

`desired_replicas(spec, current, observations, history, now)` is one controller sync; it
returns a `Decision` (replicas, reason, what limited it, the next `History`). `hpa_spec(cls)`
builds the spec a component class's generated HPA carries. See `controller`, `replicas`
(per-metric proposals) and `behavior` (stabilisation windows and policies).
"""

from exporter.autoscaling.behavior import PolicyLimit, RateLimit
from exporter.autoscaling.controller import Decision, compute_replicas_for_metrics, desired_replicas
from exporter.autoscaling.history import History, Recommendation, ScaleEvent
from exporter.autoscaling.replicas import MetricProposal, Observation, PodSample
from exporter.autoscaling.spec import (
    DEFAULT_SCALE_DOWN,
    DEFAULT_SCALE_UP,
    Behavior,
    HPASpec,
    MetricSpec,
    ScalingPolicy,
    ScalingRules,
)

__all__ = [
    "DEFAULT_SCALE_DOWN",
    "DEFAULT_SCALE_UP",
    "Behavior",
    "Decision",
    "HPASpec",
    "History",
    "MetricProposal",
    "MetricSpec",
    "Observation",
    "PodSample",
    "PolicyLimit",
    "RateLimit",
    "Recommendation",
    "ScaleEvent",
    "ScalingPolicy",
    "ScalingRules",
    "compute_replicas_for_metrics",
    "desired_replicas",
]
