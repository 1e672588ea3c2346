"""The pods: the metrics-API Deployment, the GPU-agent DaemonSet and their ConfigMaps.

Both run the same image and container; a ConfigMap's checksum in the pod template rolls
the pods when the config changes.
"""

from __future__ import annotations

import hashlib
from pathlib import PurePosixPath
from typing import Any

from exporter.config import Config
from exporter.generators.k8s.names import (
    CONFIG_DIR,
    CONFIG_KEY,
    TLS_DIR,
    Manifest,
    common_labels,
    gpu_name,
    labels,
    meta,
    ports,
)
from exporter.generators.k8s.pod_config import AGENT_PROC_ROOT, cluster_config, gpu_agent_config
from exporter.generators.k8s.rbac import service_account
from exporter.generators.output import yaml_text

RUN_AS = 1000  # the image's unprivileged user and group


def config_maps(config: Config) -> list[Manifest]:
    return [
        {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": meta(config, f"{config.deployment.name}-config", "metrics-api"),
            "data": {CONFIG_KEY: yaml_text(cluster_config(config), width=100)},
        },
        {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": meta(config, f"{gpu_name(config)}-config", "gpu-agent"),
            "data": {CONFIG_KEY: yaml_text(gpu_agent_config(config), width=100)},
        },
    ]


def _checksum(cm: Manifest) -> str:
    return hashlib.sha256(cm["data"][CONFIG_KEY].encode()).hexdigest()


def _pod_security() -> Manifest:
    return {
        "runAsNonRoot": True,
        "runAsUser": RUN_AS,
        "runAsGroup": RUN_AS,
        "fsGroup": RUN_AS,
        "seccompProfile": {"type": "RuntimeDefault"},
    }


def _container_security() -> Manifest:
    return {
        "allowPrivilegeEscalation": False,
        "readOnlyRootFilesystem": True,
        "capabilities": {"drop": ["ALL"]},
    }


def _probes(port: str) -> Manifest:
    return {
        "livenessProbe": {
            "httpGet": {"path": "/healthz", "port": port},
            "periodSeconds": 10,
            "timeoutSeconds": 2,
            "failureThreshold": 3,
        },
        "readinessProbe": {
            "httpGet": {"path": "/readyz", "port": port},
            "periodSeconds": 5,
            "timeoutSeconds": 2,
            "failureThreshold": 2,
        },
    }


def _resources(r: Any) -> Manifest:
    return {
        "requests": {"cpu": r.requests.cpu, "memory": r.requests.memory},
        "limits": {"cpu": r.limits.cpu, "memory": r.limits.memory},
    }


def _exporter_container(
    config: Config, container_ports: list[Manifest], resources: Any
) -> Manifest:
    d = config.deployment
    return {
        "name": "exporter",
        "image": d.image,
        "imagePullPolicy": d.image_pull_policy,
        "command": ["exporter"],
        "args": ["serve", "--config", f"{CONFIG_DIR}/{CONFIG_KEY}"],
        "ports": container_ports,
        **_probes("http"),
        "resources": _resources(resources),
        "securityContext": _container_security(),
    }


def deployment(config: Config, config_map: Manifest) -> Manifest:
    d = config.deployment
    http, https = ports(config)
    container = _exporter_container(
        config,
        [
            {"name": "http", "containerPort": http, "protocol": "TCP"},
            {"name": "https", "containerPort": https, "protocol": "TCP"},
        ],
        d.resources,
    )
    container["volumeMounts"] = [
        {"name": "config", "mountPath": CONFIG_DIR, "readOnly": True},
        {"name": "tls", "mountPath": TLS_DIR, "readOnly": True},
        {"name": "tmp", "mountPath": "/tmp"},
    ] + [
        {"name": f"secret-{s.secret}", "mountPath": s.mount_path, "readOnly": True}
        for s in d.secrets
    ]
    volumes = [
        {"name": "config", "configMap": {"name": config_map["metadata"]["name"]}},
        {"name": "tls", "secret": {"secretName": d.serving_cert_secret}},
        {"name": "tmp", "emptyDir": {"sizeLimit": "64Mi"}},
    ] + [{"name": f"secret-{s.secret}", "secret": {"secretName": s.secret}} for s in d.secrets]
    selector = labels(config, "metrics-api")
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": meta(config, d.name, "metrics-api"),
        "spec": {
            "replicas": d.replicas,
            "selector": {"matchLabels": selector},
            "strategy": {
                "type": "RollingUpdate",
                "rollingUpdate": {"maxUnavailable": 0, "maxSurge": 1},
            },
            "template": {
                "metadata": {
                    "labels": common_labels(config, "metrics-api"),
                    # A config change rolls the pods.
                    "annotations": {"checksum/config": _checksum(config_map)},
                },
                "spec": {
                    "serviceAccountName": service_account(config)["metadata"]["name"],
                    "securityContext": _pod_security(),
                    # Two replicas on one node is one node failure from no metrics API.
                    "topologySpreadConstraints": [
                        {
                            "maxSkew": 1,
                            "topologyKey": "kubernetes.io/hostname",
                            "whenUnsatisfiable": "ScheduleAnyway",
                            "labelSelector": {"matchLabels": selector},
                        }
                    ],
                    "containers": [container],
                    "volumes": volumes,
                },
            },
        },
    }


