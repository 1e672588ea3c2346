"""PostgreSQL health: one small asyncpg pool per target, ONE statement per cycle.

The statement returns the server row plus every enabled statistics view as a JSON column
(`postgres_views.batch_sql`), so a cycle is one round trip, bounded by the runtime's
timeout. When it fails with an error of one view (a privilege the role lacks, a view this
server version does not have), the views are read one by one once: the failing ones are
logged once and left out of the batch (their families disappear) and retried on their own
every `RETRY_DEGRADED_SECONDS`; the rest keep reporting. A failure of the server row itself,
a lost connection or a timeout fails the whole probe (`pg_up 0`, other values stale).

A probe that fails or is cancelled by the runtime's timeout terminates its connection
instead of handing a half-read socket back to the pool, so a hung server (SIGSTOP) costs
no leaked connections and the next cycle starts clean.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from typing import Any

import asyncpg

from exporter import catalog
from exporter.collectors.credentials import SecretTracker, is_auth_error
from exporter.collectors.postgres_views import (
    CONNECTION_STATES,
    SERVER_SQL,
    VIEWS,
    View,
    batch_sql,
    view_sql,
)
from exporter.collectors.target import TargetCollector, per_target
from exporter.config import Config, PostgresTarget
from exporter.runtime import Collector
from exporter.snapshot import Sample

__all__ = ["CONNECTION_STATES", "PostgresCollector", "build", "create_pool"]

log = logging.getLogger(__name__)

RETRY_DEGRADED_SECONDS = 300.0
# SQLSTATE classes that are one view's fault, not the server's: syntax/access rule (42:
# permission denied, undefined table/column/function), feature not supported (0A), object
# not in prerequisite state (55), data exception (22).
_VIEW_FAULTS = ("42", "0A", "55", "22")


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


class PoolOwner:
    """A PostgreSQL collector's pool, made on first use and again after its secret changed
    (rotation); subclasses say how in `_pool_options`."""

    config: PostgresTarget
    timeout: float
    secret: SecretTracker
    _pool: asyncpg.Pool | None = None

    def _pool_options(self) -> dict[str, Any]:
        raise NotImplementedError

    async def _get_pool(self) -> asyncpg.Pool:
        if self.secret.needs_reconnect():
            await self.close()
        if self._pool is None:
            self._pool = await create_pool(self.config, self.timeout, **self._pool_options())
        return self._pool

    @asynccontextmanager
    async def connection(self) -> AsyncIterator[asyncpg.Connection]:
        """A pooled connection for one cycle. An authentication failure makes the next cycle
        reconnect with the secret re-read (see exporter.collectors.credentials); a cycle that
        fails or is cancelled terminates the connection instead of handing a half-read
        socket back to the pool."""
        pool = await self._get_pool()
        try:
            conn = await pool.acquire(timeout=self.timeout)
        except BaseException as exc:
            if is_auth_error(exc):
                self.secret.forget()
            raise
        try:
            yield conn
        except BaseException:
            conn.terminate()  # never return a connection with a query in flight
            raise
        finally:
            await pool.release(conn)

    async def close(self) -> None:
        if self._pool is not None:
            self._pool.terminate()
            self._pool = None


def _view_fault(exc: BaseException) -> bool:
    sqlstate = getattr(exc, "sqlstate", None) or ""
    return isinstance(exc, asyncpg.PostgresError) and sqlstate[:2] in _VIEW_FAULTS


async def _keep_session(conn: asyncpg.Connection) -> None:
    """No reset query on release: the probe only SELECTs, so there is no session state to
    clear, and the default `RESET ALL; ...` would double the cycle's round trips."""


class PostgresCollector(PoolOwner, TargetCollector[PostgresTarget]):
    name = "postgres"
    # Injectable (tests): the retry schedule never depends on how long the machine has been up.
    clock: Callable[[], float] = staticmethod(time.monotonic)

    def _setup(self) -> None:
        self._pool: asyncpg.Pool | None = None
        self.secret = SecretTracker(self.config)
        self._views = [v for v in VIEWS if getattr(self.config.collect, v.name)]
        self._degraded: dict[str, float] = {}  # view name -> monotonic time of last try

    def _pool_options(self) -> dict[str, Any]:
        return {
            "max_size": self.config.pool_size,
            "command_timeout": self.timeout,
            "server_settings": {"application_name": "exporter"},
            "reset": _keep_session,
        }

    async def collect(self) -> Sequence[Sample]:
        started = time.perf_counter()
        async with self.connection() as conn:
            server, views = await self._read(conn)
        return self._samples(server, views, time.perf_counter() - started)

    async def _read(self, conn: asyncpg.Connection) -> tuple[Any, dict[str, list]]:
        """The server row and {view: rows} for every view that could be read."""
        v = conn.get_server_version()
        version = v.major * 10000 + (v.minor if v.major < 10 else 0)
        now = self.clock()
        retry = [n for n, at in self._degraded.items() if now - at >= RETRY_DEGRADED_SECONDS]
        batch = [v for v in self._views if v.name not in self._degraded]
        try:
            row = await conn.fetchrow(batch_sql(batch, version))
        except asyncpg.PostgresError as exc:
            if not _view_fault(exc):
                raise
            # Some view broke the batch: find which, one statement each (this cycle only).
            row = await conn.fetchrow(SERVER_SQL)
            views = await self._read_alone(conn, batch, version)
        else:
            views = {v.name: json.loads(row[v.name]) for v in batch}
        if retry:
            views |= await self._read_alone(
                conn, [v for v in self._views if v.name in retry], version
            )
        return row, views

    async def _read_alone(
        self, conn: asyncpg.Connection, views: list[View], version: int
    ) -> dict[str, list]:
        out = {}
        for view in views:
            try:
                text = await conn.fetchval(view_sql(view, version))
            except asyncpg.PostgresError as exc:
                if not _view_fault(exc):
                    raise
                if view.name not in self._degraded:
                    log.warning(
                        "postgres target %r: cannot read view group %r (%s: %s); its "
                        "metrics are left out, retried every %.0f s",
                        self.target, view.name, type(exc).__name__, exc,
                        RETRY_DEGRADED_SECONDS,
                    )  # fmt: skip
                self._degraded[view.name] = self.clock()
                continue
            if self._degraded.pop(view.name, None) is not None:
                log.info("postgres target %r: view group %r readable again", self.target, view.name)
            out[view.name] = json.loads(text)
        return out

    def _samples(self, server: Any, views: dict[str, list], duration: float) -> list[Sample]:
        t = self._labels
        out = [
            Sample(catalog.PG_UP, t, 1),
            Sample(catalog.PG_PROBE_DURATION, t, duration),
            Sample(catalog.PG_MAX_CONNECTIONS, t, server["max_connections"]),
            Sample(catalog.PG_LONGEST_TRANSACTION, t, max(0.0, server["longest_xact"])),
            Sample(catalog.PG_IN_RECOVERY, t, 1 if server["in_recovery"] else 0),
            Sample(catalog.PG_REPLICATION_LAG, t, max(0.0, server["replication_lag"])),
            Sample(catalog.PG_INFO, {**t, "version": server["version"].split()[0]}, 1),
        ]
        for view in self._views:
            if view.name in views:
                out += view.parse(views[view.name], t)
        return out

    def failure_samples(self) -> Sequence[Sample]:
        return [Sample(catalog.PG_UP, self._labels, 0)]


def build(config: Config) -> list[Collector]:
    """One health collector per PostgreSQL target whose `collect.health` is on."""
    targets = [target for target in config.postgres if target.collect.health]
    return per_target(config.collection.health, targets, PostgresCollector)
