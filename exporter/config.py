"""The one configuration object every output is derived from.

A YAML file (or the embedded default) is merged with `EXPORTER_*` environment overrides and
validated by pydantic; unknown keys are errors. Secrets come from env vars or mounted files
and are held as `SecretStr`, so they never reach a log line, a metric or `check-config`.
"""

from __future__ import annotations

import ipaddress
import os
import re
import warnings
from collections.abc import Mapping
from importlib import resources
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

import yaml
from cryptography import x509
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

ENV_PREFIX = "EXPORTER_"
REDACTED = "***"
NAME_PATTERN = r"^[a-z0-9]([a-z0-9-]*[a-z0-9])?$"  # a DNS-1123 label: names end up in k8s objects


class ConfigError(Exception):
    """A configuration problem, worded as `field: reason`."""


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _read_secret_file(path: str, field: str) -> SecretStr:
    try:
        return SecretStr(Path(path).read_text().strip())
    except OSError as exc:
        raise ValueError(f"cannot read {field} {path!r}: {exc.strerror}") from None


def _read_secret_env(name: str, field: str, environ: Mapping[str, str] | None = None) -> SecretStr:
    value = (os.environ if environ is None else environ).get(name)
    if value is None:
        raise ValueError(f"{field} names environment variable {name!r}, which is not set")
    return SecretStr(value)


_PASSWORD_IN_URL = re.compile(r"(://[^:/@\s]*:)[^@\s]*@")


def redact_url(url: str) -> str:
    """The URL (or any text holding URLs) with passwords masked, safe for logs and errors.

    A regex rather than urlsplit: it must also work on URLs too broken to parse.
    """
    return _PASSWORD_IN_URL.sub(rf"\1{REDACTED}@", url)


def _password(self: Any, environ: Mapping[str, str] | None = None) -> SecretStr | None:
    """The password from password_file / password_env, read at call time (files rotate)."""
    if self.password_file:
        return _read_secret_file(self.password_file, "password_file")
    if self.password_env:
        return _read_secret_env(self.password_env, "password_env", environ)
    return None


@model_validator(mode="after")
def _check_secret_sources(self: Any, info: ValidationInfo) -> Any:
    """Fail at load time, naming the field, when a secret source is missing."""
    if self.password_file and self.password_env:
        raise ValueError("set password_file or password_env, not both")
    self.password((info.context or {}).get("environ"))
    return self


class PostgresTarget(Strict):
    name: Annotated[str, Field(pattern=NAME_PATTERN)]
    dsn: str
    password_file: str | None = None
    password_env: str | None = None
    pool_size: Annotated[int, Field(ge=1, le=10)] = 2

    @field_validator("dsn")
    @classmethod
    def _dsn_shape(cls, v: str) -> str:
        parts = urlsplit(v)
        if parts.scheme not in ("postgresql", "postgres"):
            raise ValueError(
                f"must be a postgresql:// URL, got scheme {parts.scheme or 'none'!r} in {redact_url(v)!r}"
            )
        if not parts.hostname and "host=" not in parts.query:
            raise ValueError(f"has no host: {redact_url(v)!r}")
        try:
            parts.port  # noqa: B018 - raises on a non-numeric port
        except ValueError:
            raise ValueError(f"has an invalid port: {redact_url(v)!r}") from None
        return v

    password = _password
    _secret_readable = _check_secret_sources

    @property
    def safe_dsn(self) -> str:
        return redact_url(self.dsn)


class RedisTarget(Strict):
    name: Annotated[str, Field(pattern=NAME_PATTERN)]
    url: str
    password_file: str | None = None
    password_env: str | None = None

    @field_validator("url")
    @classmethod
    def _url_shape(cls, v: str) -> str:
        parts = urlsplit(v)
        if parts.scheme not in ("redis", "rediss", "unix"):
            raise ValueError(f"must be a redis://, rediss:// or unix:// URL, got {redact_url(v)!r}")
        if parts.scheme != "unix" and not parts.hostname:
            raise ValueError(f"has no host: {redact_url(v)!r}")
        try:
            parts.port  # noqa: B018
        except ValueError:
            raise ValueError(f"has an invalid port: {redact_url(v)!r}") from None
        return v

    password = _password
    _secret_readable = _check_secret_sources

    @property
    def safe_url(self) -> str:
        return redact_url(self.url)


