"""The PostgreSQL health collector, called directly against a real server."""

from __future__ import annotations

import asyncio

import asyncpg
import pytest

from exporter.collectors import postgres
from exporter.collectors.postgres import CONNECTION_STATES, PostgresCollector
from exporter.config import Config, PostgresTarget
from tests.support.collector_checks import assert_cycle_fails_with_up_0
from tests.support.servers import free_port


def _by_name(samples) -> dict[str, dict[tuple, float]]:
    out: dict[str, dict[tuple, float]] = {}
    for s in samples:
        out.setdefault(s.spec.name, {})[tuple(sorted(s.labels.items()))] = s.value
    return out


def _one(values: dict[str, dict[tuple, float]], name: str, **labels: str) -> float:
    return values[name][tuple(sorted({"target": "main", **labels}.items()))]


def test_build_makes_one_collector_per_target():
    config = Config(
        postgres=[
            PostgresTarget(name="main", dsn="postgresql://u@127.0.0.1:1/db"),
            PostgresTarget(name="replica", dsn="postgresql://u@127.0.0.1:2/db"),
        ],
        collection={"interval_seconds": 3, "timeout_seconds": 1.5},
    )
    collectors = postgres.build(config)
    assert [(c.name, c.target, c.interval, c.timeout) for c in collectors] == [
        ("postgres", "main", 3, 1.5),
        ("postgres", "replica", 3, 1.5),
    ]


async def test_collect_reads_connections_limits_and_databases(pg):
    collector = PostgresCollector(PostgresTarget(name="main", dsn=pg.extra["dsn"]), 5.0, 5.0)
    idle = await asyncpg.connect(pg.extra["dsn"])
    in_xact = await asyncpg.connect(pg.extra["dsn"])
    await in_xact.execute("BEGIN; SELECT 1")
    await asyncio.sleep(0.3)
    try:
        values = _by_name(await collector.collect())
    finally:
        await in_xact.execute("ROLLBACK")
        await in_xact.close()
        await idle.close()
        await collector.close()

    assert _one(values, "pg_up") == 1
    assert _one(values, "pg_max_connections") == 40  # tests/support/servers.py starts it so
    assert _one(values, "pg_in_recovery") == 0
    assert _one(values, "pg_replication_lag_seconds") == 0
    assert _one(values, "pg_longest_transaction_seconds") >= 0.25
    states = {dict(k)["state"]: v for k, v in values["pg_connections"].items()}
    assert set(CONNECTION_STATES.values()) <= set(states)  # every state is a series, even at 0
    assert states["idle"] >= 1 and states["idle_in_transaction"] >= 1
    assert states["active"] >= 1  # the probe's own query
    assert _one(values, "pg_database_size_bytes", datname="postgres") > 1_000_000
    assert _one(values, "pg_deadlocks_total", datname="postgres") == 0
    assert 0 < _one(values, "pg_probe_duration_seconds") < 5


async def test_a_down_server_fails_the_cycle_and_reports_pg_up_0():
    dsn = f"postgresql://postgres@127.0.0.1:{free_port()}/postgres"
    collector = PostgresCollector(PostgresTarget(name="main", dsn=dsn), 5.0, 2.0)
    with pytest.raises(OSError):
        await collector.collect()
    await assert_cycle_fails_with_up_0(collector, "pg_up")
