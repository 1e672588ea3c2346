"""What every alert group is made of: the `Alert` record and how thresholds are written."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from exporter.config import Config


def num(x: float) -> str:
    """A threshold as PromQL/humans write it: 0.05, 1, 300."""
    return f"{x:.10g}"


def dashboard_url(config: Config, stem: str) -> str:
    """The link to a generated dashboard (its uid is `exporter-<stem>`, see dashboards/)."""
    uid = stem if stem.startswith("exporter-") else f"exporter-{stem}"
    return f"{config.alerting.grafana_url}/d/{uid}"


@dataclass(frozen=True)
class Alert:
    name: str
    expr: str
    severity: str
    summary: str  # plain text: shown in pager titles, must not vary per firing
    description: str  # templated with $labels / $value
    for_: str | None = None
    labels: dict[str, str] = field(default_factory=dict)
    dashboard: str = "platform-overview"  # the dashboard file stem the alert links to

    def rule(self, config: Config) -> dict[str, Any]:
        """The Prometheus rule. Every alert carries `environment` (from the config) so one
        Alertmanager shared by several environments routes and inhibits per environment."""
        out: dict[str, Any] = {"alert": self.name, "expr": self.expr}
        if self.for_:
            out["for"] = self.for_
        out["labels"] = {
            "severity": self.severity,
            "environment": config.environment,
            **self.labels,
        }
        out["annotations"] = {
            "summary": self.summary,
            "description": self.description,
            "runbook_url": f"{config.alerting.runbook_base_url}#{self.name.lower()}",
            "dashboard_url": dashboard_url(config, self.dashboard),
        }
        return out
