"""Grafana dashboards generated with grafanalib from the config and the metric catalog.

`make dashboards` writes one JSON file per dashboard into `dashboards/`: one module per
dashboard (each a `build(config)`), listed in `BUILDERS`; `kit` holds what they share.
Every query is built from `exporter.catalog` specs (`promql` checks the labels), every limit
drawn as a threshold comes from the config (alert thresholds, collection timeout, scaling
targets), and the class/target variables query Prometheus (`label_values`) with the config's
component classes and targets as their defaults. `schema.current_schema` brings grafanalib's
output to Grafana's current dashboard schema.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from grafanalib._gen import DashboardEncoder
from grafanalib.core import Dashboard

from exporter.config import Config
from exporter.generators.dashboards import (
    component_class,
    exporter_self_health,
    gpu,
    platform_overview,
    postgres,
    queues_autoscaling,
    redis,
    sse_streaming,
)
from exporter.generators.dashboards.schema import current_schema
from exporter.generators.output import write_files

BUILDERS: dict[str, Callable[[Config], Dashboard]] = {
    "platform-overview": platform_overview.build,
    "component-class": component_class.build,
    "sse-streaming": sse_streaming.build,
    "queues-autoscaling": queues_autoscaling.build,
    "gpu": gpu.build,
    "postgres": postgres.build,
    "redis": redis.build,
    "exporter-self-health": exporter_self_health.build,
}


def dashboards(config: Config) -> dict[str, dict[str, Any]]:
    """File stem -> dashboard JSON model (plain data)."""
    out = {}
    for stem, build in BUILDERS.items():
        text = json.dumps(build(config).to_json_data(), cls=DashboardEncoder)
        out[stem] = current_schema(json.loads(text))
    return out


def render(config: Config) -> dict[str, str]:
    """File name -> file content (the drift test compares these with dashboards/)."""
    return {
        f"{stem}.json": json.dumps(model, indent=2, sort_keys=True) + "\n"
        for stem, model in dashboards(config).items()
    }


def generate(config: Config, out_dir: str | Path) -> list[str]:
    return write_files(out_dir, render(config))
