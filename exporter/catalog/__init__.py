"""The metric catalog: the one place every metric this project emits is declared.

Collectors, the ASGI middleware, the metrics APIs, the dashboards and the alert rules all
refer to these specs (`from exporter import catalog; catalog.PG_UP`), so a rename is one
edit. The entries live in the modules named in `MODULES`, each declaring them with
`exporter.catalog.entry.metric`; this package re-exports every one by name and indexes them
in `CATALOG`. A new entry is its lines in one of those modules plus its name in this
package's import list (one line per name: the re-export is explicit, no star import);
tests/test_catalog.py fails on an entry left out, and the import fails on one metric name
declared by two entries.
"""

from __future__ import annotations

from types import ModuleType

from exporter.catalog import core, gpu, health
from exporter.catalog.core import (  # noqa: F401 (re-exported)
    APISERVICE_LABELS,
    BATCH_SIZE,
    COUNT_BUCKETS,
    EXPORTER_APISERVICE_AVAILABLE,
    EXPORTER_APISERVICE_OWNED,
    EXPORTER_BUILD_INFO,
    EXPORTER_COLLECTOR_DURATION,
    EXPORTER_COLLECTOR_ERRORS,
    EXPORTER_COLLECTOR_LAST_SUCCESS,
    EXPORTER_COLLECTOR_UP,
    EXPORTER_EVENT_LOOP_LAG,
    EXPORTER_HTTP_CONNECTIONS,
    EXPORTER_HTTP_CONNECTIONS_REJECTED,
    FIRST_EVENT_BUCKETS,
    HPA_ABLE_TO_SCALE,
    HPA_CURRENT_REPLICAS,
    HPA_DESIRED_REPLICAS,
    HPA_LABELS,
    HPA_MAX_REPLICAS,
    HPA_MIN_REPLICAS,
    HPA_SCALING_ACTIVE,
    HTTP_REQUEST_DURATION,
    HTTP_REQUEST_EXCEPTIONS,
    HTTP_REQUESTS,
    HTTP_REQUESTS_IN_FLIGHT,
    INTER_EVENT_BUCKETS,
    KEDA_SCALER_REQUESTS,
    KEDA_SCALER_STREAMS,
    LATENCY_BUCKETS,
    METRICS_API_FALLBACK,
    METRICS_API_REQUESTS,
    METRICS_API_VALUE_AGE,
    PG_CONNECTIONS,
    PG_DATABASE_SIZE,
    PG_DEADLOCKS,
    PG_IN_RECOVERY,
    PG_LONGEST_TRANSACTION,
    PG_MAX_CONNECTIONS,
    PG_PROBE_DURATION,
    PG_REPLICATION_LAG,
    PG_UP,
    PROCESS_CPU_SECONDS,
    PROCESS_MAX_FDS,
    PROCESS_OPEN_FDS,
    PROCESS_RESIDENT_MEMORY,
    PROCESS_START_TIME,
    PROCESS_VIRTUAL_MEMORY,
    QUEUE_CLOCK_SKEW,
    QUEUE_DEPTH,
    QUEUE_LABELS,
    QUEUE_OLDEST_AGE,
    QUEUE_SCHEDULED,
    QUEUE_STREAM_LAG,
    QUEUE_STREAM_PENDING,
    QUEUE_UP,
    REDIS_AOF_ENABLED,
    REDIS_AOF_LAST_WRITE_OK,
    REDIS_BLOCKED_CLIENTS,
    REDIS_CONNECTED_CLIENTS,
    REDIS_EVICTED_KEYS,
    REDIS_MEMORY_MAX,
    REDIS_MEMORY_USED,
    REDIS_PROBE_DURATION,
    REDIS_RDB_CHANGES_SINCE_SAVE,
    REDIS_RDB_LAST_SAVE_OK,
    REDIS_REJECTED_CONNECTIONS,
    REDIS_UP,
    SERVICE_LABELS,
    SSE_CLIENT_DISCONNECTS,
    SSE_EVENTS,
    SSE_FIRST_EVENT,
    SSE_INTER_EVENT,
    SSE_STREAM_DURATION,
    SSE_STREAM_EVENTS,
    SSE_STREAMS,
    SSE_STREAMS_ACTIVE,
    STREAM_CLIENT_DISCONNECT,
    STREAM_COMPLETED,
    STREAM_DURATION_BUCKETS,
    STREAM_ERROR,
    STREAM_ERROR_STATUS,
    STREAM_OUTCOMES,
    STREAM_SHUTDOWN,
)
from exporter.catalog.entry import MetricSpec, MetricType  # noqa: F401 (re-exported)
from exporter.catalog.gpu import (  # noqa: F401 (re-exported)
    GPU_ALLOCATED_DEVICES,
    GPU_CLOCK,
    GPU_DEVICE_LABELS,
    GPU_ECC_ERRORS,
    GPU_LABELS,
    GPU_MEMORY_TOTAL,
    GPU_MEMORY_USED,
    GPU_PCIE_THROUGHPUT,
    GPU_POWER,
    GPU_PROCESS_MEMORY_USED,
    GPU_PROCESS_UTILIZATION,
    GPU_REMAPPED_ROWS,
    GPU_RETIRED_PAGES,
    GPU_RETIRED_PAGES_PENDING,
    GPU_ROW_REMAP_FAILED,
    GPU_ROW_REMAP_PENDING,
    GPU_TEMPERATURE,
    GPU_THROTTLE,
    GPU_UTILIZATION,
    GPU_XID_ERRORS,
)
from exporter.catalog.health import (  # noqa: F401 (re-exported)
    PG_BLOCKS_HIT,
    PG_BLOCKS_READ,
    PG_BUFFERS_WRITTEN,
    PG_CHECKPOINTS,
    PG_INFO,
    PG_LOCKS,
    PG_LOCKS_WAITING,
    PG_REPLICATION_SLOT_ACTIVE,
    PG_REPLICATION_SLOT_RETAINED_WAL,
    PG_SETTING,
    PG_SETTING_BYTES,
    PG_SETTING_SECONDS,
    PG_STANDBY_REPLAY_LAG,
    PG_STANDBY_REPLAY_LAG_BYTES,
    PG_STANDBY_STREAMING,
    PG_TEMP_BYTES,
    PG_TEMP_FILES,
    PG_TUPLES,
    PG_WAL_ARCHIVE_FAILURES,
    PG_WAL_ARCHIVED,
    PG_XACT_COMMITS,
    PG_XACT_ROLLBACKS,
    REDIS_CLUSTER_KNOWN_NODES,
    REDIS_CLUSTER_SLOTS_ASSIGNED,
    REDIS_CLUSTER_SLOTS_FAIL,
    REDIS_CLUSTER_STATE_OK,
    REDIS_COMMAND_LATENCY,
    REDIS_COMMANDS_PROCESSED,
    REDIS_CONNECTED_REPLICAS,
    REDIS_CPU,
    REDIS_DB_EXPIRING_KEYS,
    REDIS_DB_KEYS,
    REDIS_EXPIRED_KEYS,
    REDIS_INFO,
    REDIS_KEYSPACE_HITS,
    REDIS_KEYSPACE_MISSES,
    REDIS_MASTER_LINK_UP,
    REDIS_MEMORY_FRAGMENTATION,
    REDIS_MEMORY_RSS,
    REDIS_NODE_UP,
    REDIS_REPLICATION_OFFSET_LAG,
    REDIS_ROLE,
    REDIS_SLOWLOG_LENGTH,
    REDIS_UPTIME,
)

# The entry modules, in the order CATALOG lists them.
MODULES: tuple[ModuleType, ...] = (core, gpu, health)


def _index(modules: tuple[ModuleType, ...]) -> dict[str, MetricSpec]:
    """Every MetricSpec the modules declare, by metric name. Two entries with one metric name
    fail the import (ValueError), so the catalog cannot hold two meanings of one metric."""
    index: dict[str, MetricSpec] = {}
    for module in modules:
        for value in vars(module).values():
            if not isinstance(value, MetricSpec):
                continue
            if index.get(value.name, value) is not value:
                raise ValueError(f"metric {value.name!r} is declared twice in the catalog")
            index[value.name] = value
    return index


CATALOG: dict[str, MetricSpec] = _index(MODULES)


def spec(name: str) -> MetricSpec:
    """The spec for a metric name; KeyError names the unknown metric."""
    try:
        return CATALOG[name]
    except KeyError:
        raise KeyError(f"metric {name!r} is not in the catalog") from None
