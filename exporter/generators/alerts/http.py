"""HTTP golden-signal alerts and the SLO's multiwindow burn-rate alerts.

The burn-rate windows, factors and severities come from `config.alerting.burn_rates`.
"""

from __future__ import annotations

from exporter.config import BurnRateWindow, Config
from exporter.generators.alerts.recording import LATENCY_P95, error_ratio
from exporter.generators.alerts.rule import Alert, num
from exporter.generators.promql import streaming_routes

_UNITS = {"s": "second", "m": "minute", "h": "hour", "d": "day"}


def _spoken(duration: str) -> str:
    """ "1h" -> "hour", "6h" -> "6 hours": for "over the last ..."."""
    count, unit = int(duration[:-1]), _UNITS[duration[-1]]
    return unit if count == 1 else f"{count} {unit}s"


def _burn_alert(window: BurnRateWindow, slo: float) -> Alert:
    limit = f"({num(window.factor)} * {num(1 - slo)})"
    expr = f"{error_ratio(window.long)} > {limit}\nand\n{error_ratio(window.short)} > {limit}"
    factor = num(window.factor)
    description = (
        "Component class {{ $labels.component_class }} is spending its error budget "
        f"(SLO {num(slo * 100)}%) {factor} times faster than sustainable: "
        f"{{{{ $value | humanizePercentage }}}} errors over the last {_spoken(window.long)}."
    )
    return Alert(
        "ErrorBudgetBurn",
        expr,
        window.severity,
        f"The error budget is burning {window.pace} "
        f"({factor}x over {window.long} and {window.short}).",
        f"{description} {window.note}" if window.note else description,
        for_=window.for_duration,
        labels={"window": f"{window.long}/{window.short}"},
        dashboard="component-class",
    )


def http_alerts(config: Config) -> list[Alert]:
    t = config.alerting.thresholds
    return [
        Alert(
            "HighErrorRate",
            f"{error_ratio('5m')} > {num(t.error_rate_ratio)}",
            "critical",
            "A component class is answering many requests with server errors.",
            "{{ $value | humanizePercentage }} of requests to component class "
            "{{ $labels.component_class }} failed with a 5xx over the last 5 minutes "
            f"(threshold {num(t.error_rate_ratio * 100)}%).",
            for_="5m",
            dashboard="component-class",
        ),
        Alert(
            "HighLatencyP95",
            # Streaming routes last as long as their stream: they are judged by time to first
            # event on the SSE dashboard, not here.
            f"{LATENCY_P95} > {num(t.latency_p95_seconds)}\nunless on (component_class, route)\n"
            f"{streaming_routes()}",
            "warning",
            "Request latency p95 is above the objective.",
            "p95 latency of {{ $labels.route }} on component class {{ $labels.component_class }} "
            "is {{ $value | humanizeDuration }} over the last 5 minutes "
            f"(threshold {num(t.latency_p95_seconds)}s).",
            for_="10m",
            dashboard="component-class",
        ),
        *(_burn_alert(w, t.slo_availability) for w in config.alerting.burn_rates),
    ]
