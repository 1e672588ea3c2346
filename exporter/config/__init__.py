"""The one configuration object every output is derived from.

A YAML file (or the embedded default) is merged with `EXPORTER_*` environment overrides and
validated by pydantic; unknown keys are errors. Secrets come from env vars or mounted files
and are held as `SecretStr`, so they never reach a log line, a metric or `check-config`.

One module per job: `base` (strictness, names, ConfigError), `secrets` (secret sources,
the one redaction function), `targets` (what every server a collector connects to has),
`queues`, `classes` (component classes, HPA behaviour), `metrics_api`, `alerting`,
`deployment`, `gpu` (pod attribution of GPU series), `autoscaling` (HPA or
KEDA, the KEDA scaler), `settings` (listen, collection, Prometheus, Kubernetes access), `model`
(`Config` and the kinds of server it lists) and `loading` (YAML, env overrides, errors).
"""

from exporter.config.alerting import (
    Alerting,
    AlertThresholds,
    BurnRateWindow,
    Environment,
    PagerDutyReceiver,
    SlackReceiver,
)
from exporter.config.autoscaling import Autoscaling, KedaScaler
from exporter.config.base import NAME_PATTERN, ConfigError, Strict
from exporter.config.classes import (
    ComponentClass,
    MetricsEndpoint,
    ScaleOn,
    ScalingBehavior,
    ScalingRules,
    Workload,
)
from exporter.config.deployment import (
    ContainerResources,
    Deployment,
    GpuAgent,
    Quantity,
    ResourceAmounts,
    SecretMount,
    Toleration,
    read_ca_bundle,
)
from exporter.config.gpu import GpuAttribution
from exporter.config.loading import (
    ENV_PREFIX,
    apply_env_overrides,
    default_config_text,
    format_validation_error,
    load_config,
    redacted_dump,
)
from exporter.config.metrics_api import ApiMetric, Authentication, MetricsApi, TLSFiles
from exporter.config.model import Config, PostgresTarget, RedisTarget
from exporter.config.queues import (
    QUEUE_KINDS,
    PostgresQueryQueue,
    Queue,
    QueueBase,
    QueueKind,
    RedisListQueue,
    RedisStreamQueue,
    RedisZsetQueue,
    parse_queue,
)
from exporter.config.secrets import REDACTED, redact_url
from exporter.config.settings import (
    BasicAuth,
    Collection,
    KubernetesAccess,
    Listen,
    PrometheusSource,
    Schedule,
    parse_host_port,
)
from exporter.config.targets import Target

__all__ = [
    "ENV_PREFIX",
    "NAME_PATTERN",
    "QUEUE_KINDS",
    "REDACTED",
    "AlertThresholds",
    "BurnRateWindow",
    "Environment",
    "Alerting",
    "ApiMetric",
    "Authentication",
    "Autoscaling",
    "BasicAuth",
    "Collection",
    "Schedule",
    "ComponentClass",
    "MetricsEndpoint",
    "Config",
    "ConfigError",
    "ContainerResources",
    "Deployment",
    "GpuAgent",
    "KedaScaler",
    "GpuAttribution",
    "KubernetesAccess",
    "Listen",
    "MetricsApi",
    "PagerDutyReceiver",
    "PostgresQueryQueue",
    "PostgresTarget",
    "PrometheusSource",
    "Quantity",
    "Queue",
    "QueueBase",
    "QueueKind",
    "RedisListQueue",
    "RedisStreamQueue",
    "RedisTarget",
    "RedisZsetQueue",
    "ResourceAmounts",
    "ScaleOn",
    "ScalingBehavior",
    "ScalingRules",
    "SecretMount",
    "SlackReceiver",
    "Strict",
    "TLSFiles",
    "Target",
    "Toleration",
    "Workload",
    "apply_env_overrides",
    "default_config_text",
    "format_validation_error",
    "load_config",
    "parse_host_port",
    "parse_queue",
    "read_ca_bundle",
    "redact_url",
    "redacted_dump",
]
