"""PostgreSQL and Redis health signals beyond up/connections/memory; joined into
`exporter.catalog`.

Names follow what postgres_exporter / redis_exporter users already query where a
convention exists (`_total` counters, `_bytes`, `_seconds`); every series carries `target`.
"""

from __future__ import annotations

from exporter.catalog.entry import metric

_T = ("target",)
_DB = ("target", "datname")


# --- PostgreSQL: pg_stat_database -----------------------------------------------------------
PG_XACT_COMMITS = metric(
    "pg_xact_commits_total", "counter", "Transactions committed per database.", _DB
)
PG_XACT_ROLLBACKS = metric(
    "pg_xact_rollbacks_total", "counter", "Transactions rolled back per database.", _DB
)
PG_BLOCKS_HIT = metric(
    "pg_blocks_hit_total", "counter", "Block reads served from shared buffers (cache hits).", _DB
)
PG_BLOCKS_READ = metric(
    "pg_blocks_read_total", "counter", "Blocks read from disk or the OS cache (cache misses).", _DB
)
PG_TUPLES = metric(
    "pg_tuples_total",
    "counter",
    "Rows returned, fetched, inserted, updated or deleted per database (`op`).",
    ("target", "datname", "op"),
)
PG_TEMP_FILES = metric("pg_temp_files_total", "counter", "Temporary files created by queries.", _DB)
PG_TEMP_BYTES = metric(
    "pg_temp_bytes_total", "counter", "Bytes written to temporary files.", _DB, "bytes"
)

# --- PostgreSQL: locks, checkpoints, WAL archiving -------------------------------------------
PG_LOCKS = metric("pg_locks", "gauge", "Granted locks by mode (pg_locks).", ("target", "mode"))
PG_LOCKS_WAITING = metric("pg_locks_waiting", "gauge", "Backends waiting for a lock.", _T)
PG_CHECKPOINTS = metric(
    "pg_checkpoints_total",
    "counter",
    "Checkpoints by kind: timed (checkpoint_timeout) or requested (WAL volume, manual).",
    ("target", "kind"),
)
PG_BUFFERS_WRITTEN = metric(
    "pg_buffers_written_total",
    "counter",
    "Shared buffers written by the checkpointer, the background writer or backends (`by`).",
    ("target", "by"),
)
PG_WAL_ARCHIVED = metric(
    "pg_wal_archived_total", "counter", "WAL files archived by archive_command.", _T
)
PG_WAL_ARCHIVE_FAILURES = metric(
    "pg_wal_archive_failures_total", "counter", "Failed attempts to archive a WAL file.", _T
)

# --- PostgreSQL: replication seen from the primary --------------------------------------------
PG_REPLICATION_SLOT_ACTIVE = metric(
    "pg_replication_slot_active",
    "gauge",
    "1 while a consumer is attached to the replication slot.",
    ("target", "slot", "slot_type"),
)
PG_REPLICATION_SLOT_RETAINED_WAL = metric(
    "pg_replication_slot_retained_wal_bytes",
    "gauge",
    "WAL the server keeps on disk for the slot (current LSN - restart_lsn).",
    ("target", "slot", "slot_type"),
    "bytes",
)
PG_STANDBY_REPLAY_LAG = metric(
    "pg_standby_replay_lag_seconds",
    "gauge",
    "Replay lag of a streaming standby as the primary measures it (0 once it has replayed "
    "everything sent).",
    ("target", "application_name"),
    "seconds",
)
PG_STANDBY_REPLAY_LAG_BYTES = metric(
    "pg_standby_replay_lag_bytes",
    "gauge",
    "WAL the standby has not replayed yet (current LSN - replay_lsn).",
    ("target", "application_name"),
    "bytes",
)
PG_STANDBY_STREAMING = metric(
    "pg_standby_streaming",
    "gauge",
    "1 while the standby's WAL sender is in state streaming.",
    ("target", "application_name"),
)

