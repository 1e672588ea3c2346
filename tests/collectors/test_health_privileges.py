"""The least-privilege setup the README documents is enough: its SQL and its Redis ACL line
are run as written, and every health family and queue kind is read without an error."""

from __future__ import annotations

import logging
import re
import time

import redis as sync_redis

from exporter.collectors.postgres import PostgresCollector
from exporter.collectors.queues import RedisQueuesCollector
from exporter.collectors.queues.common import QueueRef
from exporter.collectors.redis import RedisCollector
from exporter.config import PostgresTarget, RedisTarget
from tests.support.health import collect_once, queue, value, values
from tests.support.servers import REPO
from tests.support.topologies import pg_standby_of, psql

README = (REPO / "README.md").read_text()


def readme_line(prefix: str) -> str:
    match = re.search(rf"^{re.escape(prefix)}.*$", README, re.MULTILINE)
    assert match, f"README has no line starting {prefix!r}"
    return match.group(0)


async def test_pg_monitor_role_reads_every_family(own_pg, caplog):
    sql = readme_line("CREATE ROLE exporter").replace("'...'", "'s3cret'")
    psql(own_pg, sql)
    with pg_standby_of(own_pg):
        dsn = own_pg.extra["dsn"].replace("postgres@", "exporter:s3cret@")
        target = PostgresTarget(name="main", dsn=dsn)
        with caplog.at_level(logging.WARNING, logger="exporter.collectors.postgres"):
            s = await collect_once(PostgresCollector(target, 5.0, 5.0))
    assert not caplog.records, [r.getMessage() for r in caplog.records]
    assert value(s, "pg_up") == 1
    for name in ("pg_locks", "pg_checkpoints_total", "pg_wal_archive_failures_total",
                 "pg_setting_bytes", "pg_xact_commits_total", "pg_database_size_bytes"):  # fmt: skip
        assert values(s, name), name
    assert values(s, "pg_replication_slot_retained_wal_bytes", slot="standby1")
    # LSNs of pg_stat_replication are hidden without pg_read_all_stats: here they show.
    assert values(s, "pg_standby_replay_lag_bytes", application_name="standby1")


async def test_redis_acl_line_is_enough(own_redis):
    admin = sync_redis.Redis(port=own_redis.port)
    acl = readme_line("ACL SETUSER exporter").replace(">PASSWORD", ">s3cret")
    admin.execute_command(*acl.split())
    admin.rpush("jobs:list", f'{{"t": {time.time()}}}')
    admin.zadd("jobs:zset", {"a": time.time() - 5})
    admin.xadd("jobs:stream", {"a": 1})
    admin.xgroup_create("jobs:stream", "g", id="0")
    url = f"redis://exporter:s3cret@127.0.0.1:{own_redis.port}/0"
    target = RedisTarget(name="main", url=url)
    s = await collect_once(RedisCollector(target, 5.0, 5.0))
    assert value(s, "redis_up") == 1
    assert values(s, "redis_slowlog_length") and values(s, "redis_command_latency_seconds")
    refs = [
        QueueRef("c", queue(name="l", kind="redis_list", key="jobs:list", age_field="t")),
        QueueRef("c", queue(name="z", kind="redis_zset", key="jobs:zset")),
        QueueRef("c", queue(name="s", kind="redis_stream", key="jobs:stream", group="g")),
    ]
    q = await collect_once(RedisQueuesCollector(target, refs, 5.0, 5.0))
    assert values(q, "queue_up") == [1, 1, 1]
    assert value(q, "queue_depth", queue="l") == 1
    assert value(q, "queue_depth", queue="z") == 1
    assert value(q, "queue_depth", queue="s") == 1
    # and nothing beyond reads: the user cannot write or read other keys
    user = sync_redis.Redis(port=own_redis.port, username="exporter", password="s3cret")
    for cmd in (("SET", "jobs:list", "x"), ("GET", "other"), ("FLUSHALL",)):
        try:
            user.execute_command(*cmd)
        except sync_redis.exceptions.NoPermissionError:
            continue
        raise AssertionError(f"{cmd} allowed")
