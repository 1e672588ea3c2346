"""Redis health from one INFO round trip per target (redis-py's asyncio client)."""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from typing import Any

import redis.asyncio as aioredis

from exporter import catalog
from exporter.collectors.credentials import SecretTracker, is_auth_error
from exporter.config import Config, RedisTarget
from exporter.runtime import Collector
from exporter.snapshot import Sample


def connect(target: RedisTarget, timeout: float, reply_timeout: bool = True) -> aioredis.Redis:
    """A client with hard socket timeouts and a bounded pool, shared by Redis collectors.

    `reply_timeout=False` drops the per-reply read timer for callers whose whole call is
    already bounded by the runtime's timeout (a big pipeline pays it once per reply).
    """
    password = target.password()
    return aioredis.Redis.from_url(
        target.url,
        password=password.get_secret_value() if password else None,
        socket_timeout=timeout if reply_timeout else None,
        socket_connect_timeout=timeout,
        max_connections=4,  # a hung server must not make us open more and more sockets
        health_check_interval=0,
        retry_on_timeout=False,
        client_name="exporter",
    )


class RedisCollector(Collector):
    name = "redis"

    def __init__(self, target: RedisTarget, interval: float, timeout: float) -> None:
        super().__init__(interval, timeout)
        self.config = target
        self.target = target.name
        self._labels = {"target": target.name}
        self._client: aioredis.Redis | None = None
        self.secret = SecretTracker(target)

    async def collect(self) -> Sequence[Sample]:
        if self.secret.needs_reconnect():
            await self.close()
        if self._client is None:
            self._client = connect(self.config, self.timeout)
        started = time.perf_counter()
        try:
            info = await self._client.info("all")
        except BaseException as exc:
            # Drop sockets that may hold a half-read reply; the next cycle reconnects.
            await self._client.connection_pool.disconnect(inuse_connections=True)
            if is_auth_error(exc):
                self.secret.forget()
            raise
        return self._samples(info, time.perf_counter() - started)

    def _samples(self, info: Mapping[str, Any], duration: float) -> list[Sample]:
        labels = self._labels

        def num(key: str) -> float:
            return float(info.get(key, 0) or 0)

        return [
            Sample(catalog.REDIS_UP, labels, 1),
            Sample(catalog.REDIS_PROBE_DURATION, labels, duration),
            Sample(catalog.REDIS_CONNECTED_CLIENTS, labels, num("connected_clients")),
            Sample(catalog.REDIS_BLOCKED_CLIENTS, labels, num("blocked_clients")),
            Sample(catalog.REDIS_MEMORY_USED, labels, num("used_memory")),
            Sample(catalog.REDIS_MEMORY_MAX, labels, num("maxmemory")),
            Sample(catalog.REDIS_EVICTED_KEYS, labels, num("evicted_keys")),
            Sample(catalog.REDIS_REJECTED_CONNECTIONS, labels, num("rejected_connections")),
            Sample(
                catalog.REDIS_RDB_LAST_SAVE_OK,
                labels,
                1 if info.get("rdb_last_bgsave_status") == "ok" else 0,
            ),
            Sample(
                catalog.REDIS_RDB_CHANGES_SINCE_SAVE, labels, num("rdb_changes_since_last_save")
            ),
            Sample(catalog.REDIS_AOF_ENABLED, labels, num("aof_enabled")),
            Sample(
                catalog.REDIS_AOF_LAST_WRITE_OK,
                labels,
                1 if info.get("aof_last_write_status", "ok") == "ok" else 0,
            ),
        ]

    def failure_samples(self) -> Sequence[Sample]:
        return [Sample(catalog.REDIS_UP, self._labels, 0)]

    async def close(self) -> None:
        if self._client is not None:
            await self._client.aclose()
            self._client = None


def build(config: Config) -> list[Collector]:
    """One health collector per Redis target."""
    interval, timeout = config.collection.interval_seconds, config.collection.timeout_seconds
    return [RedisCollector(target, interval, timeout) for target in config.redis]
