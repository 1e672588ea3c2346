"""Alerts on the dependencies the exporter probes: PostgreSQL and Redis."""

from __future__ import annotations

from exporter import catalog
from exporter.config import Config
from exporter.generators.alerts.rule import Alert, num
from exporter.generators.promql import agg, max_rate, pg_connection_ratio


def dependency_alerts(config: Config) -> list[Alert]:
    t = config.alerting.thresholds
    return [
        Alert(
            "PostgresDown",
            f"{agg('max', catalog.PG_UP, ('target',))} == 0",
            "critical",
            "PostgreSQL is unreachable.",
            "No exporter replica could probe PostgreSQL target {{ $labels.target }} "
            "for the last minute.",
            for_="1m",
            dashboard="postgres",
        ),
        Alert(
            "PostgresConnectionsSaturated",
            f"{pg_connection_ratio()}\n> {num(t.pg_connections_ratio)}",
            "warning",
            "PostgreSQL is running out of connections.",
            "PostgreSQL target {{ $labels.target }} uses {{ $value | humanizePercentage }} of "
            f"max_connections (threshold {num(t.pg_connections_ratio * 100)}%).",
            for_="5m",
            dashboard="postgres",
        ),
        Alert(
            "PostgresDeadlocks",
            f"{max_rate(catalog.PG_DEADLOCKS, catalog.PG_DEADLOCKS.labels, '10m', 'increase')} > 0",
            "warning",
            "PostgreSQL is detecting deadlocks.",
            "Database {{ $labels.datname }} on PostgreSQL target {{ $labels.target }} had "
            "{{ $value | humanize }} deadlocks in the last 10 minutes.",
            dashboard="postgres",
        ),
        Alert(
            "RedisDown",
            f"{agg('max', catalog.REDIS_UP, ('target',))} == 0",
            "critical",
            "Redis is unreachable.",
            "No exporter replica could probe Redis target {{ $labels.target }} "
            "for the last minute.",
            for_="1m",
            dashboard="redis",
        ),
        Alert(
            "RedisMemoryHigh",
            f"{agg('max', catalog.REDIS_MEMORY_USED, ('target',))}\n/ on (target)\n"
            f"({agg('max', catalog.REDIS_MEMORY_MAX, ('target',))} > 0)\n"
            f"> {num(t.redis_memory_ratio)}",
            "warning",
            "Redis memory is close to maxmemory.",
            "Redis target {{ $labels.target }} uses {{ $value | humanizePercentage }} of its "
            f"maxmemory (threshold {num(t.redis_memory_ratio * 100)}%); past it Redis evicts "
            "keys or refuses writes.",
            for_="5m",
            dashboard="redis",
        ),
        Alert(
            "RedisRejectedConnections",
            f"{max_rate(catalog.REDIS_REJECTED_CONNECTIONS, ('target',), '10m', 'increase')} > 0",
            "warning",
            "Redis is rejecting client connections.",
            "Redis target {{ $labels.target }} rejected {{ $value | humanize }} connections "
            "in the last 10 minutes (maxclients reached).",
            dashboard="redis",
        ),
    ]
