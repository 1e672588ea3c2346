"""The Redis health collector, called directly against a real server."""

from __future__ import annotations

import asyncio

import pytest
import redis as redis_lib
import redis.asyncio as aioredis

from exporter.collectors import redis as redis_collectors
from exporter.collectors.redis import RedisCollector
from exporter.config import Config, RedisTarget
from tests.support.collector_checks import assert_cycle_fails_with_up_0
from tests.support.servers import free_port


def _values(samples) -> dict[str, float]:
    """The target-wide series (a standalone target has no `node` label); the families
    labelled by db, cmd, role or mode are checked in test_health_redis.py."""
    assert all(s.labels["target"] == "main" and "node" not in s.labels for s in samples)
    return {s.spec.name: s.value for s in samples if s.labels == {"target": "main"}}


def test_build_makes_one_collector_per_target():
    config = Config(
        redis=[
            RedisTarget(name="main", url="redis://127.0.0.1:1/0"),
            RedisTarget(name="cache", url="redis://127.0.0.1:2/0"),
        ],
        collection={"interval_seconds": 3, "timeout_seconds": 1.5},
    )
    assert [(c.name, c.target, c.timeout) for c in redis_collectors.build(config)] == [
        ("redis", "main", 1.5),
        ("redis", "cache", 1.5),
    ]


async def test_collect_reads_clients_memory_and_persistence(own_redis):
    # A server of its own: the test changes maxmemory and counts clients.
    url = own_redis.extra["url"]
    admin = redis_lib.Redis.from_url(url)
    admin.config_set("maxmemory", 64 * 1024 * 1024)
    admin.set("k", "v" * 1000)
    blocker = aioredis.Redis.from_url(url)
    blocked = asyncio.create_task(blocker.blpop(["never-filled"], timeout=10))
    collector = RedisCollector(RedisTarget(name="main", url=url), 5.0, 5.0)
    try:
        for _ in range(50):  # until the server has seen the BLPOP
            if admin.info("clients")["blocked_clients"] == 1:
                break
            await asyncio.sleep(0.02)
        values = _values(await collector.collect())
    finally:
        blocked.cancel()
        await blocker.aclose()
        await collector.close()
        admin.close()

    assert values["redis_up"] == 1
    assert values["redis_connected_clients"] >= 3  # admin, blocker, the collector
    assert values["redis_blocked_clients"] == 1
    assert values["redis_memory_max_bytes"] == 64 * 1024 * 1024
    assert values["redis_memory_used_bytes"] > 1000
    assert values["redis_rdb_changes_since_last_save"] >= 1  # the SET, never saved
    assert values["redis_aof_enabled"] == 0  # tests/support/servers.py runs --appendonly no
    assert values["redis_rdb_last_bgsave_ok"] == 1 and values["redis_aof_last_write_ok"] == 1
    assert values["redis_evicted_keys_total"] == 0
    assert values["redis_rejected_connections_total"] == 0
    assert 0 < values["redis_probe_duration_seconds"] < 5


async def test_a_down_server_fails_the_cycle_and_reports_redis_up_0():
    url = f"redis://127.0.0.1:{free_port()}/0"
    collector = RedisCollector(RedisTarget(name="main", url=url), 5.0, 2.0)
    with pytest.raises(redis_lib.ConnectionError):
        await collector.collect()
    await assert_cycle_fails_with_up_0(collector, "redis_up")
