"""Alerts on replication and topology health: replication slots holding WAL, standbys
lagging, Redis replicas cut off from their master, a Redis Cluster not serving all slots."""

from __future__ import annotations

from exporter import catalog
from exporter.config import Config
from exporter.generators.alerts.rule import Alert, num
from exporter.generators.promql import dedup


def replication_alerts(config: Config) -> list[Alert]:
    t = config.alerting.thresholds
    return [
        Alert(
            "PostgresReplicationSlotRetainingWal",
            f"{dedup(catalog.PG_REPLICATION_SLOT_RETAINED_WAL)}\n"
            f"> {num(t.pg_slot_retained_wal_bytes)}",
            "warning",
            "A replication slot holds back too much WAL.",
            "Slot {{ $labels.slot }} on PostgreSQL target {{ $labels.target }} keeps "
            "{{ $value | humanize1024 }}B of WAL on disk (threshold "
            f"{num(t.pg_slot_retained_wal_bytes)} bytes); unconsumed, it fills the disk.",
            for_="10m",
            dashboard="postgres",
        ),
        Alert(
            "PostgresReplicationSlotInactive",
            f"{dedup(catalog.PG_REPLICATION_SLOT_ACTIVE)} == 0",
            "warning",
            "A replication slot has no consumer.",
            "Slot {{ $labels.slot }} on PostgreSQL target {{ $labels.target }} has had no "
            "consumer for 30 minutes; it keeps every WAL file from its position until dropped.",
            for_="30m",
            dashboard="postgres",
        ),
        Alert(
            "PostgresStandbyLagging",
            f"{dedup(catalog.PG_STANDBY_REPLAY_LAG)}\n> {num(t.pg_standby_lag_seconds)}",
            "warning",
            "A PostgreSQL standby is lagging behind its primary.",
            "Standby {{ $labels.application_name }} of PostgreSQL target {{ $labels.target }} "
            "has not replayed WAL from {{ $value | humanizeDuration }} ago (threshold "
            f"{num(t.pg_standby_lag_seconds)}s); reads there are stale and a failover would "
            "wait for it.",
            for_="5m",
            dashboard="postgres",
        ),
        Alert(
            "RedisReplicaMasterLinkDown",
            f"{dedup(catalog.REDIS_MASTER_LINK_UP)} == 0",
            "warning",
            "A Redis replica lost the link to its master.",
            "A replica of Redis target {{ $labels.target }}"
            "{{ if $labels.node }} (node {{ $labels.node }}){{ end }} has been cut off from "
            "its master for a minute; it serves stale data and cannot take over cleanly.",
            for_="1m",
            dashboard="redis",
        ),
        Alert(
            "RedisClusterNotOk",
            f"min by (target) ({dedup(catalog.REDIS_CLUSTER_STATE_OK)}) == 0",
            "critical",
            "A Redis Cluster is not serving all its slots.",
            "A node of Redis Cluster target {{ $labels.target }} reports cluster_state fail: "
            "keys in the uncovered slots (queues among them) cannot be read or written.",
            for_="1m",
            dashboard="redis",
        ),
    ]
