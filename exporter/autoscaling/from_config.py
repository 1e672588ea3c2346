"""The HPA spec a component class's generated HorizontalPodAutoscaler carries.

Mirrors `exporter.generators.k8s.autoscalers.horizontal_pod_autoscaler` field by field, then applies what
the API server does to it: `scale_on` entries become External AverageValue metrics (the
series selected by `component_class=<class>`, summed), `cpu_utilization` /
`memory_utilization` become Resource Utilization metrics, no metric at all defaults to 80 %
CPU, and the class's `behavior` (always written out by the generator) becomes the HPA
behavior with its Percent and Pods policies.
"""

from __future__ import annotations

from exporter.autoscaling.spec import (
    Behavior,
    HPASpec,
    MetricSpec,
    ScalingPolicy,
    ScalingRules,
)
from exporter.config import ComponentClass
from exporter.config import ScalingRules as ConfigScalingRules


def scaling_rules(rules: ConfigScalingRules) -> ScalingRules:
    """One behavior direction, in the generator's policy order (Percent, then Pods)."""
    policies = []
    if rules.percent is not None:
        policies.append(ScalingPolicy("Percent", rules.percent, rules.period_seconds))
    if rules.pods is not None:
        policies.append(ScalingPolicy("Pods", rules.pods, rules.period_seconds))
    return ScalingRules(
        stabilization_window_seconds=rules.stabilization_window_seconds,
        select_policy=rules.select_policy,
        policies=tuple(policies),
    )


def metric_specs(cls: ComponentClass) -> tuple[MetricSpec, ...]:
    """The class's HPA metrics; trace rows name them by `MetricSpec.name`."""
    metrics = [
        MetricSpec("External", s.metric, "AverageValue", s.target_average_value)
        for s in cls.scale_on
    ]
    for resource, target in (("cpu", cls.cpu_utilization), ("memory", cls.memory_utilization)):
        if target is not None:
            metrics.append(MetricSpec("Resource", resource, "Utilization", target))
    if not metrics:  # the generator leaves `metrics` out; the API server defaults it
        metrics.append(MetricSpec("Resource", "cpu", "Utilization", 80))
    return tuple(metrics)


def hpa_spec(cls: ComponentClass) -> HPASpec:
    """The `HPASpec` the controller will see for this class's generated HPA."""
    return HPASpec(
        min_replicas=cls.min_replicas,
        max_replicas=cls.max_replicas,
        metrics=metric_specs(cls),
        behavior=Behavior(
            scale_up=scaling_rules(cls.behavior.scale_up),
            scale_down=scaling_rules(cls.behavior.scale_down),
        ),
    )
