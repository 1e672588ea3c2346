"""prometheus-operator objects: the ServiceMonitors that scrape the exporter (metrics API)
and the GPU agents, and the PrometheusRule holding the generated alert rules."""

from __future__ import annotations

from exporter.config import Config
from exporter.generators import alerts
from exporter.generators.k8s.names import Manifest, gpu_name, labels, operator_meta


def _monitor(config: Config, name: str, component: str, endpoint: Manifest) -> Manifest:
    return {
        "apiVersion": "monitoring.coreos.com/v1",
        "kind": "ServiceMonitor",
        "metadata": operator_meta(config, name),
        "spec": {
            "selector": {"matchLabels": labels(config, component)},
            "namespaceSelector": {"matchNames": [config.namespace]},
            "endpoints": [
                {
                    "port": "http",
                    "path": "/metrics",
                    "scheme": "http",
                    "interval": config.deployment.scrape_interval,
                    **endpoint,
                }
            ],
        },
    }


def service_monitor(config: Config) -> Manifest:
    """The metrics-API pods: their series get the usual namespace/pod target labels."""
    return _monitor(config, config.deployment.name, "metrics-api", {})


def gpu_service_monitor(config: Config) -> Manifest:
    """The GPU agents: a GPU series names the pod that holds the GPU in its own `namespace`,
    `pod` and `container` labels, so the agent pod's target labels are dropped (a free GPU
    must not look like the agent's) and the exposed labels are honoured."""
    return _monitor(
        config,
        gpu_name(config),
        "gpu-agent",
        {
            "honorLabels": True,
            "relabelings": [{"action": "labeldrop", "regex": "namespace|pod|container"}],
        },
    )


def prometheus_rule(config: Config) -> Manifest:
    return {
        "apiVersion": "monitoring.coreos.com/v1",
        "kind": "PrometheusRule",
        "metadata": operator_meta(config),
        "spec": {"groups": alerts.rule_groups(config)},
    }
