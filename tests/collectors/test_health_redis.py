"""Redis health against real servers: a primary with a replica, and Sentinel failover."""

from __future__ import annotations

import redis as sync_redis

from exporter.collectors.queues import RedisQueuesCollector
from exporter.collectors.queues.common import QueueRef
from exporter.collectors.redis import RedisCollector
from exporter.config import RedisTarget
from exporter.config.health import RedisCollect
from tests.support.health import collect_once, label_values, queue, value, values
from tests.support.servers import wait_for
from tests.support.topologies import (
    SENTINEL_MASTER,
    client,
    redis_primary_replica,
    redis_sentinel,
    sentinel_failover,
    stop_redis,
)


def collector(server, **collect) -> RedisCollector:
    target = RedisTarget(name="main", url=server.extra["url"], collect=RedisCollect(**collect))
    return RedisCollector(target, interval=5.0, timeout=5.0)


async def test_primary_and_replica_signals_then_link_down():
    with redis_primary_replica() as (primary, replica):
        c = client(primary)
        c.set("a", 1)
        c.set("b", 2, ex=600)
        c.get("missing")
        c.get("a")
        wait_for(lambda: client(replica).dbsize() == 2, what="replication")
        p = await collect_once(collector(primary))
        assert value(p, "redis_up") == 1
        assert value(p, "redis_role", role="master") == 1
        assert value(p, "redis_role", role="slave") == 0
        assert value(p, "redis_connected_replicas") == 1
        assert value(p, "redis_replication_offset_lag_bytes") >= 0
        assert value(p, "redis_db_keys", db="0") == 2
        assert value(p, "redis_db_expiring_keys", db="0") == 1
        assert value(p, "redis_keyspace_hits_total") >= 1
        assert value(p, "redis_keyspace_misses_total") >= 1
        assert value(p, "redis_commands_processed_total") >= 4
        assert value(p, "redis_memory_rss_bytes") > 0
        assert value(p, "redis_memory_fragmentation_ratio") > 0
        assert value(p, "redis_slowlog_length") >= 0
        assert value(p, "redis_uptime_seconds") >= 0
        assert label_values(p, "redis_cpu_seconds_total", "mode") == {
            "user", "sys", "user_children", "sys_children",
        }  # fmt: skip
        assert value(p, "redis_command_latency_seconds", cmd="get", quantile="0.5") > 0
        assert {"0.5", "0.99", "0.999"} <= label_values(
            p, "redis_command_latency_seconds", "quantile"
        )
        [version] = label_values(p, "redis_info", "version")
        assert version == client(primary).info("server")["redis_version"]
        assert not values(p, "redis_master_link_up")  # a master has no master link

        r = await collect_once(collector(replica))
        assert value(r, "redis_role", role="slave") == 1
        assert value(r, "redis_master_link_up") == 1

        stop_redis(primary)
        wait_for(
            lambda: client(replica).info("replication")["master_link_status"] == "down",
            what="replica notices",
        )
        r = await collect_once(collector(replica))
        assert value(r, "redis_master_link_up") == 0
        assert value(r, "redis_up") == 1


async def test_switches_leave_sections_out(redis):
    s = await collect_once(collector(redis, slowlog=False, latencystats=False, keyspace=False))
    assert value(s, "redis_up") == 1
    assert not values(s, "redis_slowlog_length")
    assert not values(s, "redis_command_latency_seconds")
    assert not values(s, "redis_db_keys")
    assert values(s, "redis_commands_processed_total")


async def test_sentinel_target_follows_failover():
    with redis_sentinel() as topo:
        master, replica, sentinels = topo["master"], topo["replica"], topo["sentinels"]
        client(master).rpush("jobs", *range(5))
        wait_for(lambda: client(replica).llen("jobs") == 5, what="replication")
        target = RedisTarget(
            name="main",
            url="redis://127.0.0.1:1/0",  # host:port come from the sentinels
            mode="sentinel",
            sentinels=[f"127.0.0.1:{s.port}" for s in sentinels],
            master_name=SENTINEL_MASTER,
        )
        health = RedisCollector(target, 5.0, 5.0)
        ref = QueueRef("workers", queue(name="jobs", kind="redis_list", key="jobs"))
        queues = RedisQueuesCollector(target, [ref], 5.0, 5.0)
        try:
            h = await health.collect()
            q = await queues.collect()
            assert value(h, "redis_role", role="master", node=f"127.0.0.1:{master.port}") == 1
            assert value(q, "queue_depth") == 5

            sentinel_failover(sentinels[0], replica)
            client(replica).rpush("jobs", 6)  # writable: it is the master now
            h = await health.collect()
            q = await queues.collect()
            assert value(h, "redis_role", role="master", node=f"127.0.0.1:{replica.port}") == 1
            assert value(q, "queue_depth") == 6
        finally:
            await health.close()
            await queues.close()


async def test_sentinel_target_down_when_no_sentinel_answers():
    target = RedisTarget(
        name="main", url="redis://127.0.0.1:1/0", mode="sentinel",
        sentinels=["127.0.0.1:1"], master_name="queues",
    )  # fmt: skip
    c = RedisCollector(target, 5.0, 1.0)
    try:
        try:
            await c.collect()
        except (ConnectionError, sync_redis.RedisError) as exc:
            assert "no sentinel named the master" in str(exc)
        else:
            raise AssertionError("collect() succeeded without any sentinel")
    finally:
        await c.close()
