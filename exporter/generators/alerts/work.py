"""Alerts on work waiting and the capacity to do it: queues, HPAs, GPUs."""

from __future__ import annotations

from exporter import catalog
from exporter.config import Config
from exporter.generators.alerts.rule import Alert, num
from exporter.generators.promql import agg, dedup, max_rate


def work_alerts(config: Config) -> list[Alert]:
    t = config.alerting.thresholds
    queue = ("component_class", "queue")
    hpa = ("component_class", "hpa")
    return [
        Alert(
            "QueueBacklogGrowing",
            f"{dedup(catalog.QUEUE_DEPTH)} > {num(t.queue_backlog_depth)}\nand\n"
            f"{max_rate(catalog.QUEUE_DEPTH, queue, '15m', 'deriv')} > 0",
            "warning",
            "A work queue keeps growing.",
            "Queue {{ $labels.queue }} of component class {{ $labels.component_class }} holds "
            "{{ $value | humanize }} jobs and has grown for 15 minutes "
            f"(threshold {num(t.queue_backlog_depth)} jobs).",
            for_="15m",
            dashboard="queues-autoscaling",
        ),
        Alert(
            "QueueJobTooOld",
            f"{dedup(catalog.QUEUE_OLDEST_AGE)} > {num(t.queue_oldest_age_seconds)}",
            "warning",
            "Jobs wait too long in a work queue.",
            "The oldest job in queue {{ $labels.queue }} of component class "
            "{{ $labels.component_class }} has waited {{ $value | humanizeDuration }} "
            f"(threshold {num(t.queue_oldest_age_seconds)}s).",
            for_="5m",
            dashboard="queues-autoscaling",
        ),
        Alert(
            "HpaMaxedOut",
            f"{agg('max', catalog.HPA_CURRENT_REPLICAS, hpa)} >= {agg('max', catalog.HPA_MAX_REPLICAS, hpa)}\n"
            f"and\n{agg('max', catalog.HPA_DESIRED_REPLICAS, hpa)} >= "
            f"{agg('max', catalog.HPA_MAX_REPLICAS, hpa)}",
            "warning",
            "An autoscaler has been at its replica ceiling for a while.",
            "HPA {{ $labels.hpa }} of component class {{ $labels.component_class }} runs "
            "{{ $value }} replicas, its maximum, and wants at least as many.",
            for_="15m",
            dashboard="queues-autoscaling",
        ),
        Alert(
            "GpuTemperatureHigh",
            # per device: the pod labels on the series may change while the GPU stays hot
            f"{agg('max', catalog.GPU_TEMPERATURE, catalog.GPU_DEVICE_LABELS)} > "
            f"{num(t.gpu_temperature_celsius)}",
            "warning",
            "A GPU is running hot.",
            "GPU {{ $labels.gpu }} ({{ $labels.uuid }}) on node {{ $labels.node }} is at "
            f"{{{{ $value }}}}°C (threshold {num(t.gpu_temperature_celsius)}°C).",
            for_="5m",
            dashboard="gpu",
        ),
    ]
