"""The parts of an autoscaling/v2 HorizontalPodAutoscaler spec the controller's algorithm reads.

Plain frozen dataclasses, so a spec can be built from the exporter's config, from a test
table, or (later) from a live HPA object, and compared and hashed. Values are in the metric's
own units (2 means a Quantity of "2"); the algorithm converts them to milli-units the way the
controller does (`Quantity.MilliValue()`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

MetricKind = Literal["External", "Pods", "Resource"]
TargetType = Literal["Value", "AverageValue", "Utilization"]
PolicyType = Literal["Pods", "Percent"]
SelectPolicy = Literal["Max", "Min", "Disabled"]

# kube-controller-manager's --horizontal-pod-autoscaler-tolerance and
# --horizontal-pod-autoscaler-downscale-stabilization defaults.
DEFAULT_TOLERANCE = 0.1
DEFAULT_DOWNSCALE_STABILIZATION_SECONDS = 300


@dataclass(frozen=True)
class MetricSpec:
    """One entry of `spec.metrics`.

    External: `target_type` Value (the summed series against `target`) or AverageValue (the
    sum divided by the replicas). Pods: AverageValue per pod. Resource: Utilization, a
    percentage of the pods' requests (`name` is "cpu" or "memory"). `selector`: an External
    metric's `metric.selector.matchLabels` (label, value) pairs; empty for the others.
    """

    kind: MetricKind
    name: str
    target_type: TargetType
    target: float
    selector: tuple[tuple[str, str], ...] = ()

    def __post_init__(self) -> None:
        allowed = {
            "External": ("Value", "AverageValue"),
            "Pods": ("AverageValue",),
            "Resource": ("Utilization",),
        }[self.kind]
        if self.target_type not in allowed:
            raise ValueError(f"{self.kind} metric {self.name!r}: target type must be {allowed}")
        if self.target <= 0:
            raise ValueError(f"metric {self.name!r}: target must be > 0")

    def describe(self) -> str:
        unit = "%" if self.target_type == "Utilization" else ""
        return f"{self.name} {self.target_type} {self.target:g}{unit}"


@dataclass(frozen=True)
class ScalingPolicy:
    """HPAScalingPolicy: change by at most `value` pods or percent per `period_seconds`."""

    type: PolicyType
    value: int
    period_seconds: int

    def describe(self) -> str:
        unit = "%" if self.type == "Percent" else " pods"
        return f"{self.type} {self.value}{unit} per {self.period_seconds}s"


@dataclass(frozen=True)
class ScalingRules:
    """HPAScalingRules for one direction, with every field resolved (no nil pointers)."""

    stabilization_window_seconds: int = 0
    select_policy: SelectPolicy = "Max"
    policies: tuple[ScalingPolicy, ...] = ()

    @property
    def longest_policy_period(self) -> int:
        return max((p.period_seconds for p in self.policies), default=0)


# The API server's defaults for a behavior direction left unset (autoscaling/v2 defaults.go):
# up by 4 pods or 100 % per 15 s (the larger), no window; down by 100 % per 15 s after the
# controller's 300 s downscale stabilisation.
DEFAULT_SCALE_UP = ScalingRules(
    stabilization_window_seconds=0,
    select_policy="Max",
    policies=(ScalingPolicy("Pods", 4, 15), ScalingPolicy("Percent", 100, 15)),
)
DEFAULT_SCALE_DOWN = ScalingRules(
    stabilization_window_seconds=DEFAULT_DOWNSCALE_STABILIZATION_SECONDS,
    select_policy="Max",
    policies=(ScalingPolicy("Percent", 100, 15),),
)


@dataclass(frozen=True)
class Behavior:
    """HorizontalPodAutoscalerBehavior after API defaulting."""

    scale_up: ScalingRules = DEFAULT_SCALE_UP
    scale_down: ScalingRules = DEFAULT_SCALE_DOWN


@dataclass(frozen=True)
class HPASpec:
    """What the controller reads from an HPA.

    `behavior=None` is an HPA without `spec.behavior`: the controller then takes its legacy
    path (scale-up capped at max(2 x current, 4) per sync, 300 s scale-down stabilisation);
    `Behavior()` is one with `behavior: {}`, defaulted by the API server.
    """

    min_replicas: int
    max_replicas: int
    metrics: tuple[MetricSpec, ...] = field(
        default_factory=lambda: (MetricSpec("Resource", "cpu", "Utilization", 80),)
    )
    behavior: Behavior | None = None
    tolerance: float = DEFAULT_TOLERANCE

    def __post_init__(self) -> None:
        if self.min_replicas < 0 or self.max_replicas < max(1, self.min_replicas):
            raise ValueError("need 0 <= min_replicas <= max_replicas and max_replicas >= 1")
        if not self.metrics:
            raise ValueError("an HPA needs at least one metric (the API defaults to 80 % CPU)")
