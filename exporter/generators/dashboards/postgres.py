"""PostgreSQL: the config's PostgreSQL targets (up, connections, deadlocks, lag, size)."""

from __future__ import annotations

from grafanalib.core import Dashboard

from exporter import catalog
from exporter.config import Config
from exporter.generators.dashboards.kit import (
    COUNT,
    PER_S,
    RATE_INTERVAL,
    STATE,
    TARGET,
    UNIT,
    PanelSpec,
    Query,
    custom_var,
    dashboard,
)
from exporter.generators.promql import agg, by, dedup, pg_connection_ratio, sel


def build(config: Config) -> Dashboard:
    t = config.alerting.thresholds
    targets = [pg.name for pg in config.postgres]
    panels = [
        PanelSpec(
            "Up",
            "Whether any exporter replica reaches the target.",
            STATE,
            [Query(agg("max", catalog.PG_UP, ("target",), target=TARGET), "{{target}}")],
            kind="stat",
            up_down=True,
            width=6,
        ),
        PanelSpec(
            "In recovery",
            "1 when the server is a standby replaying WAL.",
            STATE,
            [Query(agg("max", catalog.PG_IN_RECOVERY, ("target",), target=TARGET), "{{target}}")],
            kind="stat",
            width=6,
        ),
        PanelSpec(
            "Probe duration",
            "Time the last probe took. The red line is the collection timeout: a probe that "
            "reaches it fails.",
            UNIT["seconds"],
            [Query(dedup(catalog.PG_PROBE_DURATION, target=TARGET), "{{target}} {{instance}}")],
            limit=config.collection.timeout_seconds,
        ),
        PanelSpec(
            "Connections by state",
            "Backend connections by state (pg_stat_activity) and the max_connections limit.",
            COUNT,
            [
                Query(dedup(catalog.PG_CONNECTIONS, target=TARGET), "{{target}} {{state}}"),
                Query(
                    agg("max", catalog.PG_MAX_CONNECTIONS, ("target",), target=TARGET),
                    "{{target}} max",
                ),
            ],
        ),
        PanelSpec(
            "Connections used",
            "Connections in use over max_connections. The red line is the "
            "PostgresConnectionsSaturated threshold.",
            UNIT["ratio"],
            [
                Query(
                    pg_connection_ratio(target=TARGET),
                    "{{target}}",
                )
            ],
            limit=t.pg_connections_ratio,
            max_value=1,
        ),
        PanelSpec(
            "Deadlocks per second",
            "Deadlocks detected per database; any is worth a look (PostgresDeadlocks).",
            PER_S,
            [
                Query(
                    f"max {by(catalog.PG_DEADLOCKS, 'target', 'datname')} "
                    f"(rate({sel(catalog.PG_DEADLOCKS, target=TARGET)}[{RATE_INTERVAL}]))",
                    "{{target}} {{datname}}",
                )
            ],
        ),
        PanelSpec(
            "Longest transaction",
            "Age of the oldest open transaction: long ones hold locks and block vacuum.",
            UNIT["seconds"],
            [Query(dedup(catalog.PG_LONGEST_TRANSACTION, target=TARGET), "{{target}}")],
        ),
        PanelSpec(
            "Replication lag",
            "Replay lag when the target is a standby (0 on a primary).",
            UNIT["seconds"],
            [Query(dedup(catalog.PG_REPLICATION_LAG, target=TARGET), "{{target}}")],
        ),
        PanelSpec(
            "Database size",
            "On-disk size of each database.",
            UNIT["bytes"],
            [Query(dedup(catalog.PG_DATABASE_SIZE, target=TARGET), "{{target}} {{datname}}")],
        ),
    ]
    return dashboard(
        "exporter-postgres",
        "PostgreSQL",
        "PostgreSQL targets from the exporter config.",
        panels,
        [custom_var("target", "Target", targets)],
    )