class BasicAuth(Strict):
    """HTTP basic auth for the PromQL source; the password from a file or an env var."""

    username: Annotated[str, Field(min_length=1)]
    password_file: str | None = None
    password_env: str | None = None

    password = _password
    _secret_readable = _check_secret_sources


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


class Listen(Strict):
    http: str = "0.0.0.0:9464"
    https: str = "0.0.0.0:6443"
    # KEDA's external scaler (gRPC); null turns the listener off.
    grpc: str | None = "0.0.0.0:9465"

    @field_validator("http", "https", "grpc")
    @classmethod
    def _host_port(cls, v: str | None) -> str | None:
        if v is not None:
            parse_host_port(v)
        return v


def parse_host_port(value: str) -> tuple[str, int]:
    """`host:port` or `:port` into (host, port); raises ValueError with the reason."""
    host, sep, port = value.rpartition(":")
    if not sep or not port.isdigit() or not 0 <= int(port) <= 65535:
        raise ValueError(f"must be host:port with a port 0-65535, got {value!r}")
    return (host.strip("[]") or "0.0.0.0", int(port))


class Collection(Strict):
    interval_seconds: Annotated[float, Field(gt=0, le=3600)] = 5.0
    timeout_seconds: Annotated[float, Field(gt=0, le=600)] = 2.0

    @model_validator(mode="after")
    def _timeout_within_interval(self) -> Collection:
        if self.timeout_seconds > self.interval_seconds:
            raise ValueError("timeout_seconds must not exceed interval_seconds")
        return self


QueueKind = Literal["redis_list", "redis_zset", "redis_stream", "postgres_query"]


class Queue(Strict):
    """One work queue of a component class."""

    name: Annotated[str, Field(min_length=1, max_length=200)]
    kind: QueueKind
    target: str = "main"
    key: str | None = None  # Redis key (list, zset, stream)
    group: str | None = None  # consumer group, for redis_stream
    query: str | None = None  # for postgres_query: returns depth [, oldest timestamp]
    # redis_list only: a plain list holds no enqueue time, so age is reported only when the
    # job payload is JSON carrying one (`age_field`, a dotted path to unix seconds, unix
    # milliseconds or an ISO-8601 string). `push` says where producers add jobs: lpush
    # (Celery/kombu, consumers BRPOP: the oldest job is at the tail) or rpush (RQ-style,
    # consumers BLPOP: the oldest is at the head).
    age_field: Annotated[str, Field(min_length=1)] | None = None
    push: Literal["lpush", "rpush"] | None = None
    # redis_zset only: the unit of the scores (the time each job becomes due).
    score_unit: Literal["seconds", "milliseconds"] | None = None

    @model_validator(mode="after")
    def _kind_fields(self) -> Queue:
        if self.kind != "redis_list" and (self.age_field or self.push):
            raise ValueError(f"age_field and push apply to redis_list queues, not {self.kind}")
        if self.kind == "redis_list" and self.push and not self.age_field:
            raise ValueError("push only matters with age_field (which end holds the oldest job)")
        if self.kind != "redis_zset" and self.score_unit:
            raise ValueError(f"score_unit applies to redis_zset queues, not {self.kind}")
        if self.kind.startswith("redis_"):
            if not self.key:
                raise ValueError(f"a {self.kind} queue needs key")
            if self.query:
                raise ValueError(f"a {self.kind} queue takes no query")
        if self.kind == "redis_stream" and not self.group:
            raise ValueError("a redis_stream queue needs group (the consumer group)")
        if self.kind != "redis_stream" and self.group:
            raise ValueError(f"a {self.kind} queue takes no group")
        if self.kind == "postgres_query":
            if not self.query or not self.query.strip():
                raise ValueError("a postgres_query queue needs query")
            if self.key:
                raise ValueError("a postgres_query queue takes no key")
        return self


class Workload(Strict):
    kind: Literal["Deployment", "StatefulSet"] = "Deployment"
    name: Annotated[str, Field(pattern=NAME_PATTERN)]


