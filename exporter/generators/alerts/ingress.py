"""Ingress 4xx/5xx spike alerts on the NGINX ingress controller's standard metric names.

Only generated when `alerting.ingress_controller` says one is in front of the services:
without it the rules would evaluate to nothing forever.
"""

from __future__ import annotations

from exporter.config import Config
from exporter.generators import peer_metrics
from exporter.generators.alerts.rule import Alert, num
from exporter.generators.promql import HTTP_5XX, sum_rate

INGRESS = ("ingress",)
CLIENT_ERROR = '=~"4.."'


def _ratio(status: str) -> str:
    spec = peer_metrics.NGINX_INGRESS_REQUESTS
    errors = sum_rate(spec, INGRESS, "5m", status=status)
    return f"{errors}\n/\n{sum_rate(spec, INGRESS, '5m')}"


def ingress_alerts(config: Config) -> list[Alert]:
    if config.alerting.ingress_controller == "none":
        return []
    t = config.alerting.thresholds
    return [
        Alert(
            "IngressHigh5xxRate",
            f"{_ratio(HTTP_5XX)}\n> {num(t.ingress_5xx_ratio)}",
            "critical",
            "An ingress is answering many requests with server errors.",
            "{{ $value | humanizePercentage }} of requests through ingress {{ $labels.ingress }} "
            "got a 5xx over the last 5 minutes "
            f"(threshold {num(t.ingress_5xx_ratio * 100)}%).",
            for_="5m",
        ),
        Alert(
            "IngressHigh4xxRate",
            f"{_ratio(CLIENT_ERROR)}\n> {num(t.ingress_4xx_ratio)}",
            "warning",
            "An ingress is answering many requests with client errors.",
            "{{ $value | humanizePercentage }} of requests through ingress {{ $labels.ingress }} "
            "got a 4xx over the last 5 minutes "
            f"(threshold {num(t.ingress_4xx_ratio * 100)}%): a broken client, a bad deploy "
            "of a route, or a scan.",
            for_="10m",
        ),
    ]
