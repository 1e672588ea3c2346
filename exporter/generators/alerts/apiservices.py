"""Alerts on who serves the metrics groups this exporter registers (`metrics_api.register`).

From `exporter_apiservice_owned` / `exporter_apiservice_available` (the APIService
collector): another owner (KEDA, prometheus-adapter) took a group we register, or the group
is ours but the aggregator cannot reach us. None when no group is registered.
"""

from __future__ import annotations

from exporter import catalog
from exporter.config import Config
from exporter.generators.alerts.rule import Alert
from exporter.generators.k8s.apiservice import registered_groups
from exporter.generators.promql import by, sel

KEYS = ("group", "version")


def apiservice_alerts(config: Config) -> list[Alert]:
    groups = registered_groups(config)
    if not groups:
        return []
    ours = '=~"' + "|".join(g.replace(".", "\\\\.") for g in groups) + '"'
    # not agg(): its `group` parameter would take the `group` label matcher
    owned, available = (
        f"max {by(spec, *KEYS)} ({sel(spec, group=ours)})"
        for spec in (catalog.EXPORTER_APISERVICE_OWNED, catalog.EXPORTER_APISERVICE_AVAILABLE)
    )
    return [
        Alert(
            "MetricsApiServiceNotOurs",
            f"{owned} == 0",
            "warning",
            "A metrics API group we register is served by someone else.",
            "APIService {{ $labels.version }}.{{ $labels.group }} does not point at this "
            "exporter: another component (KEDA, prometheus-adapter) owns it, so our metrics "
            "for that group reach no autoscaler.",
            for_="10m",
        ),
        Alert(
            "MetricsApiServiceUnavailable",
            f"{owned} == 1\nand on (group, version)\n{available} == 0",
            "critical",
            "The aggregator cannot reach the exporter's metrics API.",
            "APIService {{ $labels.version }}.{{ $labels.group }} points at this exporter but "
            "is not Available: every HPA reading that group is failing to scale.",
            for_="5m",
        ),
    ]