class ScaleOn(Strict):
    """A metric the class scales on, as an AverageValue per replica.

    `external` (default): an external metric selected by `component_class=<class>`.
    `pods`: a custom metric per pod (e.g. in-flight SSE streams), averaged over the class's
    pods (HPA `type: Pods`; under KEDA the class total through our scaler). The class is
    active (KEDA activation) while the metric is above `activation_threshold`.
    """

    metric: str
    type: Literal["external", "pods"] = "external"
    target_average_value: Annotated[float, Field(gt=0)]
    activation_threshold: Annotated[float, Field(ge=0)] = 0.0


class ScalingRules(Strict):
    """One direction of an HPA's `behavior` (autoscaling/v2 HPAScalingRules)."""

    stabilization_window_seconds: Annotated[int, Field(ge=0, le=3600)] = 0
    percent: Annotated[int, Field(gt=0)] | None = None  # a Percent policy, per period
    pods: Annotated[int, Field(gt=0)] | None = None  # a Pods policy, per period
    period_seconds: Annotated[int, Field(gt=0, le=1800)] = 60
    select_policy: Literal["Max", "Min", "Disabled"] = "Max"

    @model_validator(mode="after")
    def _some_policy(self) -> ScalingRules:
        if self.select_policy != "Disabled" and self.percent is None and self.pods is None:
            raise ValueError("set percent and/or pods (or select_policy: Disabled)")
        return self


class ScalingBehavior(Strict):
    """HPA behavior; the defaults are the platform's: up by 100 % or 4 pods (the larger) per
    30 s, down by 50 % per 60 s after a 5 minute stabilisation window."""

    scale_up: ScalingRules = ScalingRules(
        stabilization_window_seconds=0, percent=100, pods=4, period_seconds=30
    )
    scale_down: ScalingRules = ScalingRules(
        stabilization_window_seconds=300, percent=50, period_seconds=60
    )

    @model_validator(mode="before")
    @classmethod
    def _over_defaults(cls, data: Any) -> Any:
        # A partial direction (`scale_down: {stabilization_window_seconds: 600}`) changes only
        # what it names; the rest keeps the platform defaults.
        if not isinstance(data, dict):
            return data
        out = dict(data)
        for key in ("scale_up", "scale_down"):
            if isinstance(out.get(key), dict):
                default = cls.model_fields[key].default.model_dump()
                out[key] = {**default, **out[key]}
        return out


class ComponentClass(Strict):
    name: Annotated[str, Field(pattern=NAME_PATTERN)]
    workload: Workload
    min_replicas: Annotated[int, Field(ge=0)] = 1  # 0 only with autoscaling.engine keda
    max_replicas: Annotated[int, Field(ge=1)] = 10
    # Under autoscaling.engine keda: minReplicaCount 0 (KEDA activation wakes the class).
    scale_to_zero: bool = False
    queues: list[Queue] = []
    scale_on: list[ScaleOn] = []
    cpu_utilization: Annotated[int, Field(gt=0, le=100)] | None = None
    memory_utilization: Annotated[int, Field(gt=0, le=100)] | None = None
    behavior: ScalingBehavior = ScalingBehavior()

    @model_validator(mode="after")
    def _replicas(self) -> ComponentClass:
        if self.min_replicas > self.max_replicas:
            raise ValueError("min_replicas must not exceed max_replicas")
        names = [q.name for q in self.queues]
        if len(names) != len(set(names)):
            raise ValueError("queue names must be unique within a class")
        return self


