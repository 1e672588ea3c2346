"""How the exporter itself runs: listen addresses, collection timing, Prometheus, Kubernetes."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import Field, field_validator, model_validator

from exporter.config.base import Strict


def parse_host_port(value: str) -> tuple[str, int]:
    """`host:port` or `:port` into (host, port); raises ValueError with the reason."""
    host, sep, port = value.rpartition(":")
    if not sep or not port.isdigit() or not 0 <= int(port) <= 65535:
        raise ValueError(f"must be host:port with a port 0-65535, got {value!r}")
    return (host.strip("[]") or "0.0.0.0", int(port))


class Listen(Strict):
    http: str = "0.0.0.0:9464"
    https: str = "0.0.0.0:6443"

    @field_validator("http", "https")
    @classmethod
    def _host_port(cls, v: str) -> str:
        parse_host_port(v)
        return v


class Collection(Strict):
    interval_seconds: Annotated[float, Field(gt=0, le=3600)] = 5.0
    timeout_seconds: Annotated[float, Field(gt=0, le=600)] = 2.0

    @model_validator(mode="after")
    def _timeout_within_interval(self) -> Collection:
        if self.timeout_seconds > self.interval_seconds:
            raise ValueError("timeout_seconds must not exceed interval_seconds")
        return self


class PrometheusSource(Strict):
    url: str = "http://127.0.0.1:9090"
    timeout_seconds: Annotated[float, Field(gt=0, le=60)] = 2.0
    bearer_token_file: str | None = None
    # Caps on one query answer (metrics-API promql sources): a bigger body or more series is
    # "unavailable" (fallback or 503), never parsed at the cost of the event loop.
    max_response_bytes: Annotated[int, Field(ge=1024, le=256 * 1024 * 1024)] = 8 * 1024 * 1024
    max_series: Annotated[int, Field(ge=1, le=1_000_000)] = 10_000


def yaml_on_off(v: Any) -> Any:
    """YAML 1.1 reads a bare `on`/`off` as a boolean; map it back to the word."""
    return {True: "on", False: "off"}.get(v, v) if isinstance(v, bool) else v


class KubernetesAccess(Strict):
    """How the exporter reaches the Kubernetes API (HPA status, front-proxy auth).

    `auto` turns it on inside a cluster (service-account token mounted) or when `kubeconfig`
    is set; `on` insists (falling back to ~/.kube/config); `off` never talks to Kubernetes.
    """

    enabled: Literal["auto", "on", "off"] = "auto"
    kubeconfig: str | None = None

    _yaml_booleans = field_validator("enabled", mode="before")(yaml_on_off)

    @model_validator(mode="after")
    def _consistent(self) -> KubernetesAccess:
        if self.enabled == "off" and self.kubeconfig:
            raise ValueError("kubeconfig is set but enabled is off")
        return self
