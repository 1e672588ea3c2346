"""The collectors `exporter serve` runs: one module per source, one registry line each.

Every collector module exposes `build(config) -> list[Collector]` (what the config asks
of it, possibly nothing); `exporter.service` runs them in `REGISTRY` order, as
postgres_exporter's `registerCollector` does. Adding a collector is its module, its
catalog entries, one line here and its test. A collector of one configured target
subclasses `target.TargetCollector` (`queues.common.QueueTargetCollector` when it also
reads that target's queues) and its `build` is one `target.per_target` call.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable

from exporter.collectors import apiservice, gpu_gate, hpa
from exporter.config import Config
from exporter.runtime import Collector

Factory = Callable[[Config], list[Collector]]


def _when(wanted: Callable[[Config], bool], module: str) -> Factory:
    """`exporter.collectors.<module>.build`, imported only for a config that `wanted`: a GPU
    agent (no PostgreSQL or Redis target) never loads asyncpg or redis-py (~10 MB resident)."""

    def build(config: Config) -> list[Collector]:
        if not wanted(config):
            return []
        return importlib.import_module(f"exporter.collectors.{module}").build(config)

    build.__qualname__ = f"{module}.build"
    return build


def _has_queues(config: Config) -> bool:
    return any(cls.queues for cls in config.component_classes)


REGISTRY: list[Factory] = [
    _when(lambda c: bool(c.postgres), "postgres"),
    _when(lambda c: bool(c.redis), "redis"),
    _when(lambda c: bool(c.redis), "redis_cluster"),
    _when(_has_queues, "queues"),
    gpu_gate.build,  # imports the gpu module only when `gpu:` can use it
    hpa.build,
    apiservice.build,
]
