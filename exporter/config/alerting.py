"""The `alerting:` section: thresholds of the generated rules and Alertmanager receivers."""

from __future__ import annotations

from typing import Annotated, Literal
from urllib.parse import urlsplit

from pydantic import Field, field_validator

from exporter.config.base import Strict
from exporter.config.secrets import secret_file_path


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
    # PostgresReplicationSlotRetainingWal: WAL one slot may keep on disk (default 1 GiB).
    pg_slot_retained_wal_bytes: Annotated[float, Field(gt=0)] = 1024.0**3
    # PostgresStandbyLagging: a standby's replay lag seen from its primary.
    pg_standby_lag_seconds: Annotated[float, Field(gt=0)] = 60.0
    # MetricsApiErrors: share of metrics-API requests answered 5xx over 5 minutes.
    metrics_api_error_ratio: Annotated[float, Field(gt=0, lt=1)] = 0.05
    # MetricsApiFallbackActive fires when a metric has been served from its fallback this long.
    metrics_api_fallback_for: Annotated[str, Field(pattern=r"^[1-9][0-9]*[smhd]$")] = "10m"
    # IngressHigh5xxRate / IngressHigh4xxRate: share of an ingress's requests over 5 minutes.
    ingress_5xx_ratio: Annotated[float, Field(gt=0, lt=1)] = 0.05
    ingress_4xx_ratio: Annotated[float, Field(gt=0, lt=1)] = 0.25
    # SSE (LLM token streams), per component class over 5 minutes: time to first event p95
    # (StreamFirstEventSlow), gap between consecutive events p95 (StreamInterEventSlow)
    # and the share of streams that failed after their headers (StreamsFailingMidway;
    # those requests are status="stream_error" and spend the error budget too).
    sse_first_event_p95_seconds: Annotated[float, Field(gt=0)] = 2.0
    sse_inter_event_p95_seconds: Annotated[float, Field(gt=0)] = 0.5
    sse_stream_error_ratio: Annotated[float, Field(gt=0, lt=1)] = 0.01


class PagerDutyReceiver(Strict):
    routing_key_file: str = "/etc/alertmanager/secrets/pagerduty-routing-key"

    _path = field_validator("routing_key_file")(secret_file_path)


Environment = Literal["dev", "staging", "production"]


class SlackReceiver(Strict):
    api_url_file: str = "/etc/alertmanager/secrets/slack-webhook-url"
    # One channel per environment that posts to Slack (staging, production), so staging noise
    # never lands where production pages are discussed.
    channels: dict[Environment, Annotated[str, Field(min_length=1)]] = {
        "staging": "#platform-alerts-staging",
        "production": "#platform-alerts",
    }

    _path = field_validator("api_url_file")(secret_file_path)


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
    # The environments the generated Alertmanager routes (on the alerts' `environment` label).
    # A central Alertmanager shared by several environments lists them all; unset: this
    # config's `environment` only.
    routed_environments: list[Environment] | None = None
    # Grafana's base URL, for the dashboard links in alerts (`<grafana_url>/d/<uid>`).
    grafana_url: str = "http://grafana.monitoring.svc"
    # The ingress controller in front of the services: `nginx` (ingress-nginx's metric names)
    # adds the ingress alert group; none: no ingress alerts.
    ingress_controller: Literal["none", "nginx"] = "none"

    @field_validator("grafana_url")
    @classmethod
    def _grafana_url(cls, v: str) -> str:
        if urlsplit(v).scheme not in ("http", "https"):
            raise ValueError(f"must be an http(s) URL, got {v!r}")
        return v.rstrip("/")

    @field_validator("runbook_base_url")
    @classmethod
    def _runbook_url(cls, v: str) -> str:
        if urlsplit(v).scheme not in ("http", "https") or "#" in v:
            raise ValueError(f"must be an http(s) URL without a #fragment, got {v!r}")
        return v
