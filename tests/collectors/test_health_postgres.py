"""PostgreSQL health against a real primary with a streaming standby and replication slots."""

from __future__ import annotations

import logging
import time

import pytest

from exporter.collectors.postgres import RETRY_DEGRADED_SECONDS, PostgresCollector
from exporter.collectors.postgres_views import LOCK_MODES
from exporter.config import PostgresTarget
from exporter.config.health import PostgresCollect
from tests.support.health import collect_once, label_values, value, values
from tests.support.servers import wait_for
from tests.support.topologies import pg_primary_with_standby, psql


@pytest.fixture(scope="module")
def pg_pair():
    with pg_primary_with_standby() as pair:
        yield pair


def collector(server, **collect) -> PostgresCollector:
    target = PostgresTarget(
        name="main", dsn=server.extra["dsn"], collect=PostgresCollect(**collect)
    )
    return PostgresCollector(target, interval=5.0, timeout=5.0)


def caught_up(primary, standby) -> None:
    """Write on the primary and wait until the standby replayed it."""
    psql(primary, "CREATE TABLE IF NOT EXISTS t (x int); INSERT INTO t VALUES (1)")
    lsn = psql(primary, "SELECT pg_current_wal_lsn()")
    wait_for(
        lambda: psql(standby, f"SELECT pg_last_wal_replay_lsn() >= '{lsn}'") == "t",
        what="standby replay",
    )


async def test_primary_reports_every_family(pg_pair):
    primary, standby = pg_pair
    psql(primary, "SELECT 1")
    s = await collect_once(collector(primary))
    t = {"target": "main"}
    assert value(s, "pg_up", **t) == 1
    assert value(s, "pg_xact_commits_total", datname="postgres") > 0
    assert values(s, "pg_xact_rollbacks_total", datname="postgres")
    assert value(s, "pg_blocks_hit_total", datname="postgres") > 0
    assert values(s, "pg_blocks_read_total", datname="postgres")
    assert label_values(s, "pg_tuples_total", "op") == {
        "returned", "fetched", "inserted", "updated", "deleted",
    }  # fmt: skip
    assert values(s, "pg_temp_bytes_total", datname="postgres")
    assert values(s, "pg_temp_files_total", datname="postgres")
    assert label_values(s, "pg_locks", "mode") >= set(LOCK_MODES)
    assert value(s, "pg_locks", mode="AccessShareLock") >= 1  # our own statement's
    assert value(s, "pg_locks_waiting") == 0
    assert label_values(s, "pg_checkpoints_total", "kind") == {"timed", "requested"}
    assert label_values(s, "pg_buffers_written_total", "by") >= {"checkpoint", "bgwriter"}
    assert value(s, "pg_replication_slot_active", slot="standby1") == 1
    assert value(s, "pg_replication_slot_active", slot="abandoned") == 0
    assert value(s, "pg_standby_streaming", application_name="standby1") == 1
    assert values(s, "pg_standby_replay_lag_seconds", application_name="standby1")
    assert value(s, "pg_wal_archive_failures_total") == 0
    assert value(s, "pg_in_recovery") == 0
    assert value(s, "pg_replication_lag_seconds") == 0
    [version] = label_values(s, "pg_info", "version")
    assert version.startswith(psql(primary, "SHOW server_version").split()[0])
    assert value(s, "pg_setting_bytes", setting="shared_buffers") >= 128 * 1024
    assert value(s, "pg_setting_seconds", setting="checkpoint_timeout") == 300
    assert value(s, "pg_setting", setting="max_wal_senders") == 10
    assert values(s, "pg_setting_bytes", setting="max_slot_wal_keep_size") == [-1]


async def test_caught_up_standby_lag_is_zero_however_idle(pg_pair):
    primary, standby = pg_pair
    caught_up(primary, standby)
    time.sleep(2.0)  # the old now() - last replay timestamp figure would read >= 2 s here
    s = await collect_once(collector(standby))
    assert value(s, "pg_in_recovery") == 1
    assert value(s, "pg_replication_lag_seconds") == 0
    p = await collect_once(collector(primary))
    assert value(p, "pg_standby_replay_lag_bytes", application_name="standby1") == 0
    assert value(p, "pg_standby_replay_lag_seconds", application_name="standby1") == 0


