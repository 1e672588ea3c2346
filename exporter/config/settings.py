"""How the exporter itself runs: listen addresses, collection timing, the PromQL source
(Prometheus, Thanos, Mimir, VictoriaMetrics), Kubernetes."""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import Field, SecretStr, ValidationInfo, field_validator, model_validator

from exporter.config.base import Strict
from exporter.config.secrets import read_secret_env, read_secret_file


def parse_host_port(value: str) -> tuple[str, int]:
    """`host:port` or `:port` into (host, port); raises ValueError with the reason."""
    host, sep, port = value.rpartition(":")
    if not sep or not port.isdigit() or not 0 <= int(port) <= 65535:
        raise ValueError(f"must be host:port with a port 0-65535, got {value!r}")
    return (host.strip("[]") or "0.0.0.0", int(port))


DEFAULT_GRPC = "0.0.0.0:9465"  # the KEDA scaler's address under engine keda, listen.grpc unset


class Listen(Strict):
    """Addresses, and the connection discipline both listeners apply (see README)."""

    http: str = "0.0.0.0:9464"
    https: str = "0.0.0.0:6443"
    # Prometheus exporter-toolkit web-config (tls_server_config, basic_auth_users) for `http`.
    web_config_file: str | None = None
    head_timeout_seconds: Annotated[float, Field(gt=0, le=300)] = 10.0
    tls_handshake_timeout_seconds: Annotated[float, Field(gt=0, le=300)] = 10.0
    # Longer than Go http.Transport's 90 s IdleConnTimeout, so clients close idle ones first.
    idle_timeout_seconds: Annotated[float, Field(gt=0, le=3600)] = 120.0
    max_head_bytes: Annotated[int, Field(ge=1024, le=1 << 20)] = 65536  # request line + headers
    # A request body on a route that takes one (none of the exporter's routes do: a body
    # anywhere is refused before it is read); and what all of a listener's connections may
    # hold of unfinished heads and bodies together (then 503), so memory before
    # authentication stays bounded whatever the clients send.
    max_body_bytes: Annotated[int, Field(ge=0, le=64 << 20)] = 16384
    max_buffered_bytes: Annotated[int, Field(ge=1 << 16, le=1 << 30)] = 8 << 20
    max_connections: Annotated[int, Field(ge=1, le=100000)] = 1000  # per listener
    # One client address's share of a listener's connections (default a quarter of
    # max_connections), so one client cannot lock out the scraper and the probes.
    max_connections_per_client: Annotated[int, Field(ge=1, le=100000)] | None = None
    # Sources the generated NetworkPolicy lets reach `https` (the API servers); [] = any.
    https_allowed_cidrs: list[str] = []
    # KEDA's external scaler (gRPC). Left out, it is served on DEFAULT_GRPC under
    # `autoscaling.engine: keda` and not at all under `hpa` (the embedded default): grpc is
    # then never imported (~17 MB resident) and GPU agents and extra replicas started from
    # their own files claim no fixed port. Set, it is served whatever the engine; null: none.
    grpc: str | None = None

    @field_validator("http", "https", "grpc")
    @classmethod
    def _host_port(cls, v: str | None) -> str | None:
        if v is not None:
            parse_host_port(v)
        return v

    @model_validator(mode="after")
    def _share_within_cap(self) -> Listen:
        share = self.max_connections_per_client
        if share is not None and share > self.max_connections:
            raise ValueError("max_connections_per_client must not exceed max_connections")
        return self

    @field_validator("https_allowed_cidrs")
    @classmethod
    def _cidrs(cls, v: list[str]) -> list[str]:
        return [str(ipaddress.ip_network(c, strict=False)) for c in v]


class Schedule(Strict):
    """How often one kind of collection runs, and how long one run may take."""

    interval_seconds: Annotated[float, Field(gt=0, le=3600)]
    timeout_seconds: Annotated[float, Field(gt=0, le=600)]

    @model_validator(mode="after")
    def _timeout_within_interval(self) -> Schedule:
        if self.timeout_seconds > self.interval_seconds:
            raise ValueError("timeout_seconds must not exceed interval_seconds")
        return self


# The single interval (and timeout) every collector shared before `queues`/`health` existed.
LEGACY_INTERVAL_SECONDS = 5.0
LEGACY_TIMEOUT_SECONDS = 2.0