# --- PostgreSQL: server ---------------------------------------------------------------------
PG_INFO = metric(
    "pg_info", "gauge", "Always 1; `version` carries the server version.", ("target", "version")
)
PG_SETTING_BYTES = metric(
    "pg_setting_bytes",
    "gauge",
    "Memory and WAL-size settings in bytes.",
    ("target", "setting"),
    "bytes",
)
PG_SETTING_SECONDS = metric(
    "pg_setting_seconds", "gauge", "Time settings in seconds.", ("target", "setting"), "seconds"
)
PG_SETTING = metric(
    "pg_setting", "gauge", "Count settings (slots, WAL senders...).", ("target", "setting")
)

# --- Redis ----------------------------------------------------------------------------------
_N = ("target", "node")  # `node` is host:port; set for cluster and sentinel targets
REDIS_COMMANDS_PROCESSED = metric(
    "redis_commands_processed_total", "counter", "Commands processed.", _N
)
REDIS_KEYSPACE_HITS = metric("redis_keyspace_hits_total", "counter", "Successful key lookups.", _N)
REDIS_KEYSPACE_MISSES = metric(
    "redis_keyspace_misses_total", "counter", "Lookups of missing keys.", _N
)
REDIS_EXPIRED_KEYS = metric(
    "redis_expired_keys_total", "counter", "Keys removed because they expired.", _N
)
REDIS_DB_KEYS = metric("redis_db_keys", "gauge", "Keys per database.", ("target", "node", "db"))
REDIS_DB_EXPIRING_KEYS = metric(
    "redis_db_expiring_keys", "gauge", "Keys with a TTL per database.", ("target", "node", "db")
)
REDIS_MEMORY_RSS = metric(
    "redis_memory_rss_bytes", "gauge", "Resident set size of Redis.", _N, "bytes"
)
REDIS_MEMORY_FRAGMENTATION = metric(
    "redis_memory_fragmentation_ratio", "gauge", "RSS / used memory (allocator fragmentation).", _N
)
REDIS_ROLE = metric(
    "redis_role", "gauge", "1 for the node's replication role.", ("target", "node", "role")
)
REDIS_CONNECTED_REPLICAS = metric(
    "redis_connected_replicas", "gauge", "Replicas attached to this node.", _N
)
REDIS_MASTER_LINK_UP = metric(
    "redis_master_link_up", "gauge", "On a replica: 1 while the link to its master is up.", _N
)
REDIS_REPLICATION_OFFSET_LAG = metric(
    "redis_replication_offset_lag_bytes",
    "gauge",
    "On a master: its replication offset minus the slowest connected replica's (0 without "
    "replicas).",
    _N,
    "bytes",
)
REDIS_SLOWLOG_LENGTH = metric("redis_slowlog_length", "gauge", "Entries in the slow log.", _N)
REDIS_UPTIME = metric(
    "redis_uptime_seconds", "gauge", "Seconds since the server started.", _N, "seconds"
)
REDIS_CPU = metric(
    "redis_cpu_seconds_total",
    "counter",
    "CPU time of the server by `mode` (user, sys, and their children's).",
    ("target", "node", "mode"),
    "seconds",
)
REDIS_COMMAND_LATENCY = metric(
    "redis_command_latency_seconds",
    "gauge",
    "Per-command latency percentiles since start or CONFIG RESETSTAT (INFO latencystats).",
    ("target", "node", "cmd", "quantile"),
    "seconds",
)
REDIS_INFO = metric(
    "redis_info",
    "gauge",
    "Always 1; `version` carries the server version.",
    ("target", "node", "version"),
)
REDIS_NODE_UP = metric(
    "redis_node_up",
    "gauge",
    "1 if the node of a cluster or sentinel target answered this cycle.",
    _N,
)

# --- Redis Cluster --------------------------------------------------------------------------
REDIS_CLUSTER_STATE_OK = metric(
    "redis_cluster_state_ok",
    "gauge",
    "1 when the cluster reports cluster_state:ok (per node's view).",
    _N,
)
REDIS_CLUSTER_SLOTS_ASSIGNED = metric(
    "redis_cluster_slots_assigned", "gauge", "Hash slots assigned to a master (of 16384).", _N
)
REDIS_CLUSTER_SLOTS_FAIL = metric(
    "redis_cluster_slots_fail",
    "gauge",
    "Hash slots whose master is failed (FAIL) per node's view.",
    _N,
)
REDIS_CLUSTER_KNOWN_NODES = metric(
    "redis_cluster_known_nodes", "gauge", "Nodes the node knows about.", _N
)