async def test_paused_standby_lags(pg_pair):
    primary, standby = pg_pair
    caught_up(primary, standby)
    psql(standby, "SELECT pg_wal_replay_pause()")
    try:
        time.sleep(1.1)
        psql(primary, "INSERT INTO t SELECT generate_series(1, 1000)")
        lsn = psql(primary, "SELECT pg_current_wal_lsn()")
        wait_for(
            lambda: psql(standby, f"SELECT pg_last_wal_receive_lsn() >= '{lsn}'") == "t",
            what="standby receiving",
        )
        s = await collect_once(collector(standby))
        assert value(s, "pg_replication_lag_seconds") > 0
        p = await collect_once(collector(primary))
        assert value(p, "pg_standby_replay_lag_bytes", application_name="standby1") > 0
    finally:
        psql(standby, "SELECT pg_wal_replay_resume()")
    caught_up(primary, standby)
    s = await collect_once(collector(standby))
    assert value(s, "pg_replication_lag_seconds") == 0


async def test_inactive_slot_retains_growing_wal(pg_pair):
    primary, _ = pg_pair
    before = value(await collect_once(collector(primary)), "pg_replication_slot_retained_wal_bytes",
                   slot="abandoned")  # fmt: skip
    psql(primary, "CREATE TABLE IF NOT EXISTS big (x text)")
    psql(primary, "INSERT INTO big SELECT repeat('x', 1000) FROM generate_series(1, 5000)")
    psql(primary, "SELECT pg_switch_wal()")
    s = await collect_once(collector(primary))
    after = value(s, "pg_replication_slot_retained_wal_bytes", slot="abandoned")
    assert after > before + 4_000_000
    assert value(s, "pg_replication_slot_active", slot="abandoned") == 0
    # the standby's slot is consumed, so it retains far less
    assert value(s, "pg_replication_slot_retained_wal_bytes", slot="standby1") < after


async def test_switched_off_views_are_not_read(pg_pair):
    primary, _ = pg_pair
    s = await collect_once(collector(primary, locks=False, settings=False, slots=False))
    assert value(s, "pg_up") == 1
    assert not values(s, "pg_locks") and not values(s, "pg_setting_bytes")
    assert not values(s, "pg_replication_slot_active")
    assert values(s, "pg_xact_commits_total")


async def test_unreadable_view_degrades_alone_and_logs_once(own_pg, caplog):
    psql(own_pg, "CREATE ROLE limited LOGIN; REVOKE SELECT ON pg_catalog.pg_locks FROM PUBLIC")
    dsn = own_pg.extra["dsn"].replace("postgres@", "limited@")
    target = PostgresTarget(name="main", dsn=dsn)
    c = PostgresCollector(target, interval=5.0, timeout=5.0)
    # an injected clock starting at 0: the retry is due by the schedule, not by uptime
    now = [0.0]
    c.clock = lambda: now[0]
    with caplog.at_level(logging.INFO, logger="exporter.collectors.postgres"):
        try:
            first = await c.collect()
            now[0] += 1.0
            second = await c.collect()  # not yet due: still degraded, no second warning
            psql(own_pg, "GRANT SELECT ON pg_catalog.pg_locks TO PUBLIC")
            now[0] += RETRY_DEGRADED_SECONDS  # due for its retry now
            third = await c.collect()
        finally:
            await c.close()
    for s in (first, second):
        assert value(s, "pg_up") == 1
        assert not values(s, "pg_locks") and not values(s, "pg_locks_waiting")
        assert values(s, "pg_xact_commits_total") and values(s, "pg_checkpoints_total")
    assert values(third, "pg_locks", mode="AccessShareLock")
    warnings = [r for r in caplog.records if "'locks'" in r.getMessage()]
    assert [r.levelno for r in warnings] == [logging.WARNING, logging.INFO]
    assert "permission denied" in warnings[0].getMessage()
