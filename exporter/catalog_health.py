"""PostgreSQL and Redis health signals beyond up/connections/memory, declared like the rest
of the catalog (and merged into `exporter.catalog.CATALOG`, which star-imports this module).

Names follow what postgres_exporter / redis_exporter users already query where a
convention exists (`_total` counters, `_bytes`, `_seconds`); every series carries `target`.
"""

from __future__ import annotations

from exporter.catalog_spec import MetricSpec

_T = ("target",)
_DB = ("target", "datname")


def _g(name: str, help_: str, labels: tuple[str, ...] = _T, unit: str = "") -> MetricSpec:
    return MetricSpec(name, "gauge", help_, labels, unit)


def _c(name: str, help_: str, labels: tuple[str, ...] = _T, unit: str = "") -> MetricSpec:
    return MetricSpec(name, "counter", help_, labels, unit)


# --- PostgreSQL: pg_stat_database -----------------------------------------------------------
PG_XACT_COMMITS = _c("pg_xact_commits_total", "Transactions committed per database.", _DB)
PG_XACT_ROLLBACKS = _c("pg_xact_rollbacks_total", "Transactions rolled back per database.", _DB)
PG_BLOCKS_HIT = _c(
    "pg_blocks_hit_total", "Block reads served from shared buffers (cache hits).", _DB
)
PG_BLOCKS_READ = _c(
    "pg_blocks_read_total", "Blocks read from disk or the OS cache (cache misses).", _DB
)
PG_TUPLES = _c(
    "pg_tuples_total",
    "Rows returned, fetched, inserted, updated or deleted per database (`op`).",
    ("target", "datname", "op"),
)
PG_TEMP_FILES = _c("pg_temp_files_total", "Temporary files created by queries.", _DB)
PG_TEMP_BYTES = _c("pg_temp_bytes_total", "Bytes written to temporary files.", _DB, "bytes")

# --- PostgreSQL: locks, checkpoints, WAL archiving -------------------------------------------
PG_LOCKS = _g("pg_locks", "Granted locks by mode (pg_locks).", ("target", "mode"))
PG_LOCKS_WAITING = _g("pg_locks_waiting", "Backends waiting for a lock.")
PG_CHECKPOINTS = _c(
    "pg_checkpoints_total",
    "Checkpoints by kind: timed (checkpoint_timeout) or requested (WAL volume, manual).",
    ("target", "kind"),
)
PG_BUFFERS_WRITTEN = _c(
    "pg_buffers_written_total",
    "Shared buffers written by the checkpointer, the background writer or backends (`by`).",
    ("target", "by"),
)
PG_WAL_ARCHIVED = _c("pg_wal_archived_total", "WAL files archived by archive_command.")
PG_WAL_ARCHIVE_FAILURES = _c(
    "pg_wal_archive_failures_total", "Failed attempts to archive a WAL file."
)

# --- PostgreSQL: replication seen from the primary --------------------------------------------
PG_REPLICATION_SLOT_ACTIVE = _g(
    "pg_replication_slot_active",
    "1 while a consumer is attached to the replication slot.",
    ("target", "slot", "slot_type"),
)
PG_REPLICATION_SLOT_RETAINED_WAL = _g(
    "pg_replication_slot_retained_wal_bytes",
    "WAL the server keeps on disk for the slot (current LSN - restart_lsn).",
    ("target", "slot", "slot_type"),
    "bytes",
)
PG_STANDBY_REPLAY_LAG = _g(
    "pg_standby_replay_lag_seconds",
    "Replay lag of a streaming standby as the primary measures it (0 once it has replayed "
    "everything sent).",
    ("target", "application_name"),
    "seconds",
)
PG_STANDBY_REPLAY_LAG_BYTES = _g(
    "pg_standby_replay_lag_bytes",
    "WAL the standby has not replayed yet (current LSN - replay_lsn).",
    ("target", "application_name"),
    "bytes",
)
PG_STANDBY_STREAMING = _g(
    "pg_standby_streaming",
    "1 while the standby's WAL sender is in state streaming.",
    ("target", "application_name"),
)