class Collection(Strict):
    """Collection schedules per kind of work.

    `queues`: queue depth and age (and GPU utilisation), what the autoscalers consume: every
    second by default, so a job pushed to an empty queue reaches the metrics APIs and KEDA
    within about a second. `health`: PostgreSQL/Redis health probes (heavier views, remote
    databases), the APIService and HPA reads: every 15 s with a 5 s timeout.

    A config written for one shared interval (`interval_seconds` and/or `timeout_seconds`,
    defaults 5 s and 2 s as before) keeps meaning what it meant: both kinds run on it,
    unless a kind sets its own.
    """

    interval_seconds: Annotated[float, Field(gt=0, le=3600)] | None = None
    timeout_seconds: Annotated[float, Field(gt=0, le=600)] | None = None
    queues: Schedule = Schedule(interval_seconds=1.0, timeout_seconds=0.8)
    health: Schedule = Schedule(interval_seconds=15.0, timeout_seconds=5.0)

    @model_validator(mode="after")
    def _single_interval(self) -> Collection:
        if self.interval_seconds is None and self.timeout_seconds is None:
            return self
        interval = self.interval_seconds or LEGACY_INTERVAL_SECONDS
        timeout = self.timeout_seconds or LEGACY_TIMEOUT_SECONDS
        if timeout > interval:
            raise ValueError("timeout_seconds must not exceed interval_seconds")
        shared = Schedule(interval_seconds=interval, timeout_seconds=timeout)
        for kind in ("queues", "health"):
            if kind not in self.model_fields_set:  # a kind's own schedule wins
                object.__setattr__(self, kind, shared)
        return self


class BasicAuth(Strict):
    """HTTP basic auth for the PromQL source; the password from a file or an env var."""

    username: Annotated[str, Field(min_length=1)]
    password_file: str | None = None
    password_env: str | None = None

    def password(self, environ: Mapping[str, str] | None = None) -> SecretStr:
        """Read at call time (files rotate); ValueError naming the field when unreadable."""
        if self.password_file:
            return read_secret_file(self.password_file, "password_file")
        if self.password_env:
            return read_secret_env(self.password_env, "password_env", environ)
        return SecretStr("")

    @model_validator(mode="after")
    def _one_source(self, info: ValidationInfo) -> BasicAuth:
        if self.password_file and self.password_env:
            raise ValueError("set password_file or password_env, not both")
        self.password((info.context or {}).get("environ"))  # fail at load, naming the field
        return self


class PrometheusSource(Strict):
    """The PromQL query API: Prometheus, or Thanos/Mimir/VictoriaMetrics behind the same API."""

    url: str = "http://127.0.0.1:9090"
    # Inserted before /api/v1 (e.g. `/prometheus` for Mimir behind a gateway).
    path_prefix: Annotated[str, Field(pattern=r"^(/[^\s?#]*[^/\s?#])?$")] = ""
    timeout_seconds: Annotated[float, Field(gt=0, le=60)] = 2.0
    bearer_token_file: str | None = None
    basic_auth: BasicAuth | None = None
    ca_file: str | None = None  # PEM CA(s) that sign the server's certificate
    cert_file: str | None = None  # client certificate (mutual TLS) ...
    key_file: str | None = None  # ... and its key
    # Sent with every query (e.g. X-Scope-OrgID for a Mimir tenant). Not secrets: credentials
    # go in bearer_token_file or basic_auth, which never reach logs.
    headers: dict[Annotated[str, Field(pattern=r"^[A-Za-z0-9-]+$")], str] = {}

    @model_validator(mode="after")
    def _auth_and_tls(self) -> PrometheusSource:
        if self.basic_auth and self.bearer_token_file:
            raise ValueError("set basic_auth or bearer_token_file, not both")
        if bool(self.cert_file) != bool(self.key_file):
            raise ValueError("set both cert_file and key_file (client certificate), or neither")
        if any(h.lower() == "authorization" for h in self.headers):
            raise ValueError("headers: use bearer_token_file or basic_auth for Authorization")
        for name in ("ca_file", "cert_file", "key_file"):
            path = getattr(self, name)
            if path and not Path(path).is_file():
                raise ValueError(f"{name}: cannot read {path!r}")
        return self

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