def gpu_daemon_set(config: Config, config_map: Manifest) -> Manifest:
    agent = config.deployment.gpu_agent
    http, _ = ports(config)
    container = _exporter_container(
        config, [{"name": "http", "containerPort": http, "protocol": "TCP"}], agent.resources
    )
    container["env"] = [
        {"name": "NODE_NAME", "valueFrom": {"fieldRef": {"fieldPath": "spec.nodeName"}}},
        # The NVIDIA container runtime exposes NVML (not the GPUs' compute) with these.
        {"name": "NVIDIA_VISIBLE_DEVICES", "value": "all"},
        {"name": "NVIDIA_DRIVER_CAPABILITIES", "value": "utility"},
    ]
    settings = config.gpu_attribution
    container["volumeMounts"] = [
        {"name": "config", "mountPath": CONFIG_DIR, "readOnly": True},
        {"name": "tmp", "mountPath": "/tmp"},
    ]
    volumes: list[Manifest] = []
    if settings.enabled:
        # The kubelet's pod-resources socket (which pod holds which GPU) and the host's /proc
        # (NVML reports host PIDs; their cgroups name the pod), both read-only.
        socket_dir = str(PurePosixPath(settings.pod_resources_socket).parent)
        container["volumeMounts"] += [
            {"name": "pod-resources", "mountPath": socket_dir, "readOnly": True},
            {"name": "host-proc", "mountPath": AGENT_PROC_ROOT, "readOnly": True},
        ]
        volumes = [
            {"name": "pod-resources", "hostPath": {"path": socket_dir, "type": "Directory"}},
            {"name": "host-proc", "hostPath": {"path": "/proc", "type": "Directory"}},
        ]
        # The kubelet's socket is root's (mode 0755 or stricter): connecting needs uid 0.
        # Root without any capability, privilege escalation or a writable root filesystem.
        container["securityContext"] = {**_container_security(), "runAsNonRoot": False,
                                         "runAsUser": 0}  # fmt: skip
    pod_spec: Manifest = {
        # Reads its node's pods (the class label) with its own read-only account.
        "serviceAccountName": gpu_name(config),
        "automountServiceAccountToken": settings.enabled,
        "securityContext": _pod_security(),
        "nodeSelector": dict(agent.node_selector),
        "tolerations": [t.model_dump(exclude_none=True) for t in agent.tolerations],
    }
    if agent.runtime_class_name:
        pod_spec["runtimeClassName"] = agent.runtime_class_name
    pod_spec["containers"] = [container]
    pod_spec["volumes"] = [
        {"name": "config", "configMap": {"name": config_map["metadata"]["name"]}},
        {"name": "tmp", "emptyDir": {"sizeLimit": "16Mi"}},
        *volumes,
    ]
    return {
        "apiVersion": "apps/v1",
        "kind": "DaemonSet",
        "metadata": meta(config, gpu_name(config), "gpu-agent"),
        "spec": {
            "selector": {"matchLabels": labels(config, "gpu-agent")},
            "updateStrategy": {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 1}},
            "template": {
                "metadata": {
                    "labels": common_labels(config, "gpu-agent"),
                    "annotations": {"checksum/config": _checksum(config_map)},
                },
                "spec": pod_spec,
            },
        },
    }
