"""Exporter self-health: scrapes, collectors, freshness and the metrics API."""

from __future__ import annotations

from grafanalib.core import Dashboard

from exporter import catalog
from exporter.config import Config
from exporter.generators import peer_metrics
from exporter.generators.dashboards import kit
from exporter.generators.dashboards.kit import PanelSpec, Query
from exporter.generators.promql import agg, sel, sum_rate


def build(config: Config) -> Dashboard:
    ct = ("collector", "target")
    # the freshness bound of what the autoscalers read: queue-schedule collectors
    stale = config.metrics_api.stale_after_intervals * config.collection.queues.interval_seconds
    panels = [
        PanelSpec(
            "Scrape up",
            "Whether Prometheus's last scrape of each exporter replica succeeded.",
            kit.STATE,
            [Query(sel(peer_metrics.UP, job=config.exporter_job), "{{instance}}")],
            kind="stat",
            up_down=True,
            width=12,
        ),
        PanelSpec(
            "Build",
            "Exporter version, Python version and environment of each replica.",
            kit.STATE,
            [
                Query(
                    agg("max", catalog.EXPORTER_BUILD_INFO, ("version", "python", "environment")),
                    "{{version}} py{{python}} {{environment}}",
                )
            ],
            kind="stat",
            width=12,
        ),
        PanelSpec(
            "Collector up",
            "1 if the collector's last run for the target succeeded, per replica.",
            kit.STATE,
            [Query(sel(catalog.EXPORTER_COLLECTOR_UP), "{{collector}} {{target}} {{instance}}")],
        ),
        PanelSpec(
            "Collector duration",
            "How long each collector's last run took. The red line is the health-probe "
            "timeout (queue reads have a shorter one): a run that reaches its timeout is "
            "cancelled and counted as an error.",
            kit.UNIT["seconds"],
            [
                Query(
                    agg("max", catalog.EXPORTER_COLLECTOR_DURATION, ct), "{{collector}} {{target}}"
                )
            ],
            limit=config.collection.health.timeout_seconds,
        ),
        PanelSpec(
            "Collector errors per second",
            "Failed or timed-out collector runs.",
            kit.PER_S,
            [
                Query(
                    sum_rate(
                        catalog.EXPORTER_COLLECTOR_ERRORS, (*ct, "instance"), kit.RATE_INTERVAL
                    ),
                    "{{collector}} {{target}} {{instance}}",
                )
            ],
        ),
        PanelSpec(
            "Seconds since last success",
            f"Age of each collector's freshest good data. The red line is the freshness bound "
            f"of the values served to autoscalers ({stale:g} s, stale_after_intervals queue "
            f"intervals): a queue or GPU collector past it serves nothing. Health probes run "
            f"every {config.collection.health.interval_seconds:g} s.",
            kit.UNIT["seconds"],
            [
                Query(
                    f"time() - {agg('max', catalog.EXPORTER_COLLECTOR_LAST_SUCCESS, ct)}",
                    "{{collector}} {{target}}",
                )
            ],
            limit=stale,
        ),
        PanelSpec(
            "Metrics API requests per second",
            "Requests to the Kubernetes external/custom metrics APIs, by API and status code.",
            kit.REQ_PER_S,
            [
                Query(
                    sum_rate(catalog.METRICS_API_REQUESTS, ("api", "code"), kit.RATE_INTERVAL),
                    "{{api}} {{code}}",
                )
            ],
        ),
        PanelSpec(
            "Metrics API fallbacks",
            "1 while a metrics-API metric is served from its configured fallback value "
            "because its source failed.",
            kit.STATE,
            [
                Query(
                    agg("max", catalog.METRICS_API_FALLBACK, ("api", "metric")),
                    "{{api}} {{metric}}",
                )
            ],
        ),
    ]
    return kit.dashboard(
        "exporter-self-health",
        "Exporter self-health",
        "Is the exporter itself healthy: scrapes, collectors, freshness, metrics API.",
        panels,
        [],
    )
