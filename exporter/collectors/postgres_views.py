"""The statistics views the PostgreSQL health collector reads, each as SQL + a parser.

Every view's rows come back as JSON (`json_agg`) so all of them fit in ONE statement per
cycle (see postgres.py). Values that asyncpg would decode to Python types (intervals, LSNs,
numerics) are turned into float8 seconds and bytes in SQL, so JSON carries plain numbers.
A view that needs a newer server or a privilege the role lacks fails alone: the collector
then reads it on its own and leaves that view's families out.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from exporter import catalog
from exporter.snapshot import Sample

Rows = list[dict[str, Any]]
Labels = dict[str, str]

# pg_stat_activity.state values; each is always emitted so a state at 0 stays a series.
CONNECTION_STATES = {
    "active": "active",
    "idle": "idle",
    "idle in transaction": "idle_in_transaction",
    "idle in transaction (aborted)": "idle_in_transaction_aborted",
    "fastpath function call": "fastpath_function_call",
    "disabled": "disabled",
}
LOCK_MODES = (
    "AccessShareLock", "RowShareLock", "RowExclusiveLock", "ShareUpdateExclusiveLock",
    "ShareLock", "ShareRowExclusiveLock", "ExclusiveLock", "AccessExclusiveLock",
)  # fmt: skip
TUPLE_OPS = ("returned", "fetched", "inserted", "updated", "deleted")

# The LSN this server has WAL up to: its own on a primary, the received one on a standby
# (pg_current_wal_lsn() raises during recovery).
_HEAD_LSN = (
    "CASE WHEN pg_is_in_recovery() THEN pg_last_wal_receive_lsn() ELSE pg_current_wal_lsn() END"
)

# Always read; when it fails the whole probe fails (pg_up 0).
SERVER_SQL = """
SELECT current_setting('max_connections')::int AS max_connections,
       current_setting('server_version') AS version,
       COALESCE((SELECT EXTRACT(EPOCH FROM max(clock_timestamp() - xact_start))
                 FROM pg_stat_activity
                 WHERE xact_start IS NOT NULL AND pid <> pg_backend_pid()
                   AND backend_type = 'client backend'), 0)::float8 AS longest_xact,
       pg_is_in_recovery() AS in_recovery,
       -- A standby that replayed all it received is not lagging, however old its last
       -- replayed transaction is (an idle primary sends nothing to replay).
       CASE WHEN NOT pg_is_in_recovery() THEN 0
            WHEN pg_last_wal_receive_lsn() IS NOT NULL
                 AND pg_last_wal_receive_lsn() <= pg_last_wal_replay_lsn() THEN 0
            ELSE COALESCE(EXTRACT(EPOCH FROM now() - pg_last_xact_replay_timestamp()), 0)
       END::float8 AS replication_lag
"""


@dataclass(frozen=True)
class View:
    """One statistics view: its config switch, its SQL and what its rows become."""

    name: str  # the PostgresCollect switch
    sql: Callable[[int], str]  # server_version_num -> SQL
    parse: Callable[[Rows, Labels], list[Sample]]


def _connections(rows: Rows, t: Labels) -> list[Sample]:
    by_state = dict.fromkeys(CONNECTION_STATES.values(), 0.0)
    for row in rows:
        state = CONNECTION_STATES.get(row["state"], "other")
        by_state[state] = by_state.get(state, 0.0) + row["n"]
    return [Sample(catalog.PG_CONNECTIONS, {**t, "state": s}, n) for s, n in by_state.items()]


_DB_COUNTERS = (
    (catalog.PG_DEADLOCKS, "deadlocks"),
    (catalog.PG_XACT_COMMITS, "xact_commit"),
    (catalog.PG_XACT_ROLLBACKS, "xact_rollback"),
    (catalog.PG_BLOCKS_HIT, "blks_hit"),
    (catalog.PG_BLOCKS_READ, "blks_read"),
    (catalog.PG_TEMP_FILES, "temp_files"),
    (catalog.PG_TEMP_BYTES, "temp_bytes"),
)


def _databases(rows: Rows, t: Labels) -> list[Sample]:
    out = []
    for row in rows:
        db = {**t, "datname": row["datname"]}
        out += [Sample(spec, db, row[col] or 0) for spec, col in _DB_COUNTERS]
        out += [
            Sample(catalog.PG_TUPLES, {**db, "op": op}, row[f"tup_{op}"] or 0) for op in TUPLE_OPS
        ]
        if row["size_bytes"] is not None:
            out.append(Sample(catalog.PG_DATABASE_SIZE, db, row["size_bytes"]))
    return out


def _locks(rows: Rows, t: Labels) -> list[Sample]:
    held = dict.fromkeys(LOCK_MODES, 0)
    waiting = 0
    for row in rows:
        held[row["mode"]] = row["held"]
        waiting = row["waiting"]
    out = [Sample(catalog.PG_LOCKS, {**t, "mode": m}, n) for m, n in held.items()]
    return [*out, Sample(catalog.PG_LOCKS_WAITING, t, waiting)]


def _checkpoints_sql(version: int) -> str:
    if version >= 170000:  # PostgreSQL 17 moved checkpoints out of pg_stat_bgwriter
        return """
