"""Alerts on the platform's pods and containers, from kube-state-metrics and cAdvisor."""

from __future__ import annotations

from exporter.config import Config
from exporter.generators import peer_metrics
from exporter.generators.alerts.rule import Alert, num
from exporter.generators.promql import agg, max_rate, sum_rate


def kubernetes_alerts(config: Config) -> list[Alert]:
    t = config.alerting.thresholds
    # every namespace the platform's pods live in (one: an exact match, as before)
    ns = config.namespace if len(config.namespaces) == 1 else f'=~"{"|".join(config.namespaces)}"'
    pod = ("namespace", "pod")
    ctr = ("namespace", "pod", "container")
    limits = peer_metrics.KUBE_POD_CONTAINER_LIMITS
    named = '!=""'  # cAdvisor's pod-level cgroup series have container=""
    return [
        Alert(
            "PodNotReady",
            f"{agg('max', peer_metrics.KUBE_POD_STATUS_READY, pod, namespace=ns, condition='true')} == 0\n"
            f"unless on (namespace, pod)\n"
            f"{agg('max', peer_metrics.KUBE_POD_STATUS_PHASE, pod, namespace=ns, phase='Succeeded')} > 0",
            "warning",
            "A pod has not been ready for 15 minutes.",
            "Pod {{ $labels.namespace }}/{{ $labels.pod }} has not been Ready for 15 minutes.",
            for_="15m",
        ),
        Alert(
            "PodRestartingFrequently",
            f"{max_rate(peer_metrics.KUBE_POD_CONTAINER_RESTARTS, ctr, '1h', 'increase', namespace=ns)} "
            f"> {t.pod_restarts_per_hour}",
            "warning",
            "A container keeps restarting.",
            "Container {{ $labels.container }} of pod {{ $labels.namespace }}/{{ $labels.pod }} "
            "restarted {{ $value | humanize }} times in the last hour "
            f"(threshold {t.pod_restarts_per_hour}).",
        ),
        Alert(
            "ContainerMemoryHigh",
            f"{agg('max', peer_metrics.CONTAINER_MEMORY_WORKING_SET, ctr, namespace=ns, container=named)}"
            f"\n/ on (namespace, pod, container)\n"
            f"{agg('max', limits, ctr, namespace=ns, resource='memory')}\n"
            f"> {num(t.memory_ratio)}",
            "warning",
            "A container is close to its memory limit.",
            "Container {{ $labels.container }} of pod {{ $labels.namespace }}/{{ $labels.pod }} "
            "uses {{ $value | humanizePercentage }} of its memory limit "
            f"(threshold {num(t.memory_ratio * 100)}%); the OOM killer is next.",
            for_="15m",
        ),
        Alert(
            "ContainerCpuHigh",
            f"{sum_rate(peer_metrics.CONTAINER_CPU_USAGE, ctr, '5m', namespace=ns, container=named)}"
            f"\n/ on (namespace, pod, container)\n"
            f"{agg('max', limits, ctr, namespace=ns, resource='cpu')}\n"
            f"> {num(t.cpu_ratio)}",
            "warning",
            "A container is close to its CPU limit.",
            "Container {{ $labels.container }} of pod {{ $labels.namespace }}/{{ $labels.pod }} "
            "uses {{ $value | humanizePercentage }} of its CPU limit "
            f"(threshold {num(t.cpu_ratio * 100)}%) and is being throttled.",
            for_="15m",
        ),
    ]
