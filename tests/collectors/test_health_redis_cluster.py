"""A Redis Cluster target against a real 3-master cluster with one replica per master:
node health, cluster state and queue depths across a slot migration and a failover.

The tests share one cluster and run in file order; the failover test comes last.
"""

from __future__ import annotations

import asyncio
import time

import pytest

from exporter.collectors.queues.common import QueueRef
from exporter.collectors.redis_cluster import RedisClusterCollector
from exporter.config import RedisTarget
from tests.support.health import label_values, queue, value, values
from tests.support.servers import exporter_process, free_port, sample_value, scrape, wait_for
from tests.support.topologies import (
    client,
    cluster_info,
    cluster_masters,
    key_slot,
    migrate_slot,
    redis_cluster,
    slot_owner,
    stop_redis,
)


@pytest.fixture(scope="module")
def cluster():
    with redis_cluster(masters=3, replicas=1) as nodes:
        yield nodes


def keys_on_every_master(nodes, per_master: int = 2) -> dict[str, object]:
    """Queue keys, `per_master` on each master: key -> its master."""
    out: dict[str, object] = {}
    masters = cluster_masters(nodes)
    i = 0
    while any(sum(m is owner for owner in out.values()) < per_master for m in masters):
        key = f"jobs:{i}"
        owner = slot_owner(nodes, key_slot(nodes[0], key))
        if sum(owner is o for o in out.values()) < per_master:
            out[key] = owner
        i += 1
    return out


def make_collector(nodes, keys, timeout: float = 5.0) -> RedisClusterCollector:
    target = RedisTarget(
        name="jobs",
        url=f"redis://127.0.0.1:{nodes[0].port}/0",
        mode="cluster",
        seeds=[f"127.0.0.1:{n.port}" for n in nodes[1:3]],
    )
    refs = []
    for k in keys:  # a plain list (LLEN) and a scheduled set (a script) in the same slot
        z = f"{{{k}}}:scheduled"
        refs.append(QueueRef("workers", queue(name=k, kind="redis_list", key=k, target="jobs")))
        refs.append(QueueRef("workers", queue(name=z, kind="redis_zset", key=z, target="jobs")))
    return RedisClusterCollector(target, refs, interval=5.0, timeout=timeout)


def fill(nodes, keys) -> dict[str, int]:
    depths = {}
    for n, (key, owner) in enumerate(keys.items()):
        c = client(owner)
        zkey = f"{{{key}}}:scheduled"
        c.delete(key, zkey)
        c.rpush(key, *range(n + 1))
        now = time.time()
        c.zadd(zkey, {"due1": now - 10, "due2": now - 5, "later": now + 3600})
        c.execute_command("WAIT", 1, 2000)  # on the replica too, for the failover test
        depths[key] = n + 1
        depths[zkey] = 2
    return depths


async def test_every_node_and_queue_in_one_cycle(cluster):
    keys = keys_on_every_master(cluster)
    depths = fill(cluster, keys)
    c = make_collector(cluster, keys)
    try:
        s = await c.collect()
    finally:
        await c.close()
    assert value(s, "redis_up", target="jobs") == 1
    nodes = {f"127.0.0.1:{n.port}" for n in cluster}
    assert label_values(s, "redis_node_up", "node") == nodes
    assert set(values(s, "redis_node_up")) == {1}
    assert set(values(s, "redis_cluster_state_ok")) == {1}
    assert set(values(s, "redis_cluster_slots_assigned")) == {16384}
    assert set(values(s, "redis_cluster_slots_fail")) == {0}
    assert len(values(s, "redis_role", role="master")) == 6
    assert sum(values(s, "redis_role", role="master")) == 3
    assert sum(values(s, "redis_master_link_up")) == 3
    for key, depth in depths.items():
        assert value(s, "queue_depth", queue=key) == depth
        assert value(s, "queue_up", queue=key) == 1
    assert len(label_values(s, "redis_info", "node")) == 6