class ApiMetric(Strict):
    """A metric served on the external or custom metrics API and where its value comes from."""

    name: Annotated[str, Field(pattern=r"^[a-zA-Z_:][a-zA-Z0-9_:]*$")]
    source: Literal["snapshot", "promql"]
    # snapshot: the catalog metric to read (defaults to name); promql: the query. A PromQL
    # query may use {namespace} and {selector} placeholders (label matchers from the request).
    metric: str | None = None
    query: str | None = None
    fallback: float | None = None  # served (and flagged) when the source fails; None -> 503
    # The span a value summarises (e.g. 60 for a rate over [1m]); served as `window` /
    # `windowSeconds`. None for point-in-time gauges such as queue depth.
    window_seconds: Annotated[int, Field(gt=0)] | None = None

    @model_validator(mode="after")
    def _source_fields(self) -> ApiMetric:
        if self.source == "promql" and not self.query:
            raise ValueError("a promql metric needs query")
        if self.source == "snapshot" and self.query:
            raise ValueError("a snapshot metric takes no query")
        if self.source == "snapshot":
            from exporter.catalog import CATALOG  # late: the catalog is data, config is schema

            name = self.metric or self.name
            spec = CATALOG.get(name)
            if spec is None or spec.type == "histogram":
                raise ValueError(
                    f"snapshot metric {name!r} is not a gauge or counter in the metric catalog"
                )
        if self.source == "promql" and self.metric:
            raise ValueError("a promql metric takes no metric (the query says what to read)")
        if self.fallback is not None and not (self.fallback >= 0 and self.fallback < float("inf")):
            raise ValueError("fallback must be a finite number >= 0")
        return self


class TLSFiles(Strict):
    cert_file: str | None = None
    key_file: str | None = None

    @model_validator(mode="after")
    def _both_or_neither(self) -> TLSFiles:
        if bool(self.cert_file) != bool(self.key_file):
            raise ValueError("set both cert_file and key_file, or neither (self-signed)")
        return self


class Authentication(Strict):
    """Front-proxy client-certificate authentication (kube-apiserver's aggregation layer)."""

    # Read from kube-system/extension-apiserver-authentication when `from_cluster` is true.
    from_cluster: bool = False
    requestheader_client_ca_file: str | None = None
    requestheader_allowed_names: list[str] = []
    username_headers: list[str] = ["X-Remote-User"]
    group_headers: list[str] = ["X-Remote-Group"]


# `metrics_api.register` is the public name; it shadows ABCMeta.register, which no one calls
# on a config model, so pydantic's warning about it is noise.
warnings.filterwarnings("ignore", message='Field name "register" in "MetricsApi"')


class MetricsApi(Strict):
    enabled: bool = True
    # The groups this exporter registers (APIServices) and serves: a cluster has one
    # APIService per group, and KEDA (external) or prometheus-adapter (custom) may own it.
    register: list[Literal["external", "custom"]] = ["external", "custom"]
    tls: TLSFiles = TLSFiles()
    authentication: Authentication = Authentication()
    external: list[ApiMetric] = [
        ApiMetric(name="queue_depth", source="snapshot"),
        ApiMetric(name="queue_oldest_age_seconds", source="snapshot"),
        ApiMetric(name="gpu_utilization_ratio", source="snapshot"),
    ]
    custom: list[ApiMetric] = []

    @model_validator(mode="after")
    def _unique_names(self) -> MetricsApi:
        for api, items in (("external", self.external), ("custom", self.custom)):
            names = [m.name for m in items]
            if len(names) != len(set(names)):
                raise ValueError(f"metrics_api.{api} metric names must be unique")
        return self


class AlertThresholds(Strict):
    error_rate_ratio: Annotated[float, Field(gt=0, lt=1)] = 0.05
    latency_p95_seconds: Annotated[float, Field(gt=0)] = 1.0
    memory_ratio: Annotated[float, Field(gt=0, le=1)] = 0.9
    cpu_ratio: Annotated[float, Field(gt=0, le=1)] = 0.9
    slo_availability: Annotated[float, Field(gt=0, lt=1)] = 0.999
    pg_connections_ratio: Annotated[float, Field(gt=0, le=1)] = 0.8
    redis_memory_ratio: Annotated[float, Field(gt=0, le=1)] = 0.9
    queue_oldest_age_seconds: Annotated[float, Field(gt=0)] = 300.0
    gpu_temperature_celsius: Annotated[float, Field(gt=0)] = 85.0
    # QueueBacklogGrowing fires when a queue keeps growing above this depth.
    queue_backlog_depth: Annotated[float, Field(gt=0)] = 100.0
    # PodRestartingFrequently fires above this many container restarts in an hour.
    pod_restarts_per_hour: Annotated[int, Field(ge=1)] = 3


