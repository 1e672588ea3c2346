"""prometheus-operator objects: the ServiceMonitor that scrapes the exporter and the
PrometheusRule holding the generated alert rules."""

from __future__ import annotations

from exporter.config import Config
from exporter.generators import alerts
from exporter.generators.k8s.names import Manifest, meta


def _operator_meta(config: Config) -> Manifest:
    metadata = meta(config, config.deployment.name, "monitoring")
    metadata["labels"].update(config.deployment.prometheus_operator_labels)
    return metadata


def service_monitor(config: Config) -> Manifest:
    return {
        "apiVersion": "monitoring.coreos.com/v1",
        "kind": "ServiceMonitor",
        "metadata": _operator_meta(config),
        "spec": {
            # Both Services (metrics API and GPU agents) carry this label and a port "http".
            "selector": {"matchLabels": {"app.kubernetes.io/name": config.deployment.name}},
            "namespaceSelector": {"matchNames": [config.namespace]},
            "endpoints": [
                {
                    "port": "http",
                    "path": "/metrics",
                    "scheme": "http",
                    "interval": config.deployment.scrape_interval,
                }
            ],
        },
    }


def prometheus_rule(config: Config) -> Manifest:
    return {
        "apiVersion": "monitoring.coreos.com/v1",
        "kind": "PrometheusRule",
        "metadata": _operator_meta(config),
        "spec": {"groups": alerts.rule_groups(config)},
    }
