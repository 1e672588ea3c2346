"""The HPA spec a component class's generated HorizontalPodAutoscaler carries.

Kept for its callers: every function here reads the one HPA model
(`exporter.autoscaling.model.class_autoscaler`), which the generators serialise.
"""

from __future__ import annotations

from exporter.autoscaling.model import class_autoscaler, scaling_rules
from exporter.autoscaling.spec import HPASpec, MetricSpec
from exporter.config import ComponentClass

__all__ = ["hpa_spec", "metric_specs", "scaling_rules"]


def metric_specs(cls: ComponentClass) -> tuple[MetricSpec, ...]:
    """The class's HPA metrics as the controller evaluates them (API defaults applied)."""
    return class_autoscaler(cls).spec.metrics


def hpa_spec(cls: ComponentClass) -> HPASpec:
    """The `HPASpec` the controller will see for this class's generated HPA."""
    return class_autoscaler(cls).spec
