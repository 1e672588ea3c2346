"""Alerts on the exporter itself: failing collectors, failed scrapes."""

from __future__ import annotations

from exporter import catalog
from exporter.config import Config
from exporter.generators import peer_metrics
from exporter.generators.alerts.rule import Alert
from exporter.generators.promql import sel


def exporter_alerts(config: Config) -> list[Alert]:
    job = config.exporter_job
    up = sel(peer_metrics.UP, job=job)
    return [
        Alert(
            "ExporterCollectorFailing",
            f"{sel(catalog.EXPORTER_COLLECTOR_UP)} == 0",
            "warning",
            "An exporter collector keeps failing.",
            "Collector {{ $labels.collector }} for target {{ $labels.target }} on "
            "{{ $labels.instance }} has failed every run for 5 minutes; its metrics are stale.",
            for_="5m",
            dashboard="exporter-self-health",
        ),
        Alert(
            "ExporterDown",
            f"{up} == 0\nor\nabsent({up})",
            "critical",
            "The exporter cannot be scraped.",
            "Prometheus has had no successful scrape of job {{ $labels.job }} "
            "{{ $labels.instance }} for 5 minutes: dashboards go blank and HPAs lose their "
            "external metrics.",
            for_="5m",
            dashboard="exporter-self-health",
        ),
    ]
