"""Queues and autoscaling: work waiting per class and what each class's HPA does about it."""

from __future__ import annotations

from grafanalib.core import Dashboard

from exporter import catalog
from exporter.config import Config
from exporter.generators.dashboards import kit
from exporter.generators.dashboards.kit import PanelSpec, Query
from exporter.generators.promql import agg, dedup


def _depth_per_replica(cls_name: str, target: float) -> PanelSpec:
    depth = f"sum({dedup(catalog.QUEUE_DEPTH, component_class=cls_name)})"
    replicas = f"sum({dedup(catalog.HPA_CURRENT_REPLICAS, component_class=cls_name)})"
    return PanelSpec(
        f"Queue depth per replica: {cls_name}",
        f"Jobs waiting per running replica of class {cls_name} (1 replica assumed until its "
        f"HPA reports). The red line is the HPA's AverageValue target ({target:g}): above it "
        "the HPA adds replicas.",
        kit.COUNT,
        [Query(f"{depth}\n/\nclamp_min({replicas} or vector(1), 1)", cls_name)],
        limit=target,
        width=8,
    )


def build(config: Config) -> Dashboard:
    t = config.alerting.thresholds
    hpa = ("component_class", "hpa")
    panels = [
        PanelSpec(
            "Queue depth",
            "Jobs waiting, per class and queue.",
            kit.COUNT,
            [
                Query(
                    dedup(catalog.QUEUE_DEPTH, component_class=kit.CLASS),
                    "{{component_class}} {{queue}}",
                )
            ],
        ),
        PanelSpec(
            "Oldest job age",
            "How long the oldest waiting job has waited. The red line is the QueueJobTooOld "
            "threshold.",
            kit.UNIT["seconds"],
            [
                Query(
                    dedup(catalog.QUEUE_OLDEST_AGE, component_class=kit.CLASS),
                    "{{component_class}} {{queue}}",
                )
            ],
            limit=t.queue_oldest_age_seconds,
        ),
        PanelSpec(
            "Stream lag and pending",
            "Redis stream queues: entries not yet delivered to the group (lag) and delivered "
            "but unacknowledged (pending).",
            kit.COUNT,
            [
                Query(
                    dedup(catalog.QUEUE_STREAM_LAG, component_class=kit.CLASS),
                    "lag {{component_class}} {{queue}}",
                ),
                Query(
                    dedup(catalog.QUEUE_STREAM_PENDING, component_class=kit.CLASS),
                    "pending {{component_class}} {{queue}}",
                ),
            ],
        ),
        PanelSpec(
            "Queue readable",
            "1 if the queue was read in the last collection cycle.",
            kit.STATE,
            [
                Query(
                    dedup(catalog.QUEUE_UP, component_class=kit.CLASS),
                    "{{component_class}} {{queue}}",
                )
            ],
        ),
        PanelSpec(
            "HPA replicas: current / desired / max",
            "Per class: replicas running, replicas the HPA wants, and its ceiling.",
            kit.COUNT,
            [
                Query(
                    agg("max", spec, hpa, component_class=kit.CLASS),
                    f"{{{{component_class}}}} {name}",
                )
                for spec, name in (
                    (catalog.HPA_CURRENT_REPLICAS, "current"),
                    (catalog.HPA_DESIRED_REPLICAS, "desired"),
                    (catalog.HPA_MAX_REPLICAS, "max"),
                )
            ],
        ),
        PanelSpec(
            "HPA able to scale",
            "The HPA's AbleToScale and ScalingActive conditions (1 = True). ScalingActive 0 "
            "usually means its metric cannot be read.",
            kit.STATE,
            [
                Query(
                    agg("max", catalog.HPA_ABLE_TO_SCALE, hpa, component_class=kit.CLASS),
                    "{{component_class}} able",
                ),
                Query(
                    agg("max", catalog.HPA_SCALING_ACTIVE, hpa, component_class=kit.CLASS),
                    "{{component_class}} active",
                ),
            ],
        ),
    ]
    for cls in config.component_classes:
        for target in cls.scale_on:
            if target.metric == catalog.QUEUE_DEPTH.name:
                panels.append(_depth_per_replica(cls.name, target.target_average_value))
    return kit.dashboard(
        "exporter-queues-autoscaling",
        "Queues and autoscaling",
        "Work waiting per component class and what each class's HPA does about it.",
        panels,
        kit.class_vars(config),
    )
