"""One autoscaling/v2 HorizontalPodAutoscaler per component class (`autoscaling.engine: hpa`).

The class's `scale_on` external metrics become AverageValue targets (per replica) selected
by `component_class=<class>`, `pods` custom metrics become `type: Pods` AverageValue targets
(the HPA asks for the pods of its scale target), plus optional CPU/memory Utilization targets; `behavior`
comes from the class (defaults: up 100 % or 4 pods per 30 s, whichever is more; down 50 %
per 60 s after a 300 s stabilisation window).
"""

from __future__ import annotations

from exporter.config import ComponentClass, Config, ScaleOn, ScalingRules
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


def scaling_behavior(cls: ComponentClass) -> Manifest:
    """autoscaling/v2 `behavior` (also KEDA's advanced.horizontalPodAutoscalerConfig)."""
    return {
        "scaleUp": _scaling_rules(cls.behavior.scale_up),
        "scaleDown": _scaling_rules(cls.behavior.scale_down),
    }


def autoscaler_meta(config: Config, cls: ComponentClass) -> Manifest:
    """Metadata of the class's autoscaler (HPA or KEDA ScaledObject), named after its workload,
    in the class's namespace (next to the workload it scales)."""
    metadata = meta(config, hpa_name(cls), "autoscaling", config.class_namespace(cls))
    metadata["labels"]["component_class"] = cls.name
    return metadata


def scale_target_ref(cls: ComponentClass) -> Manifest:
    return {"apiVersion": "apps/v1", "kind": cls.workload.kind, "name": cls.workload.name}


def resource_targets(cls: ComponentClass) -> list[tuple[str, int]]:
    """(resource, utilization %) for the class's CPU/memory targets that are set."""
    targets = (("cpu", cls.cpu_utilization), ("memory", cls.memory_utilization))
    return [(resource, target) for resource, target in targets if target is not None]


def _metric(cls: ComponentClass, scale: ScaleOn) -> Manifest:
    target = {
        "type": "AverageValue",
        "averageValue": format_exact_quantity(scale.target_average_value),
    }
    if scale.type == "pods":  # the HPA asks for the pods of its scale target
        return {"type": "Pods", "pods": {"metric": {"name": scale.metric}, "target": target}}
    return {
        "type": "External",
        "external": {
            "metric": {
                "name": scale.metric,
                "selector": {"matchLabels": {"component_class": cls.name}},
            },
            "target": target,
        },
    }


def horizontal_pod_autoscaler(config: Config, cls: ComponentClass) -> Manifest:
    metrics: list[Manifest] = [_metric(cls, scale) for scale in cls.scale_on]
    metrics += [
        {
            "type": "Resource",
            "resource": {
                "name": resource,
                "target": {"type": "Utilization", "averageUtilization": target},
            },
        }
        for resource, target in resource_targets(cls)
    ]
    spec: Manifest = {
        "scaleTargetRef": scale_target_ref(cls),
        "minReplicas": cls.min_replicas,
        "maxReplicas": cls.max_replicas,
    }
    if metrics:  # none: the HPA controller's default, 80 % CPU
        spec["metrics"] = metrics
    spec["behavior"] = scaling_behavior(cls)
    return {
        "apiVersion": "autoscaling/v2",
        "kind": "HorizontalPodAutoscaler",
        "metadata": autoscaler_meta(config, cls),
        "spec": spec,
    }
