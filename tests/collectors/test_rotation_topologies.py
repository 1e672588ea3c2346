"""Secret rotation on the Redis topologies that connect through other paths than a fixed
URL: a Sentinel target (the master's client comes from `Endpoint`) and a Cluster target
(one client per node). The exporter logs in as an ACL user so that replication, Sentinel
and the cluster bus are untouched by the change. Each cycle is run by hand: up with the
old password; the server changes it and cuts the sessions: that cycle fails; the file
changes: the very next cycle is up again and reads the queue. Before that, a password
rotated in the file while the server takes both must replace every session at once."""

from __future__ import annotations

import pytest
import redis as sync_redis
from redis.exceptions import RedisError

from exporter.collectors.queues import RedisQueuesCollector
from exporter.collectors.queues.common import QueueRef
from exporter.collectors.redis import RedisCollector
from exporter.collectors.redis_cluster import RedisClusterCollector
from exporter.config import RedisTarget
from exporter.runtime import Collector
from tests.support.health import queue, value
from tests.support.servers import wait_for
from tests.support.topologies import SENTINEL_MASTER, client, redis_cluster, redis_sentinel

KEY = "rot:jobs"


def _set_password(server, *passwords: str, cut: bool = True) -> None:
    admin = client(server)
    rules = [f">{p}" for p in passwords]
    admin.execute_command("ACL", "SETUSER", "exporter", "on", "resetpass", *rules, "~*", "+@all")
    if cut:  # a restart or failover cuts the sessions that logged in with the old password
        admin.execute_command("CLIENT", "KILL", "USER", "exporter")


def _sessions(servers) -> set[tuple[int, int]]:
    """(port, client id) of the exporter's sessions on `servers`."""
    return {
        (s.port, c["id"])
        for s in servers
        for c in client(s).client_list()
        if c.get("user") == "exporter"
    }


def _assert_up(collector: Collector, samples) -> None:
    if not isinstance(collector, RedisQueuesCollector):
        assert value(samples, "redis_up", target="main") == 1
    if getattr(collector, "queues", None):  # a queue reader: the queue is read
        assert value(samples, "queue_up", queue="jobs") == 1
        assert value(samples, "queue_depth", queue="jobs") == 3


async def _rotate(collectors: list[Collector], servers, secret_file) -> None:
    try:
        for c in collectors:
            _assert_up(c, await c.collect())
        # Rotated in the file while the server takes both: the next cycle reconnects.
        old = _sessions(servers)
        assert old
        for s in servers:
            _set_password(s, "old-pass", "new-pass", cut=False)
        secret_file.write_text("new-pass\n")
        for c in collectors:
            _assert_up(c, await c.collect())
        wait_for(lambda: not old & _sessions(servers), timeout=3, what="old sessions closed")
        # Changed on the server first: that cycle is refused, the next after the file is up.
        for s in servers:
            _set_password(s, "third-pass")
        for c in collectors:
            with pytest.raises((RedisError, OSError)):  # refused: *_up 0 this cycle
                await c.collect()
        secret_file.write_text("third-pass\n")
        for c in collectors:
            _assert_up(c, await c.collect())
    finally:
        for c in collectors:
            await c.close()


@pytest.fixture
def secret_file(tmp_path):
    path = tmp_path / "password"
    path.write_text("old-pass\n")
    return path


async def test_sentinel_target_password_rotation(secret_file):
    with redis_sentinel() as topo:
        master = topo["master"]
        _set_password(master, "old-pass")
        client(master).rpush(KEY, 1, 2, 3)
        target = RedisTarget(
            name="main",
            url="redis://exporter@127.0.0.1:1/0",  # host:port come from the sentinels
            mode="sentinel",
            sentinels=[f"127.0.0.1:{s.port}" for s in topo["sentinels"]],
            master_name=SENTINEL_MASTER,
            password_file=str(secret_file),
        )
        ref = QueueRef("workers", queue(name="jobs", kind="redis_list", key=KEY))
        collectors = [
            RedisCollector(target, 5.0, 5.0),
            RedisQueuesCollector(target, [ref], 5.0, 5.0),
        ]
        await _rotate(collectors, [master], secret_file)


async def test_cluster_target_password_rotation(secret_file):
    with redis_cluster(masters=3, replicas=0) as nodes:
        for node in nodes:  # ACL users are per node, not replicated across the cluster
            _set_password(node, "old-pass")
        sync_redis.RedisCluster(host="127.0.0.1", port=nodes[0].port).rpush(KEY, 1, 2, 3)
        target = RedisTarget(
            name="main",
            url=f"redis://exporter@127.0.0.1:{nodes[0].port}/0",
            mode="cluster",
            password_file=str(secret_file),
        )
        ref = QueueRef("workers", queue(name="jobs", kind="redis_list", key=KEY, target="main"))
        collector = RedisClusterCollector(target, [ref], interval=5.0, timeout=5.0)
        await _rotate([collector], nodes, secret_file)
