"""What one Redis node's INFO (and SLOWLOG LEN) reply becomes, for every Redis collector.

`add_commands` puts the node's health commands into a pipeline the caller sends (with the
queue reads of that node when there are some), `samples` turns their replies into series.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from redis.asyncio.client import Pipeline

from exporter import catalog
from exporter.config.health import RedisCollect
from exporter.snapshot import Sample

_SECTIONS = ("server", "clients", "memory", "persistence", "stats", "replication", "cpu")
_ROLES = ("master", "slave")
_CPU = {"used_cpu_user": "user", "used_cpu_sys": "sys",
        "used_cpu_user_children": "user_children", "used_cpu_sys_children": "sys_children"}  # fmt: skip
_COUNTERS = (
    (catalog.REDIS_EVICTED_KEYS, "evicted_keys"),
    (catalog.REDIS_REJECTED_CONNECTIONS, "rejected_connections"),
    (catalog.REDIS_COMMANDS_PROCESSED, "total_commands_processed"),
    (catalog.REDIS_KEYSPACE_HITS, "keyspace_hits"),
    (catalog.REDIS_KEYSPACE_MISSES, "keyspace_misses"),
    (catalog.REDIS_EXPIRED_KEYS, "expired_keys"),
)
_GAUGES = (
    (catalog.REDIS_CONNECTED_CLIENTS, "connected_clients"),
    (catalog.REDIS_BLOCKED_CLIENTS, "blocked_clients"),
    (catalog.REDIS_MEMORY_USED, "used_memory"),
    (catalog.REDIS_MEMORY_MAX, "maxmemory"),
    (catalog.REDIS_MEMORY_RSS, "used_memory_rss"),
    (catalog.REDIS_MEMORY_FRAGMENTATION, "mem_fragmentation_ratio"),
    (catalog.REDIS_RDB_CHANGES_SINCE_SAVE, "rdb_changes_since_last_save"),
    (catalog.REDIS_AOF_ENABLED, "aof_enabled"),
    (catalog.REDIS_UPTIME, "uptime_in_seconds"),
    (catalog.REDIS_CONNECTED_REPLICAS, "connected_slaves"),
)
_LATENCY_PREFIX = "latency_percentiles_usec_"


def sections(collect: RedisCollect) -> tuple[str, ...]:
    """The INFO sections to ask for (several in one INFO: Redis >= 7)."""
    extra = ("keyspace",) * collect.keyspace + ("latencystats",) * collect.latencystats
    return _SECTIONS + extra


def add_commands(pipe: Pipeline, collect: RedisCollect) -> int:
    """Queue the health commands on `pipe`; returns how many replies they produce."""
    pipe.info(*sections(collect))
    if collect.slowlog:
        pipe.slowlog_len()
    return 1 + collect.slowlog


def samples(replies: list[Any], collect: RedisCollect, labels: Mapping[str, str]) -> list[Sample]:
    """Series of one node from the replies `add_commands` asked for (INFO must be a dict;
    a refused SLOWLOG LEN, e.g. by an ACL, only leaves redis_slowlog_length out)."""
    info: Mapping[str, Any] = replies[0]
    t = dict(labels)

    def num(key: str) -> float:
        return float(info.get(key, 0) or 0)

    out = [Sample(spec, t, num(key)) for spec, key in _COUNTERS + _GAUGES]
    out += [
        Sample(catalog.REDIS_RDB_LAST_SAVE_OK, t, int(info.get("rdb_last_bgsave_status") == "ok")),
        Sample(
            catalog.REDIS_AOF_LAST_WRITE_OK, t, int(info.get("aof_last_write_status", "ok") == "ok")
        ),
        Sample(catalog.REDIS_INFO, {**t, "version": str(info.get("redis_version", ""))}, 1),
    ]
    out += [Sample(catalog.REDIS_CPU, {**t, "mode": m}, num(k)) for k, m in _CPU.items()]
    role = info.get("role", "")
    out += [Sample(catalog.REDIS_ROLE, {**t, "role": r}, int(role == r)) for r in _ROLES]
    out += _replication(info, role, t)
    if collect.keyspace:
        out += _keyspace(info, t)
    if collect.latencystats:
        out += _latency(info, t)
    if collect.slowlog and isinstance(replies[1], int):
        out.append(Sample(catalog.REDIS_SLOWLOG_LENGTH, t, replies[1]))
    return out


def _replication(info: Mapping[str, Any], role: str, t: dict[str, str]) -> list[Sample]:
    if role == "slave":
        return [
            Sample(catalog.REDIS_MASTER_LINK_UP, t, int(info.get("master_link_status") == "up"))
        ]
    offset = float(info.get("master_repl_offset", 0) or 0)
    replicas = [
        v
        for k, v in info.items()
        if k.startswith("slave") and k[5:].isdigit() and isinstance(v, dict)
    ]
    lag = max((offset - float(r.get("offset", 0)) for r in replicas), default=0.0)
    return [Sample(catalog.REDIS_REPLICATION_OFFSET_LAG, t, max(0.0, lag))]


def _keyspace(info: Mapping[str, Any], t: dict[str, str]) -> list[Sample]:
    out = []
    for key, v in info.items():
        if key.startswith("db") and key[2:].isdigit() and isinstance(v, dict):
            db = {**t, "db": key[2:]}
            out.append(Sample(catalog.REDIS_DB_KEYS, db, v.get("keys", 0)))
            out.append(Sample(catalog.REDIS_DB_EXPIRING_KEYS, db, v.get("expires", 0)))
    return out


def _quantile(name: str) -> str:
    """`p99.9` -> `0.999` (the quantile label Prometheus summaries use)."""
    return repr(round(float(name[1:]) / 100, 6))


def _latency(info: Mapping[str, Any], t: dict[str, str]) -> list[Sample]:
    out = []
    for key, v in info.items():
        if key.startswith(_LATENCY_PREFIX) and isinstance(v, dict):
            cmd = {**t, "cmd": key[len(_LATENCY_PREFIX) :]}
            out += [
                Sample(catalog.REDIS_COMMAND_LATENCY, {**cmd, "quantile": _quantile(q)}, us / 1e6)
                for q, us in v.items()
            ]
    return out
