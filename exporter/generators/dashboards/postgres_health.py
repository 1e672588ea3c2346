"""PostgreSQL panels beyond up/connections: cache hits, transactions, locks, replication."""

from __future__ import annotations

from exporter import catalog
from exporter.config import Config
from exporter.generators.dashboards import kit
from exporter.generators.dashboards.kit import PanelSpec, Query
from exporter.generators.promql import dedup, max_rate

_DB = ("target", "datname")


def _rate(spec: catalog.MetricSpec, group: tuple[str, ...] = _DB) -> str:
    return max_rate(spec, group, kit.RATE_INTERVAL, target=kit.TARGET)


def panels(config: Config) -> list[PanelSpec]:
    t = config.alerting.thresholds
    hits, reads = _rate(catalog.PG_BLOCKS_HIT), _rate(catalog.PG_BLOCKS_READ)
    return [
        PanelSpec(
            "Cache hit ratio",
            "Block reads served from shared buffers over all block reads, per database. "
            "Below ~0.99 on an OLTP database the working set no longer fits shared_buffers.",
            kit.UNIT["ratio"],
            [Query(f"{hits}\n/\n({hits} + {reads})", "{{target}} {{datname}}")],
            max_value=1,
        ),
        PanelSpec(
            "Transactions per second",
            "Commits and rollbacks per database; a rollback share that grows points at errors.",
            kit.PER_S,
            [
                Query(_rate(catalog.PG_XACT_COMMITS), "{{target}} {{datname}} commit"),
                Query(_rate(catalog.PG_XACT_ROLLBACKS), "{{target}} {{datname}} rollback"),
            ],
        ),
        PanelSpec(
            "Locks by mode",
            "Granted locks by mode (pg_locks), and backends waiting for a lock.",
            kit.COUNT,
            [
                Query(dedup(catalog.PG_LOCKS, target=kit.TARGET), "{{target}} {{mode}}"),
                Query(dedup(catalog.PG_LOCKS_WAITING, target=kit.TARGET), "{{target}} waiting"),
            ],
        ),
        PanelSpec(
            "Rows per second",
            "Rows returned, fetched, inserted, updated and deleted (all databases).",
            kit.PER_S,
            [
                Query(
                    f"sum by (target, op) ({_rate(catalog.PG_TUPLES, ('target', 'datname', 'op'))})",
                    "{{target}} {{op}}",
                )
            ],
        ),
        PanelSpec(
            "Temp bytes per second",
            "Bytes queries spilled to temporary files: sorts and hashes larger than work_mem.",
            "Bps",
            [Query(_rate(catalog.PG_TEMP_BYTES), "{{target}} {{datname}}")],
        ),
        PanelSpec(
            "Checkpoints per second",
            "Timed vs requested checkpoints; requested ones dominating means max_wal_size is "
            "too small for the write load.",
            kit.PER_S,
            [Query(_rate(catalog.PG_CHECKPOINTS, ("target", "kind")), "{{target}} {{kind}}")],
        ),
        PanelSpec(
            "WAL retained by replication slots",
            "WAL each slot keeps on disk. The red line is the "
            "PostgresReplicationSlotRetainingWal threshold.",
            kit.UNIT["bytes"],
            [
                Query(
                    dedup(catalog.PG_REPLICATION_SLOT_RETAINED_WAL, target=kit.TARGET),
                    "{{target}} {{slot}}",
                )
            ],
            limit=t.pg_slot_retained_wal_bytes,
        ),
        PanelSpec(
            "Standby replay lag",
            "Each standby's replay lag seen from the primary (0 once caught up). The red line "
            "is the PostgresStandbyLagging threshold.",
            kit.UNIT["seconds"],
            [
                Query(
                    dedup(catalog.PG_STANDBY_REPLAY_LAG, target=kit.TARGET),
                    "{{target}} {{application_name}}",
                )
            ],
            limit=t.pg_standby_lag_seconds,
        ),
    ]
