"""PostgreSQL health: one small asyncpg pool per target.

A probe that fails or is cancelled by the runtime's timeout terminates its connection
instead of handing a half-read socket back to the pool, so a hung server (SIGSTOP) costs
no leaked connections and the next cycle starts clean.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

import asyncpg

from exporter import catalog
from exporter.collectors.credentials import SecretTracker, is_auth_error
from exporter.config import Config, PostgresTarget
from exporter.runtime import Collector
from exporter.snapshot import Sample

# pg_stat_activity.state values; each is always emitted so a state at 0 stays a series.
CONNECTION_STATES = {
    "active": "active",
    "idle": "idle",
    "idle in transaction": "idle_in_transaction",
    "idle in transaction (aborted)": "idle_in_transaction_aborted",
    "fastpath function call": "fastpath_function_call",
    "disabled": "disabled",
}

CONNECTIONS_SQL = """
SELECT state, count(*) AS n FROM pg_stat_activity
WHERE backend_type = 'client backend' AND state IS NOT NULL GROUP BY state
"""
SERVER_SQL = """
SELECT current_setting('max_connections')::int AS max_connections,
       COALESCE((SELECT EXTRACT(EPOCH FROM max(clock_timestamp() - xact_start))
                 FROM pg_stat_activity
                 WHERE xact_start IS NOT NULL AND pid <> pg_backend_pid()
                   AND backend_type = 'client backend'), 0)::float8 AS longest_xact,
       pg_is_in_recovery() AS in_recovery,
       CASE WHEN pg_is_in_recovery()
            THEN COALESCE(EXTRACT(EPOCH FROM now() - pg_last_xact_replay_timestamp()), 0)
            ELSE 0 END::float8 AS replication_lag
"""
DATABASES_SQL = """
SELECT d.datname, s.deadlocks,
       CASE WHEN d.datallowconn AND has_database_privilege(d.datname, 'CONNECT')
            THEN pg_database_size(d.datname) END AS size_bytes
FROM pg_database d JOIN pg_stat_database s ON s.datid = d.oid
WHERE NOT d.datistemplate
"""


async def create_pool(
    target: PostgresTarget, timeout: float, max_size: int, **kwargs: Any
) -> asyncpg.Pool:
    """A small lazily-connecting pool for one target, shared by PostgreSQL collectors."""
    password = target.password()
    return await asyncpg.create_pool(
        target.dsn,
        password=password.get_secret_value() if password else None,
        min_size=0,  # connect lazily: an absent server must not stop start-up
        max_size=max_size,
        timeout=timeout,
        max_inactive_connection_lifetime=60.0,
        **kwargs,
    )


async def acquire(pool: asyncpg.Pool, timeout: float, secret: SecretTracker) -> Any:
    """A pooled connection; an authentication failure makes the next cycle reconnect with
    the secret re-read (see exporter.collectors.credentials)."""
    try:
        return await pool.acquire(timeout=timeout)
    except BaseException as exc:
        if is_auth_error(exc):
            secret.forget()
        raise


class PostgresCollector(Collector):
    name = "postgres"

    def __init__(self, target: PostgresTarget, interval: float, timeout: float) -> None:
        super().__init__(interval, timeout)
        self.config = target
        self.target = target.name
        self._pool: asyncpg.Pool | None = None
        self._labels = {"target": target.name}
        self.secret = SecretTracker(target)

    async def _get_pool(self) -> asyncpg.Pool:
        if self.secret.needs_reconnect():
            await self.close()
        if self._pool is None:
            self._pool = await create_pool(
                self.config,
                self.timeout,
                max_size=self.config.pool_size,
                command_timeout=self.timeout,
                server_settings={"application_name": "exporter"},
            )
        return self._pool

    async def collect(self) -> Sequence[Sample]:
        started = time.perf_counter()
        pool = await self._get_pool()
        conn = await acquire(pool, self.timeout, self.secret)
        try:
            connections = await conn.fetch(CONNECTIONS_SQL)
            server = await conn.fetchrow(SERVER_SQL)
            databases = await conn.fetch(DATABASES_SQL)
        except BaseException:
            conn.terminate()  # never return a connection with a query in flight
            raise
        finally:
            await pool.release(conn)
        duration = time.perf_counter() - started
        return self._samples(connections, server, databases, duration)

    def _samples(self, connections, server, databases, duration: float) -> list[Sample]:
        labels = self._labels
        by_state = dict.fromkeys(CONNECTION_STATES.values(), 0.0)
        for row in connections:
            state = CONNECTION_STATES.get(row["state"], "other")
            by_state[state] = by_state.get(state, 0.0) + row["n"]
        out = [
            Sample(catalog.PG_UP, labels, 1),
            Sample(catalog.PG_PROBE_DURATION, labels, duration),
            Sample(catalog.PG_MAX_CONNECTIONS, labels, server["max_connections"]),
            Sample(catalog.PG_LONGEST_TRANSACTION, labels, max(0.0, server["longest_xact"])),
            Sample(catalog.PG_IN_RECOVERY, labels, 1 if server["in_recovery"] else 0),
            Sample(catalog.PG_REPLICATION_LAG, labels, max(0.0, server["replication_lag"])),
        ]
        out += [
            Sample(catalog.PG_CONNECTIONS, {**labels, "state": s}, n) for s, n in by_state.items()
        ]
        for row in databases:
            db = {**labels, "datname": row["datname"]}
            out.append(Sample(catalog.PG_DEADLOCKS, db, row["deadlocks"] or 0))
            if row["size_bytes"] is not None:
                out.append(Sample(catalog.PG_DATABASE_SIZE, db, row["size_bytes"]))
        return out

    def failure_samples(self) -> Sequence[Sample]:
        return [Sample(catalog.PG_UP, self._labels, 0)]

    async def close(self) -> None:
        if self._pool is not None:
            self._pool.terminate()
            self._pool = None


def build(config: Config) -> list[Collector]:
    """One health collector per PostgreSQL target."""
    interval, timeout = config.collection.interval_seconds, config.collection.timeout_seconds
    return [PostgresCollector(target, interval, timeout) for target in config.postgres]
