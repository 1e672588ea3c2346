"""Names, labels and ports of the generated Kubernetes objects, each defined once.

Every module that writes an object or refers to one (a Service's selector, an APIService's
service, a binding's subject) takes the name from here, so a rename is one edit.
"""

from __future__ import annotations

from typing import Any

from exporter.config import ComponentClass, Config, parse_host_port

Manifest = dict[str, Any]

CONFIG_DIR = "/etc/exporter/config"
CONFIG_KEY = "config.yaml"
TLS_DIR = "/etc/exporter/tls"


class ManifestError(ValueError):
    """The config cannot be deployed as is (e.g. an inline secret); says which field."""


def labels(config: Config, component: str) -> dict[str, str]:
    """Selector labels of one part of the exporter (`metrics-api` or `gpu-agent`)."""
    return {
        "app.kubernetes.io/name": config.deployment.name,
        "app.kubernetes.io/component": component,
    }


def common_labels(config: Config, component: str) -> dict[str, str]:
    return {**labels(config, component), "app.kubernetes.io/managed-by": "exporter-generate"}


def meta(config: Config, name: str, component: str, namespace: str | None = "") -> Manifest:
    out: Manifest = {"name": name}
    if namespace is not None:
        out["namespace"] = namespace or config.namespace
    out["labels"] = common_labels(config, component)
    return out


def operator_meta(config: Config, name: str | None = None) -> Manifest:
    """Metadata of a prometheus-operator object: also the labels its Prometheus selects on."""
    metadata = meta(config, name or config.deployment.name, "monitoring")
    metadata["labels"].update(config.deployment.prometheus_operator_labels)
    return metadata


def hpa_name(cls: ComponentClass) -> str:
    """One HPA per class, named after the workload it scales."""
    return cls.workload.name


def serving_certificate_name(config: Config) -> str:
    return f"{config.deployment.name}-serving-cert"


def gpu_name(config: Config) -> str:
    return f"{config.deployment.name}-gpu"


def ports(config: Config) -> tuple[int, int]:
    """(http, https) container ports, from `listen`."""
    return parse_host_port(config.listen.http)[1], parse_host_port(config.listen.https)[1]


def grpc_port(config: Config) -> int | None:
    """The KEDA external scaler's container port (`listen.grpc`), None when it is off."""
    return parse_host_port(config.listen.grpc)[1] if config.listen.grpc else None


def gpu_agent_enabled(config: Config) -> bool:
    return config.gpu != "off" and config.deployment.gpu_agent.enabled
