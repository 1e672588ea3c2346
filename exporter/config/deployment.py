"""The `deployment:` section: what `exporter generate manifests` needs beyond the platform."""

from __future__ import annotations

import ipaddress
from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, field_validator, model_validator

from exporter.config.base import NAME_PATTERN, Strict

_QUANTITY = r"^[0-9]+(\.[0-9]+)?(m|k|Ki|M|Mi|G|Gi|T|Ti)?$"
Quantity = Annotated[str, Field(pattern=_QUANTITY)]


class ResourceAmounts(Strict):
    cpu: Quantity
    memory: Quantity


class ContainerResources(Strict):
    requests: ResourceAmounts = ResourceAmounts(cpu="100m", memory="128Mi")
    limits: ResourceAmounts = ResourceAmounts(cpu="1", memory="256Mi")


class SecretMount(Strict):
    """A Secret mounted read-only, so config fields can name its files (password_file...)."""

    secret: Annotated[str, Field(pattern=NAME_PATTERN)]
    mount_path: Annotated[str, Field(pattern=r"^/[^\s]*$")]


class Toleration(Strict):
    key: str
    operator: Literal["Exists", "Equal"] = "Exists"
    value: str | None = None
    effect: Literal["NoSchedule", "PreferNoSchedule", "NoExecute"] | None = None

    @model_validator(mode="after")
    def _value_with_equal(self) -> Toleration:
        if (self.operator == "Equal") != (self.value is not None):
            raise ValueError("operator Equal needs value; Exists takes none")
        return self


class GpuAgent(Strict):
    """The per-node DaemonSet that runs the exporter with only the GPU collector."""

    enabled: bool = True  # also needs gpu != off
    node_selector: dict[str, str] = {"nvidia.com/gpu.present": "true"}
    tolerations: list[Toleration] = [Toleration(key="nvidia.com/gpu", effect="NoSchedule")]
    runtime_class_name: Annotated[str, Field(pattern=NAME_PATTERN)] | None = None
    resources: ContainerResources = ContainerResources(
        requests=ResourceAmounts(cpu="50m", memory="64Mi"),
        limits=ResourceAmounts(cpu="500m", memory="128Mi"),
    )


class Deployment(Strict):
    """What `exporter generate manifests` needs beyond the platform description."""

    name: Annotated[str, Field(pattern=NAME_PATTERN, max_length=40)] = "exporter"
    image: Annotated[str, Field(pattern=r"^[^\s]+$")] = "ghcr.io/example/exporter:0.1.0"
    image_pull_policy: Literal["Always", "IfNotPresent", "Never"] = "IfNotPresent"
    replicas: Annotated[int, Field(ge=1, le=50)] = 2
    resources: ContainerResources = ContainerResources()
    # The Secret (tls.crt, tls.key) the metrics API serves with. Without ca_bundle_file the
    # manifests have cert-manager issue it and inject the CA into the APIServices.
    serving_cert_secret: Annotated[str, Field(pattern=NAME_PATTERN)] = "exporter-serving-cert"
    # A PEM CA that signed serving_cert_secret; base64-encoded into the APIServices' caBundle.
    ca_bundle_file: str | None = None
    monitoring_namespace: Annotated[str, Field(pattern=NAME_PATTERN)] = "monitoring"
    # Where kube-apiserver connects from (for the NetworkPolicy); empty: any source, since
    # control-plane addresses are cluster specific.
    api_server_cidrs: list[str] = []
    # Labels prometheus-operator selects ServiceMonitors/PrometheusRules by (e.g. release).
    prometheus_operator_labels: dict[str, str] = {}
    scrape_interval: Annotated[str, Field(pattern=r"^[0-9]+(ms|s|m|h)$")] = "30s"
    secrets: list[SecretMount] = []
    gpu_agent: GpuAgent = GpuAgent()

    @field_validator("api_server_cidrs")
    @classmethod
    def _cidrs(cls, v: list[str]) -> list[str]:
        for cidr in v:
            try:
                ipaddress.ip_network(cidr)
            except ValueError as exc:
                raise ValueError(f"{cidr!r} is not a CIDR: {exc}") from None
        return v

    _ca_readable = field_validator("ca_bundle_file")(lambda v: ca_file_readable(v))


def ca_file_readable(v: str | None) -> str | None:
    """A field validator: `v` (a PEM CA path) unchanged, or ValueError when unreadable."""
    if v is not None:
        read_ca_bundle(v)
    return v


def read_ca_bundle(path: str) -> bytes:
    """The PEM certificates in `path`; ValueError when unreadable or not PEM X.509."""
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise ValueError(f"cannot read {path!r}: {exc.strerror}") from None
    from cryptography import x509  # here only: ~14 MB resident the serving path need not pay

    try:
        x509.load_pem_x509_certificates(data)
    except ValueError:
        raise ValueError(f"{path!r} holds no PEM X.509 certificate") from None
    return data
