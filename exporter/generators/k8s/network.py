"""How the exporter is reached and kept available: Services, NetworkPolicy, PodDisruptionBudget."""

from __future__ import annotations

from exporter.config import Config
from exporter.generators.k8s.names import (
    Manifest,
    gpu_agent_enabled,
    gpu_name,
    grpc_port,
    labels,
    meta,
    ports,
)


def services(config: Config) -> list[Manifest]:
    grpc = grpc_port(config)  # the KEDA scaler's, None when listen.grpc is off
    out = [
        {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": meta(config, config.deployment.name, "metrics-api"),
            "spec": {
                "selector": labels(config, "metrics-api"),
                "ports": [
                    {
                        "name": "http",
                        "port": ports(config)[0],
                        "targetPort": "http",
                        "protocol": "TCP",
                    },
                    {"name": "https", "port": 443, "targetPort": "https", "protocol": "TCP"},
                    *(
                        [{"name": "grpc", "port": grpc, "targetPort": "grpc", "protocol": "TCP"}]
                        if grpc is not None
                        else []
                    ),
                ],
            },
        }
    ]
    if gpu_agent_enabled(config):
        out.append(
            {  # headless: it exists so the ServiceMonitor finds every node's agent
                "apiVersion": "v1",
                "kind": "Service",
                "metadata": meta(config, gpu_name(config), "gpu-agent"),
                "spec": {
                    "clusterIP": "None",
                    "selector": labels(config, "gpu-agent"),
                    "ports": [
                        {
                            "name": "http",
                            "port": ports(config)[0],
                            "targetPort": "http",
                            "protocol": "TCP",
                        }
                    ],
                },
            }
        )
    return out


def pod_disruption_budget(config: Config) -> Manifest:
    return {
        "apiVersion": "policy/v1",
        "kind": "PodDisruptionBudget",
        "metadata": meta(config, config.deployment.name, "metrics-api"),
        # maxUnavailable, not minAvailable: with one replica a drain must still be possible.
        "spec": {"maxUnavailable": 1, "selector": {"matchLabels": labels(config, "metrics-api")}},
    }


def network_policy(config: Config) -> Manifest:
    http, https = ports(config)
    grpc = grpc_port(config)
    d = config.deployment
    api_server: Manifest = {"ports": [{"protocol": "TCP", "port": https}]}
    # the API servers' addresses, from either setting; none: any source reaches the port
    allowed = dict.fromkeys([*d.api_server_cidrs, *config.listen.https_allowed_cidrs])
    if allowed:
        api_server["from"] = [{"ipBlock": {"cidr": c}} for c in allowed]
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": meta(config, d.name, "metrics-api"),
        "spec": {
            "podSelector": {"matchLabels": {"app.kubernetes.io/name": d.name}},
            "policyTypes": ["Ingress"],
            "ingress": [
                {
                    "from": [
                        {
                            "namespaceSelector": {
                                "matchLabels": {
                                    "kubernetes.io/metadata.name": d.monitoring_namespace
                                }
                            }
                        }
                    ],
                    "ports": [{"protocol": "TCP", "port": http}],
                },
                api_server,
                *([keda_operator(config, grpc)] if grpc is not None else []),
            ],
        },
    }


def keda_operator(config: Config, port: int) -> Manifest:
    """The KEDA scaler's port, from KEDA's operator pods only (the only gRPC client)."""
    keda = config.autoscaling.keda
    return {
        "from": [
            {
                "namespaceSelector": {
                    "matchLabels": {"kubernetes.io/metadata.name": keda.operator_namespace}
                },
                "podSelector": {"matchLabels": dict(keda.operator_pod_labels)},
            }
        ],
        "ports": [{"protocol": "TCP", "port": port}],
    }
