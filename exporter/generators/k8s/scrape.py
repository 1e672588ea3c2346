"""Scrape objects for the instrumented services (not the exporter): one prometheus-operator
PodMonitor per component class, and the same targets as a plain Prometheus `scrape_configs`
snippet (kubernetes_sd_configs) for clusters without the operator.

The services serve `/metrics` themselves (`exporter.instrument`) and label every series with
`component_class`, so no relabeling adds it here: a target label of the same name would
rename theirs to `exported_component_class`.
"""

from __future__ import annotations

from typing import Any

from exporter.autoscaling.model import pod_selector
from exporter.config import ComponentClass, Config
from exporter.generators.k8s.names import Manifest, operator_meta

SNIPPET = "scrape-configs.yml"


def pod_labels(cls: ComponentClass) -> dict[str, str]:
    """The labels that select the class's pods (the HPA model's pod selector)."""
    return pod_selector(cls)


def pod_monitor_name(cls: ComponentClass) -> str:
    return cls.workload.name


def pod_monitor(config: Config, cls: ComponentClass) -> Manifest:
    """In the class's namespace, selecting its pods there."""
    namespace = config.class_namespace(cls)
    metadata = operator_meta(config, pod_monitor_name(cls))
    metadata["namespace"] = namespace
    return {
        "apiVersion": "monitoring.coreos.com/v1",
        "kind": "PodMonitor",
        "metadata": metadata,
        "spec": {
            "selector": {"matchLabels": pod_labels(cls)},
            "namespaceSelector": {"matchNames": [namespace]},
            "podMetricsEndpoints": [
                {
                    "port": cls.metrics.port,
                    "path": cls.metrics.path,
                    "scheme": "http",
                    "interval": config.deployment.scrape_interval,
                }
            ],
        },
    }


def pod_monitors(config: Config) -> list[Manifest]:
    return [pod_monitor(config, cls) for cls in config.component_classes]


def _scrape_job(config: Config, cls: ComponentClass) -> dict[str, Any]:
    selector = ",".join(f"{k}={v}" for k, v in pod_labels(cls).items())
    meta_label = "__meta_kubernetes_"
    namespace = config.class_namespace(cls)
    return {
        "job_name": f"{namespace}/{pod_monitor_name(cls)}",
        "scrape_interval": config.deployment.scrape_interval,
        "metrics_path": cls.metrics.path,
        "scheme": "http",
        "kubernetes_sd_configs": [
            {
                "role": "pod",
                "namespaces": {"names": [namespace]},
                "selectors": [{"role": "pod", "label": selector}],
            }
        ],
        "relabel_configs": [
            # one target per pod: the named container port only
            {
                "source_labels": [f"{meta_label}pod_container_port_name"],
                "regex": cls.metrics.port,
                "action": "keep",
            },
            # finished pods (Jobs) keep their IP in the API for a while: nothing to scrape
            {
                "source_labels": [f"{meta_label}pod_phase"],
                "regex": "Succeeded|Failed",
                "action": "drop",
            },
            # the labels the PodMonitor's targets get, so dashboards work with either
            *(
                {"source_labels": [f"{meta_label}{source}"], "target_label": target}
                for source, target in (
                    ("namespace", "namespace"),
                    ("pod_name", "pod"),
                    ("pod_container_name", "container"),
                )
            ),
        ],
    }


def scrape_configs(config: Config) -> dict[str, Any]:
    """`scrape_configs:` for a Prometheus without the operator (merge into prometheus.yml)."""
    return {"scrape_configs": [_scrape_job(config, cls) for cls in config.component_classes]}