def _secret_file_path(v: str) -> str:
    """An absolute path to a mounted secret; the value is never echoed (it may be the secret)."""
    if not v.startswith("/") or "://" in v or any(c.isspace() for c in v):
        raise ValueError(
            "must be the absolute path of a file holding the secret (the secret itself "
            "never goes into the config)"
        )
    return v


class PagerDutyReceiver(Strict):
    routing_key_file: str = "/etc/alertmanager/secrets/pagerduty-routing-key"

    _path = field_validator("routing_key_file")(_secret_file_path)


class SlackReceiver(Strict):
    api_url_file: str = "/etc/alertmanager/secrets/slack-webhook-url"
    channel: str = "#platform-alerts"

    _path = field_validator("api_url_file")(_secret_file_path)


PromDuration = Annotated[str, Field(pattern=r"^[1-9][0-9]*[smhd]$")]


class BurnRateWindow(Strict):
    """One multiwindow error-budget burn alert (Google SRE workbook, "Alerting on SLOs").

    It fires when the 5xx ratio over both `long` and `short` exceeds `factor` times the
    error budget (1 - thresholds.slo_availability); `pace` and `note` are its wording.
    """

    long: PromDuration
    short: PromDuration
    factor: Annotated[float, Field(gt=0)]
    severity: Literal["critical", "warning", "info"]
    for_duration: PromDuration
    pace: Annotated[str, Field(min_length=1)]  # "The error budget is burning <pace>"
    note: str = ""  # appended to the description


class Alerting(Strict):
    thresholds: AlertThresholds = AlertThresholds()
    burn_rates: Annotated[list[BurnRateWindow], Field(min_length=1)] = [
        BurnRateWindow(
            long="1h", short="5m", factor=14.4, severity="critical", for_duration="2m",
            pace="fast", note="At this rate 2% of the 30-day budget goes every hour.",
        ),
        BurnRateWindow(
            long="6h", short="30m", factor=6, severity="warning", for_duration="15m",
            pace="steadily",
        ),
    ]  # fmt: skip
    runbook_base_url: str = "https://github.com/example/exporter/blob/main/docs/runbook.md"
    pagerduty: PagerDutyReceiver = PagerDutyReceiver()
    slack: SlackReceiver = SlackReceiver()
    # The `job` label Prometheus gives the exporter's scrape. Unset: the Service name
    # (deployment.name), which is what the generated ServiceMonitor yields.
    exporter_job: Annotated[str, Field(min_length=1)] | None = None

    @field_validator("runbook_base_url")
    @classmethod
    def _runbook_url(cls, v: str) -> str:
        if urlsplit(v).scheme not in ("http", "https") or "#" in v:
            raise ValueError(f"must be an http(s) URL without a #fragment, got {v!r}")
        return v


class KedaScaler(Strict):
    """KEDA (`autoscaling.engine: keda`): the ScaledObjects and our external scaler (gRPC on
    listen.grpc, with the metrics API's serving certificate)."""

    polling_interval_seconds: Annotated[int, Field(ge=1)] = 30
    cooldown_period_seconds: Annotated[int, Field(ge=0)] = 300
    # KEDA's fallback: after this many failed scaler calls, hold `fallback_replicas`
    # (None: the class's min_replicas, at least 1).
    fallback_failure_threshold: Annotated[int, Field(ge=1)] = 3
    fallback_replicas: Annotated[int, Field(ge=1)] | None = None
    # PEM CA that signs the client certificates KEDA presents; None: no client-cert check.
    client_ca_file: str | None = None
    # Serve the scaler without TLS: refused in production, loud warning elsewhere.
    plaintext: bool = False
    # The scalerAddress in generated ScaledObjects; None: <deployment.name>.<namespace>.svc:<port>.
    scaler_address: str | None = None

    @field_validator("client_ca_file")
    @classmethod
    def _ca_readable(cls, v: str | None) -> str | None:
        if v is not None:
            read_ca_bundle(v)
        return v


class Autoscaling(Strict):
    """Which autoscaler the generated manifests target: HPAs, or KEDA ScaledObjects."""

    engine: Literal["hpa", "keda"] = "hpa"
    keda: KedaScaler = KedaScaler()


