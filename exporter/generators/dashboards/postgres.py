"""PostgreSQL: the config's PostgreSQL targets (up, connections, deadlocks, lag, size)."""

from __future__ import annotations

from grafanalib.core import Dashboard

from exporter import catalog
from exporter.config import Config
from exporter.generators.dashboards import kit, postgres_health
from exporter.generators.dashboards.kit import PanelSpec, Query
from exporter.generators.promql import agg, dedup, max_rate, pg_connection_ratio


def build(config: Config) -> Dashboard:
    t = config.alerting.thresholds
    targets = [pg.name for pg in config.postgres]
    panels = [
        kit.target_up_panel(catalog.PG_UP),
        PanelSpec(
            "In recovery",
            "1 when the server is a standby replaying WAL.",
            kit.STATE,
            [
                Query(
                    agg("max", catalog.PG_IN_RECOVERY, ("target",), target=kit.TARGET), "{{target}}"
                )
            ],
            kind="stat",
            width=6,
        ),
        kit.probe_duration_panel(catalog.PG_PROBE_DURATION, config),
        PanelSpec(
            "Connections by state",
            "Backend connections by state (pg_stat_activity) and the max_connections limit.",
            kit.COUNT,
            [
                Query(dedup(catalog.PG_CONNECTIONS, target=kit.TARGET), "{{target}} {{state}}"),
                Query(
                    agg("max", catalog.PG_MAX_CONNECTIONS, ("target",), target=kit.TARGET),
                    "{{target}} max",
                ),
            ],
        ),
        PanelSpec(
            "Connections used",
            "Connections in use over max_connections. The red line is the "
            "PostgresConnectionsSaturated threshold.",
            kit.UNIT["ratio"],
            [
                Query(
                    pg_connection_ratio(target=kit.TARGET),
                    "{{target}}",
                )
            ],
            limit=t.pg_connections_ratio,
            max_value=1,
        ),
        PanelSpec(
            "Deadlocks per second",
            "Deadlocks detected per database; any is worth a look (PostgresDeadlocks).",
            kit.PER_S,
            [
                Query(
                    max_rate(
                        catalog.PG_DEADLOCKS,
                        ("target", "datname"),
                        kit.RATE_INTERVAL,
                        target=kit.TARGET,
                    ),
                    "{{target}} {{datname}}",
                )
            ],
        ),
        PanelSpec(
            "Longest transaction",
            "Age of the oldest open transaction: long ones hold locks and block vacuum.",
            kit.UNIT["seconds"],
            [Query(dedup(catalog.PG_LONGEST_TRANSACTION, target=kit.TARGET), "{{target}}")],
        ),
        PanelSpec(
            "Replication lag",
            "Replay lag when the target is a standby (0 on a primary).",
            kit.UNIT["seconds"],
            [Query(dedup(catalog.PG_REPLICATION_LAG, target=kit.TARGET), "{{target}}")],
        ),
        PanelSpec(
            "Database size",
            "On-disk size of each database.",
            kit.UNIT["bytes"],
            [Query(dedup(catalog.PG_DATABASE_SIZE, target=kit.TARGET), "{{target}} {{datname}}")],
        ),
    ] + postgres_health.panels(config)
    return kit.dashboard(
        "exporter-postgres",
        "PostgreSQL",
        "PostgreSQL targets from the exporter config.",
        panels,
        [kit.label_var("target", "Target", targets, spec=catalog.PG_UP)],
    )
