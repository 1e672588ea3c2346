"""Redis: the config's Redis targets (up, clients, memory, evictions, persistence)."""

from __future__ import annotations

from grafanalib.core import Dashboard

from exporter import catalog
from exporter.config import Config
from exporter.generators.dashboards import kit, redis_health
from exporter.generators.dashboards.kit import PanelSpec, Query
from exporter.generators.promql import agg, dedup, max_rate


def build(config: Config) -> Dashboard:
    t = config.alerting.thresholds
    targets = [r.name for r in config.redis]
    panels = [
        kit.target_up_panel(catalog.REDIS_UP),
        PanelSpec(
            "Last save / AOF write OK",
            "1 if the last RDB save and the last AOF write succeeded.",
            kit.STATE,
            [
                Query(
                    agg("min", catalog.REDIS_RDB_LAST_SAVE_OK, ("target",), target=kit.TARGET),
                    "{{target}} rdb",
                ),
                Query(
                    agg("min", catalog.REDIS_AOF_LAST_WRITE_OK, ("target",), target=kit.TARGET),
                    "{{target}} aof",
                ),
            ],
            kind="stat",
            up_down=True,
            width=6,
        ),
        kit.probe_duration_panel(catalog.REDIS_PROBE_DURATION, config),
        PanelSpec(
            "Clients",
            "Connected clients, and clients blocked on BLPOP/XREAD and friends.",
            kit.COUNT,
            [
                Query(
                    dedup(catalog.REDIS_CONNECTED_CLIENTS, target=kit.TARGET),
                    "{{target}} connected",
                ),
                Query(
                    dedup(catalog.REDIS_BLOCKED_CLIENTS, target=kit.TARGET), "{{target}} blocked"
                ),
            ],
        ),
        PanelSpec(
            "Memory",
            "Memory used and the maxmemory limit (0 means no limit).",
            kit.UNIT["bytes"],
            [
                Query(dedup(catalog.REDIS_MEMORY_USED, target=kit.TARGET), "{{target}} used"),
                Query(dedup(catalog.REDIS_MEMORY_MAX, target=kit.TARGET), "{{target}} max"),
            ],
        ),
        PanelSpec(
            "Memory used ratio",
            "Memory used over maxmemory, for targets with a limit. The red line is the "
            "RedisMemoryHigh threshold.",
            kit.UNIT["ratio"],
            [
                Query(
                    # per node: a cluster target has one series per node on each side
                    f"{dedup(catalog.REDIS_MEMORY_USED, target=kit.TARGET)}\n/ on (target, node)\n"
                    f"({dedup(catalog.REDIS_MEMORY_MAX, target=kit.TARGET)} > 0)",
                    "{{target}} {{node}}",
                )
            ],
            limit=t.redis_memory_ratio,
            max_value=1,
        ),
        PanelSpec(
            "Evicted keys per second",
            "Keys evicted to stay under maxmemory (queues lose jobs this way).",
            kit.PER_S,
            [
                Query(
                    max_rate(
                        catalog.REDIS_EVICTED_KEYS,
                        ("target",),
                        kit.RATE_INTERVAL,
                        target=kit.TARGET,
                    ),
                    "{{target}}",
                )
            ],
        ),
        PanelSpec(
            "Rejected connections per second",
            "Connections refused because maxclients was reached.",
            kit.PER_S,
            [
                Query(
                    max_rate(
                        catalog.REDIS_REJECTED_CONNECTIONS,
                        ("target",),
                        kit.RATE_INTERVAL,
                        target=kit.TARGET,
                    ),
                    "{{target}}",
                )
            ],
        ),
        PanelSpec(
            "Writes since last save",
            "Writes not yet in an RDB snapshot: what a crash would lose without AOF.",
            kit.COUNT,
            [Query(dedup(catalog.REDIS_RDB_CHANGES_SINCE_SAVE, target=kit.TARGET), "{{target}}")],
        ),
    ] + redis_health.panels()
    return kit.dashboard(
        "exporter-redis",
        "Redis",
        "Redis targets from the exporter config.",
        panels,
        [kit.label_var("target", "Target", targets, spec=catalog.REDIS_UP)],
    )
