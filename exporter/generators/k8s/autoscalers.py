"""One autoscaling/v2 HorizontalPodAutoscaler per component class (`autoscaling.engine: hpa`).

A serialisation of the class's HPA model (`exporter.autoscaling.model.class_autoscaler`, the
same object the status board, `explain` and `simulate` evaluate): External metrics with their
`component_class=<class>` selector, Pods metrics (the HPA asks for the pods of its scale
target), Resource Utilization targets, all AverageValue/Utilization as the model says, and
the behavior (defaults: up 100 % or 4 pods per 30 s, whichever is more; down 50 % per 60 s
after a 300 s stabilisation window). With no metric, `metrics` is left out (80 % CPU).
"""

from __future__ import annotations

from exporter.autoscaling.model import ClassAutoscaler, class_autoscaler
from exporter.autoscaling.spec import MetricSpec, ScalingRules
from exporter.config import ComponentClass, Config
from exporter.generators.k8s.names import Manifest, hpa_name, meta
from exporter.metrics_api.quantity import format_exact_quantity


def _scaling_rules(rules: ScalingRules) -> Manifest:
    out: Manifest = {
        "stabilizationWindowSeconds": rules.stabilization_window_seconds,
        "selectPolicy": rules.select_policy,
    }
    if rules.policies:
        out["policies"] = [
            {"type": p.type, "value": p.value, "periodSeconds": p.period_seconds}
            for p in rules.policies
        ]
    return out


def scaling_behavior(model: ClassAutoscaler) -> Manifest:
    """autoscaling/v2 `behavior` (also KEDA's advanced.horizontalPodAutoscalerConfig)."""
    behavior = model.spec.behavior
    assert behavior is not None  # the model always writes the class's behavior
    return {
        "scaleUp": _scaling_rules(behavior.scale_up),
        "scaleDown": _scaling_rules(behavior.scale_down),
    }


def autoscaler_meta(config: Config, cls: ComponentClass) -> Manifest:
    """Metadata of the class's autoscaler (HPA or KEDA ScaledObject), named after its workload,
    in the class's namespace (next to the workload it scales)."""
    metadata = meta(config, hpa_name(cls), "autoscaling", config.class_namespace(cls))
    metadata["labels"]["component_class"] = cls.name
    return metadata


def scale_target_ref(model: ClassAutoscaler) -> Manifest:
    return {"apiVersion": "apps/v1", "kind": model.workload_kind, "name": model.workload_name}


def quantity(value: float) -> str:
    return format_exact_quantity(value)


def metric_manifest(m: MetricSpec) -> Manifest:
    """One `spec.metrics` entry of the model."""
    if m.kind == "Resource":
        target: Manifest = {"type": "Utilization", "averageUtilization": int(m.target)}
        return {"type": "Resource", "resource": {"name": m.name, "target": target}}
    if m.target_type == "Value":
        target = {"type": "Value", "value": quantity(m.target)}
    else:
        target = {"type": "AverageValue", "averageValue": quantity(m.target)}
    if m.kind == "Pods":  # the HPA asks for the pods of its scale target
        return {"type": "Pods", "pods": {"metric": {"name": m.name}, "target": target}}
    metric: Manifest = {"name": m.name}
    if m.selector:
        metric["selector"] = {"matchLabels": dict(m.selector)}
    return {"type": "External", "external": {"metric": metric, "target": target}}


def horizontal_pod_autoscaler(config: Config, cls: ComponentClass) -> Manifest:
    model = class_autoscaler(cls)
    spec: Manifest = {
        "scaleTargetRef": scale_target_ref(model),
        "minReplicas": model.spec.min_replicas,
        "maxReplicas": model.spec.max_replicas,
    }
    if model.metrics:  # none: the HPA controller's default, 80 % CPU
        spec["metrics"] = [metric_manifest(m) for m in model.metrics]
    spec["behavior"] = scaling_behavior(model)
    return {
        "apiVersion": "autoscaling/v2",
        "kind": "HorizontalPodAutoscaler",
        "metadata": autoscaler_meta(config, cls),
        "spec": spec,
    }
