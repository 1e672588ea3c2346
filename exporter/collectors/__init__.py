"""The collectors `exporter serve` runs: one module per source, one registry line each.

Every collector module exposes `build(config) -> list[Collector]` (what the config asks
of it, possibly nothing); `exporter.service` runs them in `REGISTRY` order, as
postgres_exporter's `registerCollector` does. Adding a collector is its module, its
catalog entries, one line here and its test. A collector of one configured target
subclasses `target.TargetCollector` (`queues.common.QueueTargetCollector` when it also
reads that target's queues) and its `build` is one `target.per_target` call.
"""

from __future__ import annotations

from collections.abc import Callable

from exporter.collectors import (
    apiservice,
    gpu_gate,
    hpa,
    postgres,
    queues,
    redis,
    redis_cluster,
)
from exporter.config import Config
from exporter.runtime import Collector

Factory = Callable[[Config], list[Collector]]

REGISTRY: list[Factory] = [
    postgres.build,
    redis.build,
    redis_cluster.build,
    queues.build,
    gpu_gate.build,  # imports the gpu module only when `gpu:` can use it
    hpa.build,
    apiservice.build,
]
