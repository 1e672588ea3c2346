"""Per-target health switches and Redis topology fields (part of the config schema).

Each switch turns one family group off for one target: a view the exporter's role may not
read, or a section an operator does not want to pay for. `health: false` drops the target's
health collector entirely (its queues are still read).
"""

from __future__ import annotations

from typing import Literal

from exporter.config.base import Strict


class PostgresCollect(Strict):
    """What the PostgreSQL health collector reads, view by view."""

    health: bool = True
    connections: bool = True  # pg_stat_activity by state
    databases: bool = True  # pg_stat_database: xacts, blocks, tuples, temp, deadlocks, size
    locks: bool = True  # pg_locks
    checkpoints: bool = True  # pg_stat_bgwriter / pg_stat_checkpointer
    replication: bool = True  # pg_stat_replication (standbys seen from the primary)
    slots: bool = True  # pg_replication_slots
    archiver: bool = True  # pg_stat_archiver
    settings: bool = True  # pg_settings (a fixed list)


class RedisCollect(Strict):
    """What the Redis health collector reads, section by section."""

    health: bool = True
    slowlog: bool = True  # SLOWLOG LEN
    latencystats: bool = True  # INFO latencystats (Redis >= 7)
    keyspace: bool = True  # INFO keyspace: keys per db


RedisMode = Literal["standalone", "cluster", "sentinel"]
