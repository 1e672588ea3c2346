"""Metrics our alerts and dashboards read but other exporters emit.

Declared once here, with the catalog's helper, for the same reason as `exporter.catalog`: a
rename is one edit. Prometheus's own `up`, kube-state-metrics and the kubelet's cAdvisor.
"""

from __future__ import annotations

from exporter.catalog.entry import metric

UP = metric("up", "gauge", "1 if Prometheus's last scrape of the target succeeded.", ("job",))

# kube-state-metrics
KUBE_POD_STATUS_READY = metric(
    "kube_pod_status_ready",
    "gauge",
    "Pod's Ready condition, one series per condition value (true/false/unknown).",
    ("namespace", "pod", "condition"),
)
KUBE_POD_CONTAINER_RESTARTS = metric(
    "kube_pod_container_status_restarts_total",
    "counter",
    "Container restarts.",
    ("namespace", "pod", "container"),
)
KUBE_POD_CONTAINER_LIMITS = metric(
    "kube_pod_container_resource_limits",
    "gauge",
    "Container resource limits (cpu in cores, memory in bytes).",
    ("namespace", "pod", "container", "resource", "unit"),
)

# kubelet / cAdvisor
CONTAINER_MEMORY_WORKING_SET = metric(
    "container_memory_working_set_bytes",
    "gauge",
    "Container working-set memory (what the OOM killer looks at).",
    ("namespace", "pod", "container"),
    "bytes",
)
CONTAINER_CPU_USAGE = metric(
    "container_cpu_usage_seconds_total",
    "counter",
    "Container CPU time consumed.",
    ("namespace", "pod", "container"),
    "seconds",
)
KUBE_POD_STATUS_PHASE = metric(
    "kube_pod_status_phase",
    "gauge",
    "Pod phase, one series per phase (Pending/Running/Succeeded/Failed/Unknown).",
    ("namespace", "pod", "phase"),
)

# ingress-nginx controller (its standard metric names)
NGINX_INGRESS_REQUESTS = metric(
    "nginx_ingress_controller_requests",
    "counter",
    "Client requests the NGINX ingress controller served, by ingress and status code.",
    ("ingress", "namespace", "exported_namespace", "service", "status", "method", "host", "path"),
)
