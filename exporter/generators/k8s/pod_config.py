"""The configs the generated pods run with, derived from the user's config.

The metrics-API Deployment gets the user's config with the cluster wiring (mounted serving
cert, front-proxy auth from the cluster) filled in and local-only parts (kubeconfig, the
`deployment:` section) removed. The GPU DaemonSet gets a config that runs the GPU
collector alone, with what it needs to label GPUs with their pods. Secrets must stay file
references under mounted Secrets: an inline password would land in a ConfigMap, and a pod
has no way to get an env var we never set.
"""

from __future__ import annotations

from typing import Any

from exporter.config import Config
from exporter.config.secrets import holds_secret
from exporter.generators.k8s.names import TLS_DIR, ManifestError

AGENT_PROC_ROOT = "/host/proc"  # where the GPU DaemonSet mounts the host's /proc


def check_cluster_secrets(config: Config) -> None:
    """ManifestError naming the field when a secret would not reach the pods as a file."""
    if holds_secret(config.prometheus.url):
        raise ManifestError(
            "prometheus.url: the URL holds a password, which would land in a ConfigMap; "
            "use prometheus.bearer_token_file"
        )
    mounts = [m.mount_path.rstrip("/") + "/" for m in config.deployment.secrets]
    for path, t in config.located_targets():
        if holds_secret(t.address):
            raise ManifestError(
                f"{path}: the URL holds a password, which would land in a ConfigMap; "
                "use password_file with a Secret listed in deployment.secrets"
            )
        if t.password_env:
            raise ManifestError(
                f"{path}.password_env: pods read secrets from files; use "
                "password_file with a Secret listed in deployment.secrets"
            )
        if t.password_file and not any(t.password_file.startswith(m) for m in mounts):
            raise ManifestError(
                f"{path}.password_file: {t.password_file!r} is under no "
                f"deployment.secrets mount_path (have {[m.rstrip('/') for m in mounts]})"
            )


def cluster_config(config: Config) -> dict[str, Any]:
    """The config for the metrics-API pods: the user's, minus what only makes sense here."""
    check_cluster_secrets(config)
    data = config.model_dump(mode="json", exclude_defaults=True)
    data.pop("deployment", None)  # generator input; its file paths are local
    kube = data.setdefault("kubernetes", {})
    kube.pop("kubeconfig", None)  # in a pod the service account is the credential
    if not kube:
        del data["kubernetes"]
    api = data.setdefault("metrics_api", {})
    # The generator mounts the serving cert and grants the auth-reader role, so it wires both.
    api["tls"] = {"cert_file": f"{TLS_DIR}/tls.crt", "key_file": f"{TLS_DIR}/tls.key"}
    auth = api.setdefault("authentication", {})
    auth["from_cluster"] = True
    auth.pop("requestheader_client_ca_file", None)  # a local path; the cluster's CA wins
    return data


def gpu_agent_config(config: Config) -> dict[str, Any]:
    """The DaemonSet's config: the GPU collector only, no API; Kubernetes access (in-cluster)
    only to read the pod labels of GPU holders, with the host's /proc where the DaemonSet
    mounts it."""
    attribution = config.gpu_attribution.model_dump(mode="json")
    attribution["proc_root"] = AGENT_PROC_ROOT
    data: dict[str, Any] = {
        "environment": config.environment,
        "namespace": config.namespace,
        "listen": {"http": config.listen.http},
        "collection": config.collection.model_dump(mode="json", exclude_none=True),
        "gpu": "on",
        "metrics_api": {"enabled": False},
        "kubernetes": {"enabled": "auto" if attribution["enabled"] else "off"},
        "gpu_attribution": attribution,
    }
    Config.model_validate(data)  # what we ship must load
    return data
