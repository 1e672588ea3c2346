"""Work-queue collectors: one per Redis target and one per PostgreSQL target with queues.

`build(config)` groups every component class's queues by the target they live on, so all
of a Redis target's queues are read in one pipelined round trip per cycle.
"""

from __future__ import annotations

from exporter.collectors.queues.common import QueueRef
from exporter.collectors.queues.postgres_queues import PostgresQueuesCollector
from exporter.collectors.queues.redis_queues import RedisQueuesCollector
from exporter.config import Config
from exporter.runtime import Collector


def queues_by_target(config: Config, postgres: bool) -> dict[str, list[QueueRef]]:
    """Queue references per target name, of PostgreSQL queues or of Redis ones."""
    out: dict[str, list[QueueRef]] = {}
    for cls in config.component_classes:
        for queue in cls.queues:
            if (queue.kind == "postgres_query") == postgres:
                out.setdefault(queue.target, []).append(QueueRef(cls.name, queue))
    return out


def build(config: Config, interval: float, timeout: float) -> list[Collector]:
    collectors: list[Collector] = []
    redis_queues = queues_by_target(config, postgres=False)
    for target in config.redis:
        # A cluster's queues are read by the cluster collector, in each node's pipeline.
        if target.name in redis_queues and target.mode != "cluster":
            collectors.append(
                RedisQueuesCollector(target, redis_queues[target.name], interval, timeout)
            )
    pg_queues = queues_by_target(config, postgres=True)
    for target in config.postgres:
        if target.name in pg_queues:
            collectors.append(
                PostgresQueuesCollector(target, pg_queues[target.name], interval, timeout)
            )
    return collectors


__all__ = ["PostgresQueuesCollector", "QueueRef", "RedisQueuesCollector", "build"]