SELECT c.num_timed AS timed, c.num_requested AS requested,
       c.buffers_written AS checkpoint, b.buffers_clean AS bgwriter, NULL::bigint AS backend
FROM pg_stat_checkpointer c, pg_stat_bgwriter b"""
    return """
SELECT checkpoints_timed AS timed, checkpoints_req AS requested,
       buffers_checkpoint AS checkpoint, buffers_clean AS bgwriter, buffers_backend AS backend
FROM pg_stat_bgwriter"""


def _checkpoints(rows: Rows, t: Labels) -> list[Sample]:
    row = rows[0]
    out = [Sample(catalog.PG_CHECKPOINTS, {**t, "kind": k}, row[k]) for k in ("timed", "requested")]
    for by in ("checkpoint", "bgwriter", "backend"):
        if row[by] is not None:
            out.append(Sample(catalog.PG_BUFFERS_WRITTEN, {**t, "by": by}, row[by]))
    return out


REPLICATION_SQL = f"""
SELECT application_name, state,
       pg_wal_lsn_diff({_HEAD_LSN}, replay_lsn)::float8 AS lag_bytes,
       COALESCE(EXTRACT(EPOCH FROM replay_lag), 0)::float8 AS lag_seconds
FROM pg_stat_replication WHERE application_name IS NOT NULL
"""


def _replication(rows: Rows, t: Labels) -> list[Sample]:
    out = []
    for row in rows:
        s = {**t, "application_name": row["application_name"]}
        out.append(Sample(catalog.PG_STANDBY_STREAMING, s, int(row["state"] == "streaming")))
        if row["lag_bytes"] is None:  # no pg_read_all_stats: LSNs hidden
            continue
        caught_up = row["lag_bytes"] <= 0
        out.append(Sample(catalog.PG_STANDBY_REPLAY_LAG_BYTES, s, max(0.0, row["lag_bytes"])))
        # replay_lag keeps its last measurement for a while after the standby caught up.
        out.append(
            Sample(catalog.PG_STANDBY_REPLAY_LAG, s, 0.0 if caught_up else row["lag_seconds"])
        )
    return out


SLOTS_SQL = f"""
SELECT slot_name, slot_type, active,
       pg_wal_lsn_diff({_HEAD_LSN}, restart_lsn)::float8 AS retained