async def test_depths_right_after_a_slot_migration_and_during_one(cluster):
    keys = keys_on_every_master(cluster)
    depths = fill(cluster, keys)
    c = make_collector(cluster, keys)
    try:
        await c.collect()  # the collector now holds the old slot map
        key = next(iter(keys))
        slot = key_slot(cluster[0], key)
        source = slot_owner(cluster, slot)
        dest = next(m for m in cluster_masters(cluster) if m is not source)
        migrate_slot(cluster, slot, dest)
        s = await c.collect()  # routed to the old owner: MOVED, re-read at once
        assert value(s, "queue_depth", queue=key) == depths[key]
        assert value(s, "queue_up", queue=key) == 1
        assert slot_owner(cluster, slot) is dest

        # Half-way: slot MIGRATING on `dest`, IMPORTING on `source`, key already moved: ASK.
        src, dst = client(dest), client(source)
        src_id = src.execute_command("CLUSTER MYID").decode()
        dst_id = dst.execute_command("CLUSTER MYID").decode()
        dst.execute_command("CLUSTER SETSLOT", slot, "IMPORTING", src_id)
        src.execute_command("CLUSTER SETSLOT", slot, "MIGRATING", dst_id)
        moving = src.execute_command("CLUSTER GETKEYSINSLOT", slot, 100)
        src.execute_command("MIGRATE", "127.0.0.1", source.port, "", 0, 5000, "KEYS", *moving)
        s = await c.collect()
        assert value(s, "queue_depth", queue=key) == depths[key]
        assert value(s, "queue_up", queue=key) == 1
        for node in cluster_masters(cluster):
            client(node).execute_command("CLUSTER SETSLOT", slot, "NODE", dst_id)
        s = await c.collect()
        assert value(s, "queue_depth", queue=key) == depths[key]
        for k, depth in depths.items():
            assert value(s, "queue_depth", queue=k) == depth
        assert set(values(s, "redis_node_up")) == {1}
    finally:
        await c.close()


async def test_a_hung_node_costs_only_its_own_health(cluster):
    keys = keys_on_every_master(cluster, per_master=1)
    depths = fill(cluster, keys)
    c = make_collector(cluster, keys, timeout=1.0)
    masters = cluster_masters(cluster)
    replica = next(n for n in cluster if n not in masters)
    try:
        await c.collect()
        replica.pause()
        try:
            started = time.monotonic()
            async with asyncio.timeout(1.0):  # what the runtime allows
                s = await c.collect()
            assert time.monotonic() - started < 1.0
        finally:
            replica.resume()
    finally:
        await c.close()
    assert value(s, "redis_node_up", node=f"127.0.0.1:{replica.port}") == 0
    assert sum(values(s, "redis_node_up")) == len(cluster) - 1
    for key, depth in depths.items():
        assert value(s, "queue_depth", queue=key) == depth


def test_served_by_a_real_exporter_process(cluster):
    keys = keys_on_every_master(cluster, per_master=1)
    depths = fill(cluster, keys)
    port = free_port()
    queues = ", ".join(f"{{name: '{k}', kind: redis_list, key: '{k}', target: jobs}}" for k in keys)
    config = f"""
listen: {{http: "127.0.0.1:{port}", https: "127.0.0.1:{free_port()}"}}
collection: {{interval_seconds: 0.5, timeout_seconds: 0.5}}
gpu: "off"
redis:
  - {{name: jobs, url: "redis://127.0.0.1:{cluster[0].port}/0", mode: cluster}}
component_classes:
  - {{name: workers, workload: {{name: workers}}, queues: [{queues}]}}
"""
    with exporter_process(config):
        url = f"http://127.0.0.1:{port}/metrics"
        wait_for(lambda: sample_value(scrape(url), "queue_up") == 1, timeout=30, what="queues")
        text = scrape(url)
    for key in keys:  # the lists: this config names no scheduled sets
        assert sample_value(text, "queue_depth", queue=key) == depths[key]
    assert sample_value(text, "exporter_collector_up", collector="redis_cluster") == 1
    node = f"127.0.0.1:{cluster[1].port}"
    assert sample_value(text, "redis_cluster_state_ok", target="jobs", node=node) == 1


async def test_depths_right_after_a_failover(cluster):
    keys = keys_on_every_master(cluster)
    depths = fill(cluster, keys)
    c = make_collector(cluster, keys)
    try:
        await c.collect()
        key = next(iter(keys))
        slot = key_slot(cluster[0], key)
        old = slot_owner(cluster, slot)
        stop_redis(old)
        survivors = [n for n in cluster if n is not old and n.proc.poll() is None]
        wait_for(  # every node agrees, not one: a lagging master answers CLUSTERDOWN
            lambda: (
                all(cluster_info(n)["cluster_state"] == "ok" for n in survivors)
                and slot_owner(cluster, slot) is not old
            ),
            timeout=30,
            what="replica promoted",
        )
        s = await c.collect()
        for k, depth in depths.items():
            assert value(s, "queue_depth", queue=k) == depth, k
            assert value(s, "queue_up", queue=k) == 1
        assert value(s, "redis_node_up", node=f"127.0.0.1:{old.port}") == 0
        assert value(s, "redis_up", target="jobs") == 1
        assert sum(values(s, "redis_role", role="master")) == 3
    finally:
        await c.close()
