"""Work-queue collectors: one per Redis target and one per PostgreSQL target with queues.

`build(config)` groups every component class's queues by the target they live on, so all
of a Redis target's queues are read in one pipelined round trip per cycle.
"""

from __future__ import annotations

from exporter.collectors.queues.common import QueueRef
from exporter.collectors.queues.postgres_queues import PostgresQueuesCollector
from exporter.collectors.queues.redis_queues import RedisQueuesCollector
from exporter.collectors.target import per_target
from exporter.config import Config
from exporter.runtime import Collector


def queues_by_target(config: Config, target_kind: str) -> dict[str, list[QueueRef]]:
    """Queue references per target name, of the queues living on `target_kind` targets."""
    out: dict[str, list[QueueRef]] = {}
    for cls in config.component_classes:
        for queue in cls.queues:
            if queue.target_kind == target_kind:
                out.setdefault(queue.target, []).append(QueueRef(cls.name, queue))
    return out


def build(config: Config) -> list[Collector]:
    """One queue collector per target that holds queues, Redis targets first."""
    collectors: list[Collector] = []
    for kind, targets, collector in (
        ("redis", config.redis, RedisQueuesCollector),
        ("postgres", config.postgres, PostgresQueuesCollector),
    ):
        refs = queues_by_target(config, kind)
        holding = [
            target
            for target in targets
            # A cluster's queues are read by the cluster collector, in each node's pipeline.
            if target.name in refs and getattr(target, "mode", "") != "cluster"
        ]
        collectors += per_target(config.collection.queues, holding, collector, refs)
    return collectors


__all__ = ["PostgresQueuesCollector", "QueueRef", "RedisQueuesCollector", "build"]
