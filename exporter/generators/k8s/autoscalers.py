"""One autoscaling/v2 HorizontalPodAutoscaler per component class.

The class's `scale_on` external metrics become AverageValue targets (per replica) selected
by `component_class=<class>`, plus optional CPU/memory Utilization targets; `behavior`
comes from the class (defaults: up 100 % or 4 pods per 30 s, whichever is more; down 50 %
per 60 s after a 300 s stabilisation window).
"""

from __future__ import annotations

from exporter.config import ComponentClass, Config, ScalingRules
from exporter.generators.k8s.names import Manifest, hpa_name, meta
from exporter.metrics_api.quantity import format_exact_quantity


def _scaling_rules(rules: ScalingRules) -> Manifest:
    policies = []
    if rules.percent is not None:
        policies.append(
            {"type": "Percent", "value": rules.percent, "periodSeconds": rules.period_seconds}
        )
    if rules.pods is not None:
        policies.append(
            {"type": "Pods", "value": rules.pods, "periodSeconds": rules.period_seconds}
        )
    out: Manifest = {
        "stabilizationWindowSeconds": rules.stabilization_window_seconds,
        "selectPolicy": rules.select_policy,
    }
    if policies:
        out["policies"] = policies
    return out


def horizontal_pod_autoscaler(config: Config, cls: ComponentClass) -> Manifest:
    metrics: list[Manifest] = [
        {
            "type": "External",
            "external": {
                "metric": {
                    "name": scale.metric,
                    "selector": {"matchLabels": {"component_class": cls.name}},
                },
                "target": {
                    "type": "AverageValue",
                    "averageValue": format_exact_quantity(scale.target_average_value),
                },
            },
        }
        for scale in cls.scale_on
    ]
    for resource, target in (("cpu", cls.cpu_utilization), ("memory", cls.memory_utilization)):
        if target is not None:
            metrics.append(
                {
                    "type": "Resource",
                    "resource": {
                        "name": resource,
                        "target": {"type": "Utilization", "averageUtilization": target},
                    },
                }
            )
    metadata = meta(config, hpa_name(cls), "autoscaling")
    metadata["labels"]["component_class"] = cls.name
    spec: Manifest = {
        "scaleTargetRef": {
            "apiVersion": "apps/v1",
            "kind": cls.workload.kind,
            "name": cls.workload.name,
        },
        "minReplicas": cls.min_replicas,
        "maxReplicas": cls.max_replicas,
    }
    if metrics:  # none: the HPA controller's default, 80 % CPU
        spec["metrics"] = metrics
    spec["behavior"] = {
        "scaleUp": _scaling_rules(cls.behavior.scale_up),
        "scaleDown": _scaling_rules(cls.behavior.scale_down),
    }
    return {
        "apiVersion": "autoscaling/v2",
        "kind": "HorizontalPodAutoscaler",
        "metadata": metadata,
        "spec": spec,
    }