# --- PostgreSQL: server ---------------------------------------------------------------------
PG_INFO = _g("pg_info", "Always 1; `version` carries the server version.", ("target", "version"))
PG_SETTING_BYTES = _g(
    "pg_setting_bytes", "Memory and WAL-size settings in bytes.", ("target", "setting"), "bytes"
)
PG_SETTING_SECONDS = _g(
    "pg_setting_seconds", "Time settings in seconds.", ("target", "setting"), "seconds"
)
PG_SETTING = _g("pg_setting", "Count settings (slots, WAL senders...).", ("target", "setting"))

# --- Redis ----------------------------------------------------------------------------------
_N = ("target", "node")  # `node` is host:port; set for cluster and sentinel targets
REDIS_COMMANDS_PROCESSED = _c("redis_commands_processed_total", "Commands processed.", _N)
REDIS_KEYSPACE_HITS = _c("redis_keyspace_hits_total", "Successful key lookups.", _N)
REDIS_KEYSPACE_MISSES = _c("redis_keyspace_misses_total", "Lookups of missing keys.", _N)
REDIS_EXPIRED_KEYS = _c("redis_expired_keys_total", "Keys removed because they expired.", _N)
REDIS_DB_KEYS = _g("redis_db_keys", "Keys per database.", ("target", "node", "db"))
REDIS_DB_EXPIRING_KEYS = _g(
    "redis_db_expiring_keys", "Keys with a TTL per database.", ("target", "node", "db")
)
REDIS_MEMORY_RSS = _g("redis_memory_rss_bytes", "Resident set size of Redis.", _N, "bytes")
REDIS_MEMORY_FRAGMENTATION = _g(
    "redis_memory_fragmentation_ratio", "RSS / used memory (allocator fragmentation).", _N
)
REDIS_ROLE = _g("redis_role", "1 for the node's replication role.", ("target", "node", "role"))
REDIS_CONNECTED_REPLICAS = _g("redis_connected_replicas", "Replicas attached to this node.", _N)
REDIS_MASTER_LINK_UP = _g(
    "redis_master_link_up", "On a replica: 1 while the link to its master is up.", _N
)
REDIS_REPLICATION_OFFSET_LAG = _g(
    "redis_replication_offset_lag_bytes",
    "On a master: its replication offset minus the slowest connected replica's (0 without "
    "replicas).",
    _N,
    "bytes",
)
REDIS_SLOWLOG_LENGTH = _g("redis_slowlog_length", "Entries in the slow log.", _N)
REDIS_UPTIME = _g("redis_uptime_seconds", "Seconds since the server started.", _N, "seconds")
REDIS_CPU = _c(
    "redis_cpu_seconds_total",
    "CPU time of the server by `mode` (user, sys, and their children's).",
    ("target", "node", "mode"),
    "seconds",
)
REDIS_COMMAND_LATENCY = _g(
    "redis_command_latency_seconds",
    "Per-command latency percentiles since start or CONFIG RESETSTAT (INFO latencystats).",
    ("target", "node", "cmd", "quantile"),
    "seconds",
)
REDIS_INFO = _g(
    "redis_info", "Always 1; `version` carries the server version.", ("target", "node", "version")
)
REDIS_NODE_UP = _g(
    "redis_node_up", "1 if the node of a cluster or sentinel target answered this cycle.", _N
)

# --- Redis Cluster --------------------------------------------------------------------------
REDIS_CLUSTER_STATE_OK = _g(
    "redis_cluster_state_ok", "1 when the cluster reports cluster_state:ok (per node's view).", _N
)
REDIS_CLUSTER_SLOTS_ASSIGNED = _g(
    "redis_cluster_slots_assigned", "Hash slots assigned to a master (of 16384).", _N
)
REDIS_CLUSTER_SLOTS_FAIL = _g(
    "redis_cluster_slots_fail", "Hash slots whose master is failed (FAIL) per node's view.", _N
)
REDIS_CLUSTER_KNOWN_NODES = _g("redis_cluster_known_nodes", "Nodes the node knows about.", _N)
