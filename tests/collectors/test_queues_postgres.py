"""PostgreSQL queue collector against a real server: the jobs-table example and the faults."""

from __future__ import annotations

import logging
import time
import uuid

import asyncpg
import pytest

from exporter.collectors.queues import PostgresQueuesCollector, QueueRef
from exporter.collectors.queues.postgres_queues import EXAMPLE_QUERY
from exporter.config import PostgresQueryQueue, PostgresTarget
from exporter.runtime import Runtime
from exporter.snapshot import Snapshot


def _collector(dsn: str, *queries: tuple[str, str], timeout: float = 1.0):
    refs = [
        QueueRef(
            "cpu", PostgresQueryQueue(name=name, kind="postgres_query", target="main", query=sql)
        )
        for name, sql in queries
    ]
    return PostgresQueuesCollector(PostgresTarget(name="main", dsn=dsn), refs, 1.0, timeout)


def _values(samples) -> dict[tuple[str, str], float]:
    return {(s.spec.name, s.labels["queue"]): s.value for s in samples}


@pytest.fixture
async def jobs(pg):
    """A fresh `jobs` table (own schema per test) with 4 queued jobs, the oldest 120 s old."""
    schema = f"t_{uuid.uuid4().hex[:8]}"
    conn = await asyncpg.connect(pg.extra["dsn"])
    await conn.execute(f"""
        CREATE SCHEMA {schema};
        CREATE TABLE {schema}.jobs (
            id bigserial PRIMARY KEY,
            state text NOT NULL,
            created_at timestamptz NOT NULL DEFAULT now());
        INSERT INTO {schema}.jobs (state, created_at) VALUES
            ('queued', now() - interval '120 seconds'),
            ('queued', now() - interval '60 seconds'),
            ('queued', now()), ('queued', now()),
            ('running', now() - interval '1 hour'),
            ('done', now() - interval '1 day');
        CREATE FUNCTION {schema}.purge() RETURNS bigint LANGUAGE sql
            AS 'WITH d AS (DELETE FROM {schema}.jobs RETURNING 1) SELECT count(*) FROM d';
    """)
    await conn.close()
    yield schema


def _in(schema: str, sql: str) -> str:
    return sql.replace("FROM jobs", f"FROM {schema}.jobs")


async def test_jobs_table_example_gives_depth_and_age(pg, jobs):
    col = _collector(pg.extra["dsn"], ("jobs", _in(jobs, EXAMPLE_QUERY)))
    try:
        v = _values(await col.collect())
    finally:
        await col.close()
    assert v[("queue_depth", "jobs")] == 4  # the running and done jobs do not count
    assert 120 <= v[("queue_oldest_age_seconds", "jobs")] < 130
    assert v[("queue_up", "jobs")] == 1


async def test_query_shapes(pg, jobs):
    col = _collector(
        pg.extra["dsn"],
        ("depth-only", _in(jobs, "SELECT count(*) FROM jobs WHERE state = 'queued';")),
        ("epoch", _in(jobs, "SELECT count(*), extract(epoch FROM min(created_at)) FROM jobs")),
        ("naive", _in(jobs, "SELECT count(*), min(created_at)::timestamp FROM jobs -- note")),
        ("empty", _in(jobs, "SELECT count(*), min(created_at) FROM jobs WHERE state = 'x'")),
        ("no-rows", "SELECT 1, now() WHERE false"),
    )
    try:
        v = _values(await col.collect())
    finally:
        await col.close()
    assert v[("queue_depth", "depth-only")] == 4
    assert ("queue_oldest_age_seconds", "depth-only") not in v
    assert v[("queue_depth", "epoch")] == 6
    assert 86400 <= v[("queue_oldest_age_seconds", "epoch")] < 86500
    assert 86400 <= v[("queue_oldest_age_seconds", "naive")] < 86500
    assert v[("queue_depth", "empty")] == 0 and v[("queue_oldest_age_seconds", "empty")] == 0
    assert v[("queue_depth", "no-rows")] == 0 and v[("queue_oldest_age_seconds", "no-rows")] == 0
    assert all(v[("queue_up", q)] == 1 for q in ("depth-only", "epoch", "naive", "empty"))