FROM pg_replication_slots
"""


def _slots(rows: Rows, t: Labels) -> list[Sample]:
    out = []
    for row in rows:
        s = {**t, "slot": row["slot_name"], "slot_type": row["slot_type"]}
        out.append(Sample(catalog.PG_REPLICATION_SLOT_ACTIVE, s, 1 if row["active"] else 0))
        if row["retained"] is not None:  # NULL restart_lsn: the slot reserves nothing yet
            out.append(
                Sample(catalog.PG_REPLICATION_SLOT_RETAINED_WAL, s, max(0.0, row["retained"]))
            )
    return out


def _archiver(rows: Rows, t: Labels) -> list[Sample]:
    row = rows[0]
    return [
        Sample(catalog.PG_WAL_ARCHIVED, t, row["archived_count"]),
        Sample(catalog.PG_WAL_ARCHIVE_FAILURES, t, row["failed_count"]),
    ]


# Settings an SRE checks against what the signals above show, by the family they go to.
_SETTINGS = {
    "shared_buffers": "bytes", "work_mem": "bytes", "maintenance_work_mem": "bytes",
    "effective_cache_size": "bytes", "max_wal_size": "bytes", "min_wal_size": "bytes",
    "wal_keep_size": "bytes", "max_slot_wal_keep_size": "bytes",
    "checkpoint_timeout": "seconds", "statement_timeout": "seconds",
    "idle_in_transaction_session_timeout": "seconds",
    "max_wal_senders": "count", "max_replication_slots": "count",
    "autovacuum_max_workers": "count", "max_worker_processes": "count",
}  # fmt: skip
_UNIT_SCALE = {"B": 1, "kB": 1024, "8kB": 8192, "MB": 1024**2, "ms": 0.001, "s": 1, "min": 60}
_SETTING_SPECS = {
    "bytes": catalog.PG_SETTING_BYTES,
    "seconds": catalog.PG_SETTING_SECONDS,
    "count": catalog.PG_SETTING,
}
SETTINGS_SQL = "SELECT name, setting, unit FROM pg_settings WHERE name IN ({})".format(
    ", ".join(f"'{n}'" for n in _SETTINGS)
)


def _settings(rows: Rows, t: Labels) -> list[Sample]:
    out = []
    for row in rows:
        value = float(row["setting"])
        if value >= 0:  # -1 means "no limit": left out rather than shown as a size
            value *= _UNIT_SCALE.get(row["unit"] or "", 1)
        out.append(
            Sample(_SETTING_SPECS[_SETTINGS[row["name"]]], {**t, "setting": row["name"]}, value)
        )
    return out


def _const(sql: str) -> Callable[[int], str]:
    return lambda _version: sql


VIEWS: tuple[View, ...] = (
    View(
        "connections",
        _const("""
SELECT state, count(*) AS n FROM pg_stat_activity
WHERE backend_type = 'client backend' AND state IS NOT NULL GROUP BY state"""),
        _connections,
    ),
    View(
        "databases",
        _const("""
SELECT d.datname, s.deadlocks, s.xact_commit, s.xact_rollback, s.blks_hit, s.blks_read,
       s.tup_returned, s.tup_fetched, s.tup_inserted, s.tup_updated, s.tup_deleted,
       s.temp_files, s.temp_bytes,
       CASE WHEN d.datallowconn AND has_database_privilege(d.datname, 'CONNECT')
            THEN pg_database_size(d.datname) END AS size_bytes
FROM pg_database d JOIN pg_stat_database s ON s.datid = d.oid
WHERE NOT d.datistemplate"""),
        _databases,
    ),
    View(
        "locks",
        _const("""
SELECT mode, count(*) FILTER (WHERE granted) AS held,
       (SELECT count(DISTINCT pid) FROM pg_locks WHERE NOT granted) AS waiting
FROM pg_locks GROUP BY mode"""),
        _locks,
    ),
    View("checkpoints", _checkpoints_sql, _checkpoints),
    View("replication", _const(REPLICATION_SQL), _replication),
    View("slots", _const(SLOTS_SQL), _slots),
    View(
        "archiver", _const("SELECT archived_count, failed_count FROM pg_stat_archiver"), _archiver
    ),
    View("settings", _const(SETTINGS_SQL), _settings),
)


def view_sql(view: View, version: int) -> str:
    """One view's rows as one JSON array (text, so asyncpg needs no JSON codec)."""
    return f"SELECT COALESCE(json_agg(v), '[]')::text FROM ({view.sql(version)}) v"


def batch_sql(views: list[View], version: int) -> str:
    """ONE statement: the server row's columns, then each view's rows as a JSON column."""
    parts = "".join(f",\n({view_sql(v, version)}) AS {v.name}" for v in views)
    return f"SELECT s.*{parts}\nFROM ({SERVER_SQL}) s"
