"""Redis panels beyond up/clients/memory: ops, hit ratio, latency, replication, cluster."""

from __future__ import annotations

from exporter import catalog
from exporter.generators.dashboards import kit
from exporter.generators.dashboards.kit import PanelSpec, Query
from exporter.generators.promql import dedup, max_rate, sel

_NODE = ("target", "node")


def _rate(spec: catalog.MetricSpec) -> str:
    return max_rate(spec, _NODE, kit.RATE_INTERVAL, target=kit.TARGET)


def panels() -> list[PanelSpec]:
    hits, misses = _rate(catalog.REDIS_KEYSPACE_HITS), _rate(catalog.REDIS_KEYSPACE_MISSES)
    p99 = sel(catalog.REDIS_COMMAND_LATENCY, target=kit.TARGET, quantile="0.99")
    return [
        PanelSpec(
            "Commands per second",
            "Commands processed per node.",
            kit.PER_S,
            [Query(_rate(catalog.REDIS_COMMANDS_PROCESSED), "{{target}} {{node}}")],
        ),
        PanelSpec(
            "Keyspace hit ratio",
            "Lookups that found their key over all lookups.",
            kit.UNIT["ratio"],
            [Query(f"{hits}\n/\n({hits} + {misses})", "{{target}} {{node}}")],
            max_value=1,
        ),
        PanelSpec(
            "Command latency p99",
            "p99 latency per command since start or CONFIG RESETSTAT (INFO latencystats), top 10.",
            kit.UNIT["seconds"],
            [Query(f"topk(10, max by (target, node, cmd) ({p99}))", "{{target}} {{node}} {{cmd}}")],
        ),
        PanelSpec(
            "Replication",
            "Replicas' master link (1 up), and the slowest replica's offset lag on masters.",
            kit.COUNT,
            [
                Query(
                    dedup(catalog.REDIS_MASTER_LINK_UP, target=kit.TARGET),
                    "{{target}} {{node}} link",
                ),
                Query(
                    dedup(catalog.REDIS_REPLICATION_OFFSET_LAG, target=kit.TARGET),
                    "{{target}} {{node}} lag bytes",
                ),
            ],
        ),
        PanelSpec(
            "Cluster state",
            "Redis Cluster targets: 1 while the node sees every slot served (RedisClusterNotOk).",
            kit.STATE,
            [
                Query(
                    dedup(catalog.REDIS_CLUSTER_STATE_OK, target=kit.TARGET), "{{target}} {{node}}"
                )
            ],
            kind="stat",
            up_down=True,
            width=12,
        ),
    ]
