"""Redis health from one pipelined round trip per cycle: INFO (the sections the target's
`collect` switches ask for, latencystats included) and SLOWLOG LEN.

Standalone and sentinel targets are served here (a sentinel target reads the master the
sentinels name at that cycle, see redis_endpoint.py); cluster targets by redis_cluster.py.
A dead or hung server raises: `redis_up 0`, the other values stay stale.
"""

from __future__ import annotations

import time
from collections.abc import Sequence

from exporter import catalog
from exporter.collectors import redis_info
from exporter.collectors.redis_endpoint import Endpoint, connect
from exporter.collectors.target import TargetCollector, per_target
from exporter.config import Config, RedisTarget
from exporter.runtime import Collector
from exporter.snapshot import Sample

__all__ = ["RedisCollector", "connect"]


class RedisCollector(TargetCollector[RedisTarget]):
    name = "redis"

    def _setup(self) -> None:
        self._endpoint = Endpoint(self.config, self.timeout)

    async def collect(self) -> Sequence[Sample]:
        started = time.perf_counter()
        client = await self._endpoint.client()
        try:
            pipe = client.pipeline(transaction=False)
            redis_info.add_commands(pipe, self.config.collect)
            replies = await pipe.execute(raise_on_error=False)
            if isinstance(replies[0], Exception):
                raise replies[0]
        except BaseException as exc:
            # Drop sockets that may hold a half-read reply; the next cycle reconnects (with
            # the password re-read when the server refused it).
            await self._endpoint.drop(exc)
            raise
        node = self._endpoint.node  # "" on a standalone target: no node label then
        labels = {**self._labels, "node": node} if node else self._labels
        out = redis_info.samples(replies, self.config.collect, labels)
        return [
            Sample(catalog.REDIS_UP, self._labels, 1),
            Sample(catalog.REDIS_PROBE_DURATION, labels, time.perf_counter() - started),
            *out,
        ]

    def failure_samples(self) -> Sequence[Sample]:
        return [Sample(catalog.REDIS_UP, self._labels, 0)]

    async def close(self) -> None:
        await self._endpoint.close()


def build(config: Config) -> list[Collector]:
    """One health collector per standalone or sentinel Redis target whose `collect.health`
    is on (cluster targets: redis_cluster.build)."""
    targets = [t for t in config.redis if t.collect.health and t.mode != "cluster"]
    return per_target(config.collection.health, targets, RedisCollector)