class KubernetesAccess(Strict):
    """How the exporter reaches the Kubernetes API (HPA status, front-proxy auth).

    `auto` turns it on inside a cluster (service-account token mounted) or when `kubeconfig`
    is set; `on` insists (falling back to ~/.kube/config); `off` never talks to Kubernetes.
    """

    enabled: Literal["auto", "on", "off"] = "auto"
    kubeconfig: str | None = None

    @field_validator("enabled", mode="before")
    @classmethod
    def _yaml_booleans(cls, v: Any) -> Any:
        # YAML 1.1 reads a bare `on`/`off` as a boolean.
        return {True: "on", False: "off"}.get(v, v) if isinstance(v, bool) else v

    @model_validator(mode="after")
    def _consistent(self) -> KubernetesAccess:
        if self.enabled == "off" and self.kubeconfig:
            raise ValueError("kubeconfig is set but enabled is off")
        return self


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

    @field_validator("ca_bundle_file")
    @classmethod
    def _ca_readable(cls, v: str | None) -> str | None:
        if v is not None:
            read_ca_bundle(v)
        return v


def read_ca_bundle(path: str) -> bytes:
    """The PEM certificates in `path`; ValueError when unreadable or not PEM X.509."""
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise ValueError(f"cannot read {path!r}: {exc.strerror}") from None
    try:
        x509.load_pem_x509_certificates(data)
    except ValueError:
        raise ValueError(f"{path!r} holds no PEM X.509 certificate") from None
    return data


class Config(Strict):
    environment: Literal["dev", "staging", "production"] = "dev"
    namespace: Annotated[str, Field(pattern=NAME_PATTERN)] = "platform"
    listen: Listen = Listen()
    collection: Collection = Collection()
    postgres: list[PostgresTarget] = []
    redis: list[RedisTarget] = []
    prometheus: PrometheusSource = PrometheusSource()
    gpu: Literal["on", "off", "auto"] = "auto"
    component_classes: list[ComponentClass] = []
    metrics_api: MetricsApi = MetricsApi()
    autoscaling: Autoscaling = Autoscaling()
    alerting: Alerting = Alerting()
    kubernetes: KubernetesAccess = KubernetesAccess()
    deployment: Deployment = Deployment()

    @field_validator("gpu", mode="before")
    @classmethod
    def _gpu_yaml_boolean(cls, v: Any) -> Any:
        # YAML 1.1 reads a bare `gpu: on` / `gpu: off` as a boolean.
        if isinstance(v, bool):
            return "on" if v else "off"
        return v

    @model_validator(mode="after")
    def _references(self) -> Config:
        for kind, items in (("postgres", self.postgres), ("redis", self.redis)):
            names = [t.name for t in items]
            if len(names) != len(set(names)):
                raise ValueError(f"{kind} target names must be unique")
        classes = [c.name for c in self.component_classes]
        if len(classes) != len(set(classes)):
            raise ValueError("component class names must be unique")
        pg = {t.name for t in self.postgres}
        rd = {t.name for t in self.redis}
        api_metrics = {m.name for m in self.metrics_api.external}
        custom_metrics = {m.name for m in self.metrics_api.custom}
        for ci, cls in enumerate(self.component_classes):
            if cls.min_replicas == 0 and self.autoscaling.engine == "hpa":
                raise ValueError(
                    f"component_classes[{ci}].min_replicas: 0 needs autoscaling.engine keda "
                    "(an HPA cannot scale to zero; use scale_to_zero for KEDA)"
                )
            for qi, q in enumerate(cls.queues):
                known = pg if q.kind == "postgres_query" else rd
                if q.target not in known:
                    kind = "postgres" if q.kind == "postgres_query" else "redis"
                    raise ValueError(
                        f"component_classes[{ci}].queues[{qi}].target: no {kind} target "
                        f"named {q.target!r} (have {sorted(known)})"
                    )
            for si, s in enumerate(cls.scale_on):
                if s.type == "pods" and s.metric not in custom_metrics:
                    raise ValueError(
                        f"component_classes[{ci}].scale_on[{si}].metric: {s.metric!r} is not "
                        f"served by metrics_api.custom (have {sorted(custom_metrics)})"
                    )
                if s.type == "external" and s.metric not in api_metrics:
                    raise ValueError(
                        f"component_classes[{ci}].scale_on[{si}].metric: {s.metric!r} is not "
                        f"served by metrics_api.external (have {sorted(api_metrics)})"
                    )
        return self

    @property
    def exporter_job(self) -> str:
        """The Prometheus `job` of the exporter's own scrape, named once."""
        return self.alerting.exporter_job or self.deployment.name

    def component_class(self, name: str) -> ComponentClass:
        for cls in self.component_classes:
            if cls.name == name:
                return cls
        raise KeyError(name)


