"""Prometheus and Alertmanager for the demo: configs and command lines.

Prometheus scrapes the exporter and the demo app every 5 s and loads the generated rules
(`alerts/rules.yml`) plus the demo's quick-firing `demo/rules.yml`; Alertmanager runs the
generated routing (`alerts/alertmanager.yml`, whose dev environment sends nothing anywhere)
plus one child route, first and with `continue`, that sends every alert to the local sink.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

REPO = Path(__file__).resolve().parent.parent
SINK = "demo-sink"


def prometheus_config(exporter: str, app: str, alertmanager: str) -> dict[str, Any]:
    """`exporter`, `app`, `alertmanager`: host:port."""
    return {
        "global": {"scrape_interval": "5s", "evaluation_interval": "5s"},
        "rule_files": [str(REPO / "alerts" / "rules.yml"), str(REPO / "demo" / "rules.yml")],
        "alerting": {"alertmanagers": [{"static_configs": [{"targets": [alertmanager]}]}]},
        "scrape_configs": [
            {"job_name": "exporter", "static_configs": [{"targets": [exporter]}]},
            {"job_name": "demo-app", "static_configs": [{"targets": [app]}]},
        ],
    }


def alertmanager_config(sink_url: str) -> dict[str, Any]:
    """The generated routing, plus every alert to the sink (quickly: a demo is watched)."""
    config = yaml.safe_load((REPO / "alerts" / "alertmanager.yml").read_text())
    route = config["route"]
    sink_route = {"receiver": SINK, "continue": True, "group_wait": "5s", "group_interval": "10s"}
    route["routes"] = [sink_route, *route.get("routes", [])]
    config["receivers"].append(
        {"name": SINK, "webhook_configs": [{"url": sink_url, "send_resolved": True}]}
    )
    return config


def prometheus_cmd(work: Path, port: int, exporter: str, app: str, am: str) -> list[str]:
    path = work / "prometheus.yml"
    path.write_text(yaml.safe_dump(prometheus_config(exporter, app, am), sort_keys=False))
    return ["prometheus", f"--config.file={path}", f"--storage.tsdb.path={work / 'prom-data'}",
            f"--web.listen-address=127.0.0.1:{port}", "--log.level=warn"]  # fmt: skip


def alertmanager_cmd(work: Path, port: int, sink_url: str) -> list[str]:
    path = work / "alertmanager.yml"
    path.write_text(yaml.safe_dump(alertmanager_config(sink_url), sort_keys=False))
    return ["prometheus-alertmanager", f"--config.file={path}",
            f"--storage.path={work / 'am-data'}", f"--web.listen-address=127.0.0.1:{port}",
            "--cluster.listen-address=", "--log.level=warn"]  # fmt: skip
