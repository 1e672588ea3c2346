"""Depth and age of the `postgres_query` queues of one PostgreSQL target.

Each queue's query returns one row: the depth and, optionally, the oldest job's time, e.g.

    SELECT count(*), min(created_at) FROM jobs WHERE state = 'queued'

The second column may be a timestamptz (or timestamp, read in the session time zone) or a
number of unix seconds. The query is prepared once to check its shape, then run wrapped
as `SELECT depth, now - oldest FROM (<query>) AS q(depth, oldest)`, so the age is computed
by the database's clock. Zero rows is an empty queue; NULLs count as 0.

Queries run on one connection with `default_transaction_read_only` (a config query can
never write) and a `statement_timeout` of half the collector timeout, so one slow query
is cancelled and reported on its queue while the others still run. Bad SQL, a query of
the wrong shape or a missing table is that queue's error, named after the queue and
logged once; a dead or hung server fails the whole collector (stale values, up 0).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import asyncpg

from exporter import catalog
from exporter.collectors.credentials import SecretTracker
from exporter.collectors.postgres import PoolOwner
from exporter.collectors.queues.common import (
    QueueError,
    QueueHealth,
    QueueRef,
    QueueTargetCollector,
    up,
)
from exporter.config import PostgresTarget
from exporter.snapshot import Sample

NUMERIC_TYPES = {"int2", "int4", "int8", "numeric", "float4", "float8", "oid"}
TIME_TYPES = {"timestamptz", "timestamp"}

EXAMPLE_QUERY = "SELECT count(*), min(created_at) FROM jobs WHERE state = 'queued'"


def strip_query(sql: str) -> str:
    """The query without surrounding blanks and trailing semicolons (it becomes a subquery)."""
    return sql.strip().rstrip(";").rstrip()


def wrap_query(sql: str, attributes: Sequence[asyncpg.Attribute]) -> tuple[str, bool]:
    """The query wrapped to return (depth float8, age seconds float8 or NULL), and whether
    it has an age column.

    Raises QueueError when the query's columns are not (number [, time or number]).
    """
    if not 1 <= len(attributes) <= 2:
        names = ", ".join(a.name for a in attributes) or "none"
        raise QueueError(
            f"the query must return 1 or 2 columns (depth [, oldest job time]), got {names}"
        )
    depth_type = attributes[0].type.name
    if depth_type not in NUMERIC_TYPES:
        raise QueueError(f"the first column (depth) must be a number, got {depth_type}")
    inner = strip_query(sql)
    if len(attributes) == 1:
        age = "NULL::float8"
        alias = "q(depth)"
    else:
        oldest_type = attributes[1].type.name
        if oldest_type in TIME_TYPES:
            age = "EXTRACT(EPOCH FROM clock_timestamp() - q.oldest)::float8"
        elif oldest_type in NUMERIC_TYPES:
            age = "EXTRACT(EPOCH FROM clock_timestamp())::float8 - q.oldest::float8"
        else:
            raise QueueError(
                "the second column (oldest job) must be a timestamp or unix seconds, "
                f"got {oldest_type}"
            )
        alias = "q(depth, oldest)"
    # The newline keeps a trailing `-- comment` in the user's query from eating the `)`.
    wrapped = f"SELECT q.depth::float8, {age} FROM (\n{inner}\n) AS {alias} LIMIT 2"
    return wrapped, len(attributes) == 2


class PostgresQueuesCollector(PoolOwner, QueueTargetCollector[PostgresTarget]):
    """Every postgres_query queue of one PostgreSQL target."""

    name = "postgres_queues"

    def _setup(self) -> None:
        self._pool: asyncpg.Pool | None = None
        self._wrapped: dict[int, tuple[str, bool]] = {}  # queue index -> (wrapped SQL, has age)
        self.secret = SecretTracker(self.config)
        self.health = QueueHealth(self.name, self.target)

    def _pool_options(self) -> dict[str, Any]:
        return dict(
            max_size=1,
            server_settings={
                "application_name": "exporter-queues",
                "default_transaction_read_only": "on",
                "statement_timeout": str(max(1, int(self.timeout * 500))),
            },
        )

    async def collect(self) -> Sequence[Sample]:
        out: list[Sample] = []
        async with self.connection() as conn:
            for index, ref in enumerate(self.queues):
                try:
                    out += await self._read(conn, index, ref)
                except QueueError as exc:
                    self._wrapped.pop(index, None)  # re-check the shape next cycle
                    self.health.failed(ref, str(exc))
                    out.append(up(ref, 0))
                    continue
                self.health.ok(ref)
                out.append(up(ref, 1))
            out += self.health.skew_samples(self.queues)
        return out

    async def _read(self, conn: asyncpg.Connection, index: int, ref: QueueRef) -> list[Sample]:
        sql = ref.queue.query or ""
        try:
            checked = self._wrapped.get(index)
            if checked is None:
                stmt = await conn.prepare(strip_query(sql))
                if stmt.get_parameters():
                    raise QueueError("the query must not take parameters ($1 ...)")
                checked = self._wrapped[index] = wrap_query(sql, stmt.get_attributes())
            wrapped, has_age = checked
            rows = await conn.fetch(wrapped)
        except asyncpg.PostgresError as exc:
            raise QueueError(f"query failed: {type(exc).__name__}: {exc}") from None
        if len(rows) > 1:
            raise QueueError("the query returned more than one row (expected depth [, oldest])")
        depth, age = (rows[0][0], rows[0][1]) if rows else (0.0, 0.0)
        labels = ref.labels
        out = [Sample(catalog.QUEUE_DEPTH, labels, depth or 0.0)]
        if has_age:
            try:  # the database computed now - oldest: negative means a job from the future
                age = self.health.age(ref, 0.0, -float(age or 0.0))
            except ValueError as exc:
                raise QueueError(f"cannot read the oldest job's age: {exc}") from None
            out.append(Sample(catalog.QUEUE_OLDEST_AGE, labels, age))
        return out
