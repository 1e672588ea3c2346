"""The one HPA model: a component class's autoscaler as the HPA controller sees it.

`class_autoscaler(cls)` is the only place the config becomes an HPA. The generators serialise
it (`generators.k8s.autoscalers` as an autoscaling/v2 HPA, `generators.k8s.keda` as a KEDA
ScaledObject), and the status board, `exporter explain` and `exporter simulate` evaluate its
`spec` with `exporter.autoscaling.desired_replicas`, so what the page says the controller
would do is computed from the same object the cluster is given.

What the config becomes:
- a `scale_on` entry of `type: external` -> an External AverageValue metric whose selector is
  `component_class=<class>` (the controller sums the selected series, divides by replicas);
- a `scale_on` entry of `type: pods` -> a Pods AverageValue metric (the controller lists the
  scale target's pods with `pod_selector` and reads their values from
  `custom.metrics.k8s.io` `pods/*/<metric>`, then averages per pod);
- `cpu_utilization` / `memory_utilization` -> Resource Utilization metrics;
- no metric at all -> `metrics` is left out and the API server defaults it to 80 % CPU
  (`metrics_defaulted`);
- the class's `behavior` -> the HPA behavior, Percent policy before Pods policy.
"""

from __future__ import annotations

from dataclasses import dataclass

from exporter.autoscaling.spec import (
    Behavior,
    HPASpec,
    MetricSpec,
    ScalingPolicy,
    ScalingRules,
)
from exporter.config import ComponentClass
from exporter.config import ScalingRules as ConfigScalingRules

# What the API server puts in an HPA written without `metrics`.
DEFAULT_METRIC = MetricSpec("Resource", "cpu", "Utilization", 80)


@dataclass(frozen=True)
class ClassAutoscaler:
    """A class's HPA: the spec the controller reads plus what it is attached to.

    `spec.metrics` are the metrics the controller evaluates (API defaults applied);
    `metrics_defaulted` says the written HPA has none (so a generator leaves `metrics` out).
    `pod_selector` is the scale target's pod selector, which the controller uses to list pods
    and to ask for a Pods metric. `activation` maps a `scale_on` metric to its KEDA
    activation threshold (KEDA only; an HPA has no activation).
    """

    component_class: str
    workload_kind: str
    workload_name: str
    pod_selector: tuple[tuple[str, str], ...]
    spec: HPASpec
    metrics_defaulted: bool
    activation: tuple[tuple[str, float], ...]

    @property
    def metrics(self) -> tuple[MetricSpec, ...]:
        """The metrics as written in the HPA (empty when the API server defaults them)."""
        return () if self.metrics_defaulted else self.spec.metrics

    def activation_threshold(self, metric: str) -> float:
        return dict(self.activation).get(metric, 0.0)

    def pod_selector_text(self) -> str:
        """The pod selector as a `labelSelector` string (`k=v,k2=v2`)."""
        return ",".join(f"{k}={v}" for k, v in self.pod_selector)


def pod_selector(cls: ComponentClass) -> dict[str, str]:
    """The labels that select the class's pods (config, or the workload's name label)."""
    return dict(cls.metrics.pod_labels) or {"app.kubernetes.io/name": cls.workload.name}


def scaling_rules(rules: ConfigScalingRules) -> ScalingRules:
    """One behavior direction, Percent policy first, then Pods (the generated order)."""
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


def _written_metrics(cls: ComponentClass) -> list[MetricSpec]:
    metrics = []
    for s in cls.scale_on:
        if s.type == "pods":
            metrics.append(MetricSpec("Pods", s.metric, "AverageValue", s.target_average_value))
        else:
            selector = (("component_class", cls.name),)
            metrics.append(
                MetricSpec("External", s.metric, "AverageValue", s.target_average_value, selector)
            )
    for resource, target in (("cpu", cls.cpu_utilization), ("memory", cls.memory_utilization)):
        if target is not None:
            metrics.append(MetricSpec("Resource", resource, "Utilization", target))
    return metrics


def class_autoscaler(cls: ComponentClass) -> ClassAutoscaler:
    """The class's HPA model (see the module docstring for the mapping)."""
    written = _written_metrics(cls)
    spec = HPASpec(
        min_replicas=cls.min_replicas,
        max_replicas=cls.max_replicas,
        metrics=tuple(written) or (DEFAULT_METRIC,),
        behavior=Behavior(
            scale_up=scaling_rules(cls.behavior.scale_up),
            scale_down=scaling_rules(cls.behavior.scale_down),
        ),
    )
    return ClassAutoscaler(
        component_class=cls.name,
        workload_kind=cls.workload.kind,
        workload_name=cls.workload.name,
        pod_selector=tuple(pod_selector(cls).items()),
        spec=spec,
        metrics_defaulted=not written,
        activation=tuple((s.metric, s.activation_threshold) for s in cls.scale_on),
    )
