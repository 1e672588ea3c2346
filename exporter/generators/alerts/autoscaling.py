"""Alerts on autoscaling itself: HPAs that cannot or do not scale, and our metrics API.

An HPA that cannot reach its metrics keeps its replica count and says so only in its
conditions; these rules read the conditions (`hpa_*`, from the exporter's HPA collector)
and the metrics API's own health, so a broken autoscaler pages instead of being found when
a queue overflows.
"""

from __future__ import annotations

from exporter import catalog
from exporter.config import Config
from exporter.generators.alerts.rule import Alert, num
from exporter.generators.promql import HTTP_5XX, agg, sum_rate

HPA = ("component_class", "hpa")
DASHBOARD = "queues-autoscaling"


def _hpa_condition(name: str, spec: catalog.MetricSpec, condition: str, summary: str) -> Alert:
    return Alert(
        name,
        f"{agg('max', spec, HPA)} == 0",
        "warning",
        summary,
        f"HPA {{{{ $labels.hpa }}}} of component class {{{{ $labels.component_class }}}} has "
        f"reported {condition}=False for 15 minutes.",
        for_="15m",
        dashboard=DASHBOARD,
    )


def autoscaling_alerts(config: Config) -> list[Alert]:
    t = config.alerting.thresholds
    api = ("api",)
    errors = sum_rate(catalog.METRICS_API_REQUESTS, api, "5m", code=HTTP_5XX)
    total = sum_rate(catalog.METRICS_API_REQUESTS, api, "5m")
    return [
        _hpa_condition(
            "HpaUnableToScale",
            catalog.HPA_ABLE_TO_SCALE,
            "AbleToScale",
            "An autoscaler cannot scale its workload.",
        ),
        _hpa_condition(
            "HpaScalingInactive",
            catalog.HPA_SCALING_ACTIVE,
            "ScalingActive",
            "An autoscaler cannot compute a replica count from its metrics.",
        ),
        Alert(
            "HpaReplicasMismatch",
            f"{agg('max', catalog.HPA_DESIRED_REPLICAS, HPA)}\n!=\n"
            f"{agg('max', catalog.HPA_CURRENT_REPLICAS, HPA)}",
            "warning",
            "An autoscaler has not reached its desired replica count for 15 minutes.",
            "HPA {{ $labels.hpa }} of component class {{ $labels.component_class }} wants "
            "{{ $value }} replicas and has run a different number for 15 minutes (pods not "
            "schedulable, quota, or a stuck rollout).",
            for_="15m",
            dashboard=DASHBOARD,
        ),
        Alert(
            "MetricsApiErrors",
            f"{errors}\n/\n{total}\n> {num(t.metrics_api_error_ratio)}",
            "warning",
            "The metrics API answers many requests with server errors.",
            "{{ $value | humanizePercentage }} of requests to the {{ $labels.api }} metrics API "
            f"failed with a 5xx over the last 5 minutes (threshold "
            f"{num(t.metrics_api_error_ratio * 100)}%); HPAs scaling on it hold their replicas.",
            for_="5m",
            dashboard=DASHBOARD,
        ),
        Alert(
            "MetricsApiFallbackActive",
            f"{agg('max', catalog.METRICS_API_FALLBACK, ('api', 'metric'))} == 1",
            "warning",
            "A metrics-API metric has been served from its fallback value for too long.",
            "Metric {{ $labels.metric }} on the {{ $labels.api }} metrics API has been served "
            f"from its configured fallback for {t.metrics_api_fallback_for}: its source is "
            "failing and HPAs scale on a constant.",
            for_=t.metrics_api_fallback_for,
            dashboard=DASHBOARD,
        ),
    ]