async def test_bad_queries_fail_their_queue_only_with_its_name(pg, jobs, caplog):
    col = _collector(
        pg.extra["dsn"],
        ("good", _in(jobs, EXAMPLE_QUERY)),
        ("syntax", "SELEC count(*) FROM jobs"),
        ("no-table", "SELECT count(*) FROM no_such_jobs"),
        ("three-cols", "SELECT 1, 2, 3"),
        ("text-depth", "SELECT 'many'"),
        ("text-age", "SELECT 1, 'yesterday'::text"),
        ("two-rows", "SELECT * FROM (VALUES (1), (2)) v"),
        ("param", "SELECT $1::int"),
        ("writes", f"SELECT {jobs}.purge()"),
        (
            "writes-cte",
            _in(jobs, "WITH d AS (DELETE FROM jobs RETURNING 1) SELECT count(*) FROM d"),
        ),
    )
    try:
        with caplog.at_level(logging.WARNING):
            v = _values(await col.collect())
            again = _values(await col.collect())
    finally:
        await col.close()
    assert {k: x for k, x in again.items() if k[0] == "queue_up"} == {
        k: x for k, x in v.items() if k[0] == "queue_up"
    }
    assert v[("queue_up", "good")] == 1 and v[("queue_depth", "good")] == 4
    logs = [r.getMessage() for r in caplog.records]
    expected = {
        "syntax": 'syntax error at or near "SELEC"',
        "no-table": 'relation "no_such_jobs" does not exist',
        "three-cols": "must return 1 or 2 columns",
        "text-depth": "first column (depth) must be a number",
        "text-age": "second column (oldest job) must be a timestamp",
        "two-rows": "more than one row",
        "param": "must not take parameters",
        "writes": "in a read-only transaction",
        "writes-cte": "data-modifying statement",
    }
    for queue, reason in expected.items():
        assert v[("queue_up", queue)] == 0
        assert ("queue_depth", queue) not in v
        lines = [m for m in logs if f"queue {queue!r} of class 'cpu'" in m]
        assert len(lines) == 1, (queue, logs)  # logged once, not every cycle
        assert reason in lines[0], lines[0]
    # The writing query was refused, not run: every job is still there.
    conn = await asyncpg.connect(pg.extra["dsn"])
    assert await conn.fetchval(f"SELECT count(*) FROM {jobs}.jobs") == 6
    await conn.close()


async def test_slow_query_is_cancelled_and_the_others_still_report(pg, jobs):
    col = _collector(
        pg.extra["dsn"],
        ("slow", "SELECT count(*) FROM pg_sleep(30)"),
        ("good", _in(jobs, EXAMPLE_QUERY)),
        timeout=1.0,
    )
    try:
        v = _values(await col.collect())
    finally:
        await col.close()
    assert v[("queue_up", "slow")] == 0
    assert v[("queue_up", "good")] == 1 and v[("queue_depth", "good")] == 4


async def test_table_created_later_recovers(pg):
    table = f"late_{uuid.uuid4().hex[:8]}"
    col = _collector(pg.extra["dsn"], ("late", f"SELECT count(*) FROM {table}"))
    conn = await asyncpg.connect(pg.extra["dsn"])
    try:
        assert _values(await col.collect())[("queue_up", "late")] == 0
        await conn.execute(f"CREATE TABLE {table} (id int); INSERT INTO {table} VALUES (1), (2)")
        v = _values(await col.collect())
        assert v[("queue_up", "late")] == 1 and v[("queue_depth", "late")] == 2
    finally:
        await conn.close()
        await col.close()


async def test_postgres_down_or_hung_leaves_values_stale_and_collector_down(own_pg):
    col = _collector(own_pg.extra["dsn"], ("n", "SELECT 7"), timeout=0.5)
    snapshot = Snapshot()
    runtime = Runtime(snapshot, [col])
    labels = {"component_class": "cpu", "queue": "n"}
    up = {"collector": "postgres_queues", "target": "main"}
    try:
        assert await runtime.run_once(col)
        assert snapshot.value("queue_depth", labels) == 7
        own_pg.pause()
        started = time.monotonic()
        assert not await runtime.run_once(col)
        assert time.monotonic() - started < 3
        assert snapshot.value("exporter_collector_up", up) == 0
        assert snapshot.value("queue_up", labels) == 0
        assert snapshot.value("queue_depth", labels) == 7  # stale
        own_pg.resume()
        assert await runtime.run_once(col)
        assert snapshot.value("queue_up", labels) == 1
    finally:
        own_pg.resume()
        await runtime.stop()
