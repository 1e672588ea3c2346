"""Kubernetes API access with the official `kubernetes` client.

One `ApiClient` per caller, built from the pod's service account in a cluster or from a
kubeconfig, never from the client's process-global default (tests point it at a fake API
server). Calls here are blocking: async callers run them in a thread with a timeout.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import TYPE_CHECKING

from exporter.config import KubernetesAccess

if TYPE_CHECKING:  # the client costs ~0.3 s to import: only code that talks to Kubernetes pays
    from kubernetes import client

SERVICE_ACCOUNT_TOKEN = "/var/run/secrets/kubernetes.io/serviceaccount/token"
AUTH_CONFIGMAP = ("kube-system", "extension-apiserver-authentication")
CLIENT_CA_KEY = "requestheader-client-ca-file"
ALLOWED_NAMES_KEY = "requestheader-allowed-names"
USERNAME_HEADERS_KEY = "requestheader-username-headers"
GROUP_HEADERS_KEY = "requestheader-group-headers"


class KubeError(Exception):
    """Kubernetes could not be reached or answered something unusable (no secrets inside)."""


def in_cluster() -> bool:
    """True inside a pod with a mounted service-account token."""
    return bool(os.environ.get("KUBERNETES_SERVICE_HOST")) and Path(SERVICE_ACCOUNT_TOKEN).exists()


def enabled(access: KubernetesAccess) -> bool:
    """Whether Kubernetes-backed parts run: `auto` means in a cluster or with a kubeconfig."""
    if access.enabled == "off":
        return False
    if access.enabled == "on":
        return True
    return bool(access.kubeconfig) or in_cluster()


def api_client(access: KubernetesAccess) -> client.ApiClient:
    """A client from `access.kubeconfig`, else the in-cluster service account, else the
    default kubeconfig (`KUBECONFIG` or ~/.kube/config)."""
    from kubernetes import client
    from kubernetes import config as kube_config

    cfg = client.Configuration()
    try:
        if access.kubeconfig:
            kube_config.load_kube_config(config_file=access.kubeconfig, client_configuration=cfg)
        elif in_cluster():
            kube_config.load_incluster_config(client_configuration=cfg)
        else:  # KUBECONFIG read now, not when the client was imported; it may be a list
            kube_config.load_kube_config(
                config_file=os.environ.get("KUBECONFIG") or None, client_configuration=cfg
            )
    except (kube_config.ConfigException, OSError) as exc:
        source = access.kubeconfig or ("in-cluster" if in_cluster() else "default kubeconfig")
        raise KubeError(f"cannot load Kubernetes credentials from {source}: {exc}") from None
    # No urllib3 retries: a hung API server would otherwise cost four timeouts per call; the
    # collector's next cycle is the retry.
    cfg.retries = 0
    return client.ApiClient(cfg)


def core_v1(access: KubernetesAccess) -> client.CoreV1Api:
    """A CoreV1Api (for read_front_proxy_auth) on a fresh client from `access`."""
    from kubernetes import client

    return client.CoreV1Api(api_client(access))


def _json_list(data: dict[str, str], key: str) -> list[str]:
    raw = data.get(key)
    if raw is None:
        return []
    try:
        value = json.loads(raw)
    except json.JSONDecodeError:
        raise KubeError(f"{'/'.join(AUTH_CONFIGMAP)}: {key} is not JSON") from None
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise KubeError(f"{'/'.join(AUTH_CONFIGMAP)}: {key} is not a JSON list of strings")
    return value


def front_proxy_configmap_data(
    api: client.CoreV1Api | None = None, timeout: float | None = None
) -> dict[str, str]:
    """The `data` of kube-system/extension-apiserver-authentication, as kube-apiserver wrote it.

    `api` defaults to a client from the in-cluster service account (or the default
    kubeconfig). Raises KubeError with the reason (HTTP status, unreachable server).
    """
    import urllib3
    from kubernetes.client.exceptions import ApiException

    if api is None:
        api = core_v1(KubernetesAccess())
    ns, name = AUTH_CONFIGMAP
    try:
        cm = api.read_namespaced_config_map(name, ns, _request_timeout=timeout)
    except ApiException as exc:
        raise KubeError(
            f"cannot read configmap {ns}/{name}: HTTP {exc.status} {exc.reason}"
        ) from None
    except (urllib3.exceptions.HTTPError, OSError) as exc:
        raise KubeError(f"cannot read configmap {ns}/{name}: {exc}") from None
    return dict(cm.data or {})


def read_front_proxy_auth(
    api: client.CoreV1Api | None = None, timeout: float | None = None
) -> tuple[str, list[str], list[str], list[str]]:
    """(client CA PEM, allowed names, username headers, group headers) of the aggregation layer.

    Read from kube-system/extension-apiserver-authentication, which kube-apiserver writes from
    its --requestheader-* flags. An empty allowed-names list means any client certificate the
    CA signed is accepted (Kubernetes' semantics); a missing header list comes back empty.
    Raises KubeError with the reason.
    """
    data = front_proxy_configmap_data(api, timeout)
    ns, name = AUTH_CONFIGMAP
    ca = data.get(CLIENT_CA_KEY)
    if not ca:
        raise KubeError(
            f"{ns}/{name} has no {CLIENT_CA_KEY}: kube-apiserver runs without "
            "--requestheader-client-ca-file, so the aggregation layer cannot authenticate to us"
        )
    from cryptography import x509  # here only: the serving path need not load cryptography

    try:
        x509.load_pem_x509_certificates(ca.encode())
    except ValueError:
        raise KubeError(f"{ns}/{name}: {CLIENT_CA_KEY} holds no PEM certificate") from None
    return (
        ca,
        _json_list(data, ALLOWED_NAMES_KEY),
        _json_list(data, USERNAME_HEADERS_KEY),
        _json_list(data, GROUP_HEADERS_KEY),
    )
