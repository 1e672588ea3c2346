"""The exporter's service accounts and RBAC: delegated auth, reading pods and HPAs, letting
the HPA controller read the metrics APIs, and the GPU agents reading pods (for the class
label of the pod that holds a GPU)."""

from __future__ import annotations

from exporter.config import Config
from exporter.generators.k8s.apiservice import METRICS_GROUPS
from exporter.generators.k8s.names import Manifest, gpu_name, meta

HPA_CONTROLLER = ("kube-system", "horizontal-pod-autoscaler")  # its service account


def service_account(config: Config) -> Manifest:
    return {
        "apiVersion": "v1",
        "kind": "ServiceAccount",
        "metadata": meta(config, config.deployment.name, "metrics-api"),
    }


def gpu_service_account(config: Config) -> Manifest:
    """The GPU agents' own account: it may read pods and nothing else."""
    return {
        "apiVersion": "v1",
        "kind": "ServiceAccount",
        "metadata": meta(config, gpu_name(config), "gpu-agent"),
    }


def _sa_subject(config: Config, name: str | None = None) -> dict[str, str]:
    return {
        "kind": "ServiceAccount",
        "name": name or config.deployment.name,
        "namespace": config.namespace,
    }


RBAC_V1 = "rbac.authorization.k8s.io/v1"
READ = ["get", "list", "watch"]


def role_ref(kind: str, role: str) -> dict[str, str]:
    return {"apiGroup": "rbac.authorization.k8s.io", "kind": kind, "name": role}


def gpu_agent_rbac(config: Config) -> list[Manifest]:
    """Pods on every node (the agent lists its own node's: `spec.nodeName` field selector)."""
    name = f"{gpu_name(config)}-pod-reader"
    return [
        {
            "apiVersion": RBAC_V1,
            "kind": "ClusterRole",
            "metadata": meta(config, name, "gpu-agent", None),
            "rules": [{"apiGroups": [""], "resources": ["pods"], "verbs": ["get", "list"]}],
        },
        {
            "apiVersion": RBAC_V1,
            "kind": "ClusterRoleBinding",
            "metadata": meta(config, name, "gpu-agent", None),
            "roleRef": role_ref("ClusterRole", name),
            "subjects": [_sa_subject(config, gpu_name(config))],
        },
    ]


def rbac(config: Config) -> list[Manifest]:
    name = config.deployment.name
    hpa_ns, hpa_sa = HPA_CONTROLLER
    return [
        {  # delegated authentication/authorization (TokenReview, SubjectAccessReview)
            "apiVersion": RBAC_V1,
            "kind": "ClusterRoleBinding",
            "metadata": meta(config, f"{name}:system:auth-delegator", "metrics-api", None),
            "roleRef": role_ref("ClusterRole", "system:auth-delegator"),
            "subjects": [_sa_subject(config)],
        },
        {  # read the front-proxy CA and allowed names
            "apiVersion": RBAC_V1,
            "kind": "RoleBinding",
            "metadata": meta(config, f"{name}-auth-reader", "metrics-api", "kube-system"),
            "roleRef": role_ref("Role", "extension-apiserver-authentication-reader"),
            "subjects": [_sa_subject(config)],
        },
        {
            "apiVersion": RBAC_V1,
            "kind": "ClusterRole",
            "metadata": meta(config, f"{name}-reader", "metrics-api", None),
            "rules": [
                {"apiGroups": [""], "resources": ["pods"], "verbs": READ},
                {
                    "apiGroups": ["autoscaling"],
                    "resources": ["horizontalpodautoscalers"],
                    "verbs": READ,
                },
                {  # who owns the metrics groups (exporter_apiservice_owned/available)
                    "apiGroups": ["apiregistration.k8s.io"],
                    "resources": ["apiservices"],
                    "verbs": READ,
                },
            ],
        },
        {
            "apiVersion": RBAC_V1,
            "kind": "ClusterRoleBinding",
            "metadata": meta(config, f"{name}-reader", "metrics-api", None),
            "roleRef": role_ref("ClusterRole", f"{name}-reader"),
            "subjects": [_sa_subject(config)],
        },
        {  # lets the HPA controller read what we serve
            "apiVersion": RBAC_V1,
            "kind": "ClusterRole",
            "metadata": meta(config, f"{name}-metrics-reader", "metrics-api", None),
            "rules": [
                {"apiGroups": sorted(METRICS_GROUPS), "resources": ["*"], "verbs": READ},
            ],
        },
        {
            "apiVersion": RBAC_V1,
            "kind": "ClusterRoleBinding",
            "metadata": meta(config, f"{name}-hpa-metrics-reader", "metrics-api", None),
            "roleRef": role_ref("ClusterRole", f"{name}-metrics-reader"),
            "subjects": [{"kind": "ServiceAccount", "name": hpa_sa, "namespace": hpa_ns}],
        },
    ]
