"""Alertmanager inhibit rules: one outage, one notification.

- A critical alert silences its warning twin (same alert, same class).
- A target's `PostgresDown` / `RedisDown` silences that target's other alerts of the same
  kind (replication included) and the failing collectors that read it (`ExporterCollectorFailing{collector,target}`):
  a dead Redis otherwise also raises a warning per Redis collector.
- `ExporterDown` silences every alert the exporter's metrics feed (dependencies, queues,
  HPAs, GPUs, the metrics API): with the exporter gone, those are its echo.

Every rule is scoped to one `environment`, so a central Alertmanager never lets staging's
outage silence production.
"""

from __future__ import annotations

from typing import Any

from exporter.config import Config
from exporter.generators.alerts.autoscaling import autoscaling_alerts
from exporter.generators.alerts.dependencies import dependency_alerts
from exporter.generators.alerts.replication import replication_alerts
from exporter.generators.alerts.work import work_alerts

COLLECTOR_FAILING = "ExporterCollectorFailing"
EXPORTER_DOWN = "ExporterDown"
# target kind -> (its down alert, the name prefix of its other alerts, the collectors reading
# it: their `name`, the `collector` label; tests/generators/test_alerts_routing.py checks them
# against the collector classes, which the generators do not import).
TARGETS = {
    "postgres": ("PostgresDown", "Postgres", ("postgres", "postgres_queues")),
    "redis": ("RedisDown", "Redis", ("redis", "redis_queues")),
}


def _one_of(names: list[str] | tuple[str, ...]) -> str:
    return "|".join(sorted(names))


def exporter_fed_alerts(config: Config) -> list[str]:
    """The alerts that read only what the exporter exports (silenced by ExporterDown)."""
    groups = (dependency_alerts, replication_alerts, work_alerts, autoscaling_alerts)
    built = [a.name for b in groups for a in b(config)]
    return sorted({*built, COLLECTOR_FAILING})


def inhibit_rules(config: Config) -> list[dict[str, Any]]:
    rules: list[dict[str, Any]] = [
        {
            "source_matchers": ['severity="critical"'],
            "target_matchers": ['severity="warning"'],
            "equal": ["environment", "alertname", "component_class"],
        }
    ]
    names = [a.name for b in (dependency_alerts, replication_alerts) for a in b(config)]
    for down, prefix, collectors in TARGETS.values():
        derived = [n for n in names if n.startswith(prefix) and n != down]
        rules.append(
            {
                "source_matchers": [f'alertname="{down}"'],
                "target_matchers": [f'alertname=~"{_one_of(derived)}"'],
                "equal": ["environment", "target"],
            }
        )
        rules.append(
            {
                "source_matchers": [f'alertname="{down}"'],
                "target_matchers": [
                    f'alertname="{COLLECTOR_FAILING}"',
                    f'collector=~"{_one_of(collectors)}"',
                ],
                "equal": ["environment", "target"],
            }
        )
    rules.append(
        {
            "source_matchers": [f'alertname="{EXPORTER_DOWN}"'],
            "target_matchers": [f'alertname=~"{_one_of(exporter_fed_alerts(config))}"'],
            "equal": ["environment"],
        }
    )
    return rules
