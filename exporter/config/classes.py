"""Component classes: a workload, its queues, what its HPA scales on and how fast."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import Field, model_validator

from exporter.config.base import INT32_MAX, NAME_PATTERN, QUANTITY_MAX, Strict
from exporter.config.queues import Queue


class Workload(Strict):
    kind: Literal["Deployment", "StatefulSet"] = "Deployment"
    name: Annotated[str, Field(pattern=NAME_PATTERN)]


class ScaleOn(Strict):
    """A metric the class scales on, as an AverageValue per replica.

    `external` (default): an external metric selected by `component_class=<class>`.
    `pods`: a custom metric per pod (e.g. in-flight SSE streams), averaged over the class's
    pods (HPA `type: Pods`; under KEDA the class total through our scaler). The class is
    active (KEDA activation) while the metric is above `activation_threshold`.
    """

    metric: str
    type: Literal["external", "pods"] = "external"
    target_average_value: Annotated[float, Field(gt=0, le=QUANTITY_MAX)]
    activation_threshold: Annotated[float, Field(ge=0, le=QUANTITY_MAX)] = 0.0


class ScalingRules(Strict):
    """One direction of an HPA's `behavior` (autoscaling/v2 HPAScalingRules)."""

    stabilization_window_seconds: Annotated[int, Field(ge=0, le=3600)] = 0
    percent: Annotated[int, Field(gt=0, le=INT32_MAX)] | None = None  # a Percent policy, per period
    pods: Annotated[int, Field(gt=0, le=INT32_MAX)] | None = None  # a Pods policy, per period
    period_seconds: Annotated[int, Field(gt=0, le=1800)] = 60
    select_policy: Literal["Max", "Min", "Disabled"] = "Max"

    @model_validator(mode="after")
    def _some_policy(self) -> ScalingRules:
        if self.select_policy != "Disabled" and self.percent is None and self.pods is None:
            raise ValueError("set percent and/or pods (or select_policy: Disabled)")
        return self


class ScalingBehavior(Strict):
    """HPA behavior; the defaults are the platform's: up by 100 % or 4 pods (the larger) per
    30 s, down by 50 % per 60 s after a 5 minute stabilisation window."""

    scale_up: ScalingRules = ScalingRules(
        stabilization_window_seconds=0, percent=100, pods=4, period_seconds=30
    )
    scale_down: ScalingRules = ScalingRules(
        stabilization_window_seconds=300, percent=50, period_seconds=60
    )

    @model_validator(mode="before")
    @classmethod
    def _over_defaults(cls, data: Any) -> Any:
        # A partial direction (`scale_down: {stabilization_window_seconds: 600}`) changes only
        # what it names; the rest keeps the platform defaults.
        if not isinstance(data, dict):
            return data
        out = dict(data)
        for key in ("scale_up", "scale_down"):
            if isinstance(out.get(key), dict):
                default = cls.model_fields[key].default.model_dump()
                out[key] = {**default, **out[key]}
        return out


class MetricsEndpoint(Strict):
    """Where a class's pods serve the instrumentation's metrics (its PodMonitor and scrape job)."""

    port: Annotated[str, Field(pattern=NAME_PATTERN, max_length=15)] = "http"  # container port name
    path: Annotated[str, Field(pattern=r"^/[^\s]*$")] = "/metrics"
    # The pods' labels; empty: `app.kubernetes.io/name: <workload.name>`.
    pod_labels: dict[str, str] = {}


class ComponentClass(Strict):
    name: Annotated[str, Field(pattern=NAME_PATTERN)]
    # Where the workload, its HPA or ScaledObject and its PodMonitor live; None: the top-level
    # `namespace` (see Config.class_namespace).
    namespace: Annotated[str, Field(pattern=NAME_PATTERN)] | None = None
    workload: Workload
    metrics: MetricsEndpoint = MetricsEndpoint()
    min_replicas: Annotated[int, Field(ge=0, le=INT32_MAX)] = 1  # 0 only with engine keda
    max_replicas: Annotated[int, Field(ge=1, le=INT32_MAX)] = 10
    # Under autoscaling.engine keda: minReplicaCount 0 (KEDA activation wakes the class).
    scale_to_zero: bool = False
    queues: list[Queue] = []
    scale_on: list[ScaleOn] = []
    cpu_utilization: Annotated[int, Field(gt=0, le=100)] | None = None
    memory_utilization: Annotated[int, Field(gt=0, le=100)] | None = None
    behavior: ScalingBehavior = ScalingBehavior()

    @model_validator(mode="after")
    def _replicas(self) -> ComponentClass:
        if self.min_replicas > self.max_replicas:
            raise ValueError("min_replicas must not exceed max_replicas")
        names = [q.name for q in self.queues]
        if len(names) != len(set(names)):
            raise ValueError("queue names must be unique within a class")
        return self