def _load_yaml(text: str, source: str) -> dict[str, Any]:
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ConfigError(f"{source}: not valid YAML: {exc}") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"{source}: the top level must be a mapping, got {type(data).__name__}")
    return data


def default_config_text() -> str:
    return resources.files("exporter").joinpath("default_config.yaml").read_text()


def apply_env_overrides(data: dict[str, Any], environ: dict[str, str]) -> dict[str, Any]:
    """`EXPORTER_COLLECTION__INTERVAL_SECONDS=10` sets collection.interval_seconds.

    Path parts are separated by `__`; a number indexes a list (`EXPORTER_POSTGRES__0__DSN`).
    Values are read as YAML scalars, so `10` is a number and `true` a boolean.
    """
    for key in sorted(environ):
        if not key.startswith(ENV_PREFIX) or key == ENV_PREFIX + "CONFIG":
            continue
        path = [p.lower() for p in key[len(ENV_PREFIX) :].split("__")]
        node: Any = data
        for i, part in enumerate(path):
            last = i == len(path) - 1
            if isinstance(node, list):
                if not part.isdigit() or int(part) >= len(node):
                    raise ConfigError(f"{key}: {'.'.join(path[:i])} has no item {part!r}")
                idx = int(part)
                if last:
                    node[idx] = yaml.safe_load(environ[key])
                else:
                    node = node[idx]
            elif isinstance(node, dict):
                if last:
                    node[part] = yaml.safe_load(environ[key])
                else:
                    node = node.setdefault(part, {})
            else:
                raise ConfigError(f"{key}: {'.'.join(path[:i])} is not a mapping or list")
    return data


def _format_loc(loc: tuple[Any, ...]) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += ("." if out else "") + str(part)
    return out or "(top level)"


def format_validation_error(exc: ValidationError, source: str) -> str:
    lines = []
    for err in exc.errors(include_url=False, include_input=False):
        loc = [p for p in err["loc"] if not (isinstance(p, str) and p.startswith("function-"))]
        msg = err["msg"].removeprefix("Value error, ")
        if err["type"] == "extra_forbidden":
            msg = "unknown key"
        lines.append(f"{_format_loc(tuple(loc))}: {redact_url(msg)}")
    return f"invalid config {source}: " + "; ".join(lines)


def load_config(
    path: str | os.PathLike[str] | None = None, environ: dict[str, str] | None = None
) -> Config:
    """Load and validate the config file (or the embedded default) with env overrides."""
    environ = dict(os.environ if environ is None else environ)
    if path is None and environ.get(ENV_PREFIX + "CONFIG"):
        path = environ[ENV_PREFIX + "CONFIG"]
    if path is None:
        source, text = "(embedded default)", default_config_text()
    else:
        source = str(path)
        try:
            text = Path(path).read_text()
        except OSError as exc:
            raise ConfigError(f"config file {source}: {exc.strerror}") from None
    data = apply_env_overrides(_load_yaml(text, source), environ)
    try:
        return Config.model_validate(data, context={"environ": environ})
    except ValidationError as exc:
        raise ConfigError(format_validation_error(exc, source)) from None


def redacted_dump(config: Config) -> dict[str, Any]:
    """The effective config as plain data with every secret masked (for check-config)."""
    data = config.model_dump(mode="json")
    for item in data.get("postgres", []):
        item["dsn"] = redact_url(item["dsn"])
    for item in data.get("redis", []):
        item["url"] = redact_url(item["url"])
    return data
