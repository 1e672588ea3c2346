"""The catalog's core entries: service instrumentation, the basics of each source (PostgreSQL,
Redis, queues, HPAs), the metrics APIs and the exporter itself (see `exporter.catalog`).

Names follow Prometheus conventions: base units, `_total` on counters, `_seconds`, `_bytes`,
`_ratio`.
"""

from __future__ import annotations

from exporter.catalog.entry import metric

# Resolves both a 2 ms health check and a 60 s LLM call.
LATENCY_BUCKETS: tuple[float, ...] = (
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5,
    1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0,
)  # fmt: skip
FIRST_EVENT_BUCKETS: tuple[float, ...] = (
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
)  # fmt: skip
STREAM_DURATION_BUCKETS: tuple[float, ...] = (
    0.1, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1800.0,
)  # fmt: skip
# The gap between consecutive events of one stream (LLM inter-token latency): a token every
# 5-50 ms is a healthy engine, 100 ms-1 s a struggling one, seconds a stall.
INTER_EVENT_BUCKETS: tuple[float, ...] = (
    0.005, 0.01, 0.02, 0.03, 0.05, 0.075, 0.1, 0.15, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
)  # fmt: skip
COUNT_BUCKETS: tuple[float, ...] = (
    1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 2048, 4096,
)  # fmt: skip


# Labels every service-instrumentation series carries.
SERVICE_LABELS = ("component_class",)

# --- service instrumentation (exporter.instrument) --------------------------------------
HTTP_REQUESTS = metric(
    "http_requests_total",
    "counter",
    "HTTP requests handled, by method, route template and status.",
    SERVICE_LABELS + ("method", "route", "status"),
)
# The `status` of a response whose handler failed after its headers (200, say) went out: a
# broken SSE or chunked stream. Error-rate and burn-rate queries count it with 5xx.
STREAM_ERROR_STATUS = "stream_error"
HTTP_REQUEST_DURATION = metric(
    "http_request_duration_seconds",
    "histogram",
    "Time from request start to the last response byte (whole stream for SSE).",
    SERVICE_LABELS + ("method", "route"),
    "seconds",
    LATENCY_BUCKETS,
)
HTTP_REQUESTS_IN_FLIGHT = metric(
    "http_requests_in_flight",
    "gauge",
    "HTTP requests being handled right now.",
    SERVICE_LABELS + ("method", "route"),
)
HTTP_REQUEST_EXCEPTIONS = metric(
    "http_request_exceptions_total",
    "counter",
    "Unhandled exceptions raised by route handlers, by exception type.",
    SERVICE_LABELS + ("route", "exception"),
)
SSE_STREAMS_ACTIVE = metric(
    "sse_streams_active",
    "gauge",
    "Server-Sent-Events streams open right now.",
    SERVICE_LABELS + ("route",),
)
SSE_EVENTS = metric(
    "sse_events_total",
    "counter",
    "Server-Sent Events sent (events, not body chunks).",
    SERVICE_LABELS + ("route",),
)
SSE_STREAM_EVENTS = metric(
    "sse_stream_events",
    "histogram",
    "Events sent per finished SSE stream.",
    SERVICE_LABELS + ("route",),
    "",
    COUNT_BUCKETS,
)
SSE_FIRST_EVENT = metric(
    "sse_first_event_seconds",
    "histogram",
    "Time from request start to the first event's bytes (not the headers).",
    SERVICE_LABELS + ("route",),
    "seconds",
    FIRST_EVENT_BUCKETS,
)
SSE_INTER_EVENT = metric(
    "sse_inter_event_seconds",
    "histogram",
    "Gap between consecutive events of one SSE stream (inter-token latency), from the "
    "first event on; events completed by the same body chunk count a gap of 0.",
    SERVICE_LABELS + ("route",),
    "seconds",
    INTER_EVENT_BUCKETS,
)
# How an SSE stream ended (`outcome` label of sse_streams_total), each stream counted once.
STREAM_COMPLETED = "completed"  # the last body message went out
STREAM_CLIENT_DISCONNECT = "client_disconnect"  # the client left first
STREAM_ERROR = "error"  # the handler raised after the headers: status="stream_error"
STREAM_SHUTDOWN = "shutdown"  # the server cancelled it (graceful-shutdown timeout, drain)
STREAM_OUTCOMES = (STREAM_COMPLETED, STREAM_CLIENT_DISCONNECT, STREAM_ERROR, STREAM_SHUTDOWN)
SSE_STREAMS = metric(
    "sse_streams_total",
    "counter",
    "Finished SSE streams by outcome: completed, client_disconnect, error (the handler "
    'raised after the headers; its request has status="stream_error"), shutdown.',
    SERVICE_LABELS + ("route", "outcome"),
)
SSE_STREAM_DURATION = metric(
    "sse_stream_duration_seconds",
    "histogram",
    "Lifetime of SSE streams.",
    SERVICE_LABELS + ("route",),
    "seconds",
    STREAM_DURATION_BUCKETS,
)
SSE_CLIENT_DISCONNECTS = metric(
    "sse_client_disconnects_total",
    "counter",
    "SSE streams whose client left before the stream ended.",
    SERVICE_LABELS + ("route",),
)
BATCH_SIZE = metric(
    "batch_size",
    "histogram",
    "Items per batch handled by batch endpoints.",
    SERVICE_LABELS + ("route",),
    "",
    COUNT_BUCKETS,
)

# --- PostgreSQL ----------------------------------------------------------------------------
PG_UP = metric("pg_up", "gauge", "1 if the last PostgreSQL probe succeeded, else 0.", ("target",))
PG_PROBE_DURATION = metric(
    "pg_probe_duration_seconds",
    "gauge",
    "Duration of the last PostgreSQL probe.",
    ("target",),
    "seconds",
)
PG_CONNECTIONS = metric(
    "pg_connections",
    "gauge",
    "Backend connections by state (pg_stat_activity).",
    ("target", "state"),
)
PG_MAX_CONNECTIONS = metric(
    "pg_max_connections", "gauge", "The server's max_connections setting.", ("target",)
)
PG_DEADLOCKS = metric(
    "pg_deadlocks_total",
    "counter",
    "Deadlocks detected per database (pg_stat_database).",
    ("target", "datname"),
)
PG_LONGEST_TRANSACTION = metric(
    "pg_longest_transaction_seconds",
    "gauge",
    "Age of the oldest open transaction.",
    ("target",),
    "seconds",
)
PG_REPLICATION_LAG = metric(
    "pg_replication_lag_seconds",
    "gauge",
    "Replay lag of this server when it is a standby (0 on a primary).",
    ("target",),
    "seconds",
)
PG_DATABASE_SIZE = metric(
    "pg_database_size_bytes",
    "gauge",
    "On-disk size of each database.",
    ("target", "datname"),
    "bytes",
)
PG_IN_RECOVERY = metric(
    "pg_in_recovery", "gauge", "1 if the server is a standby in recovery.", ("target",)
)

# --- Redis ---------------------------------------------------------------------------------
REDIS_UP = metric("redis_up", "gauge", "1 if the last Redis probe succeeded, else 0.", ("target",))
REDIS_PROBE_DURATION = metric(
    "redis_probe_duration_seconds",
    "gauge",
    "Duration of the last Redis probe.",
    ("target", "node"),
    "seconds",
)
REDIS_CONNECTED_CLIENTS = metric(
    "redis_connected_clients", "gauge", "Client connections.", ("target", "node")
)
REDIS_BLOCKED_CLIENTS = metric(
    "redis_blocked_clients",
    "gauge",
    "Clients blocked on BLPOP/XREAD and friends.",
    ("target", "node"),
)
REDIS_MEMORY_USED = metric(
    "redis_memory_used_bytes", "gauge", "Memory used by Redis.", ("target", "node"), "bytes"
)
REDIS_MEMORY_MAX = metric(
    "redis_memory_max_bytes",
    "gauge",
    "The maxmemory setting (0 means no limit).",
    ("target", "node"),
    "bytes",
)
REDIS_EVICTED_KEYS = metric(
    "redis_evicted_keys_total", "counter", "Keys evicted for maxmemory.", ("target", "node")
)
REDIS_REJECTED_CONNECTIONS = metric(
    "redis_rejected_connections_total",
    "counter",
    "Connections rejected (maxclients).",
    ("target", "node"),
)
REDIS_RDB_LAST_SAVE_OK = metric(
    "redis_rdb_last_bgsave_ok", "gauge", "1 if the last RDB save succeeded.", ("target", "node")
)
REDIS_RDB_CHANGES_SINCE_SAVE = metric(
    "redis_rdb_changes_since_last_save",
    "gauge",
    "Writes since the last RDB save.",
    ("target", "node"),
)
REDIS_AOF_ENABLED = metric(
    "redis_aof_enabled", "gauge", "1 if append-only persistence is on.", ("target", "node")
)
REDIS_AOF_LAST_WRITE_OK = metric(
    "redis_aof_last_write_ok", "gauge", "1 if the last AOF write succeeded.", ("target", "node")
)

# --- work queues ---------------------------------------------------------------------------
QUEUE_LABELS = ("component_class", "queue")
QUEUE_DEPTH = metric(
    "queue_depth", "gauge", "Jobs waiting in the queue (ready to run).", QUEUE_LABELS
)
QUEUE_OLDEST_AGE = metric(
    "queue_oldest_age_seconds",
    "gauge",
    "Age of the oldest waiting job (0 when empty).",
    QUEUE_LABELS,
    "seconds",
)
QUEUE_SCHEDULED = metric(
    "queue_scheduled_jobs", "gauge", "Jobs in a scheduled set, ready or not yet due.", QUEUE_LABELS
)
QUEUE_STREAM_LAG = metric(
    "queue_stream_lag",
    "gauge",
    "Stream entries not yet delivered to the consumer group.",
    QUEUE_LABELS,
)
QUEUE_STREAM_PENDING = metric(
    "queue_stream_pending",
    "gauge",
    "Entries delivered to the group but not acknowledged.",
    QUEUE_LABELS,
)
QUEUE_UP = metric(
    "queue_up", "gauge", "1 if the queue was read in the last cycle, else 0.", QUEUE_LABELS
)
QUEUE_CLOCK_SKEW = metric(
    "queue_clock_skew_total",
    "counter",
    "Oldest jobs whose enqueue time lay in the future (clock skew); their age was read as 0.",
    QUEUE_LABELS,
)

# --- Kubernetes HPAs -----------------------------------------------------------------------
HPA_LABELS = ("component_class", "hpa")
HPA_CURRENT_REPLICAS = metric(
    "hpa_current_replicas", "gauge", "Replicas the HPA currently runs.", HPA_LABELS
)
HPA_DESIRED_REPLICAS = metric(
    "hpa_desired_replicas", "gauge", "Replicas the HPA wants.", HPA_LABELS
)
HPA_MIN_REPLICAS = metric("hpa_min_replicas", "gauge", "The HPA's minReplicas.", HPA_LABELS)
HPA_MAX_REPLICAS = metric("hpa_max_replicas", "gauge", "The HPA's maxReplicas.", HPA_LABELS)
HPA_ABLE_TO_SCALE = metric(
    "hpa_able_to_scale", "gauge", "1 if the HPA's AbleToScale condition is True.", HPA_LABELS
)
HPA_SCALING_ACTIVE = metric(
    "hpa_scaling_active", "gauge", "1 if the HPA's ScalingActive condition is True.", HPA_LABELS
)

# --- metrics API ---------------------------------------------------------------------------
METRICS_API_FALLBACK = metric(
    "metrics_api_fallback_active",
    "gauge",
    "1 while a metrics-API metric is served from its configured fallback value.",
    ("api", "metric"),
)
METRICS_API_VALUE_AGE = metric(
    "metrics_api_value_age_seconds",
    "gauge",
    "Age of the oldest series in the last value a metrics-API metric served from its source.",
    ("api", "metric"),
    "seconds",
)
METRICS_API_REQUESTS = metric(
    "metrics_api_requests_total",
    "counter",
    "Requests to the Kubernetes metrics APIs by outcome.",
    ("api", "code"),
)

# --- KEDA external scaler and APIService ownership -----------------------------------------
KEDA_SCALER_STREAMS = metric(
    "keda_scaler_streams_active", "gauge", "Open StreamIsActive streams from KEDA.", ()
)
KEDA_SCALER_REQUESTS = metric(
    "keda_scaler_requests_total",
    "counter",
    "KEDA external scaler calls by method and gRPC status code.",
    ("method", "code"),
)
APISERVICE_LABELS = ("group", "version")
EXPORTER_APISERVICE_AVAILABLE = metric(
    "exporter_apiservice_available",
    "gauge",
    "1 if the cluster's APIService for this metrics group reports Available=True.",
    APISERVICE_LABELS,
)
EXPORTER_APISERVICE_OWNED = metric(
    "exporter_apiservice_owned",
    "gauge",
    "1 if the cluster's APIService for this metrics group points at this exporter's Service.",
    APISERVICE_LABELS,
)

# --- the exporter itself -------------------------------------------------------------------
EXPORTER_COLLECTOR_UP = metric(
    "exporter_collector_up",
    "gauge",
    "1 if the collector's last run for this target succeeded.",
    ("collector", "target"),
)
EXPORTER_COLLECTOR_DURATION = metric(
    "exporter_collector_duration_seconds",
    "gauge",
    "Duration of the collector's last run.",
    ("collector", "target"),
    "seconds",
)
EXPORTER_COLLECTOR_ERRORS = metric(
    "exporter_collector_errors_total",
    "counter",
    "Failed or timed-out collector runs.",
    ("collector", "target"),
)
EXPORTER_COLLECTOR_LAST_SUCCESS = metric(
    "exporter_collector_last_success_timestamp_seconds",
    "gauge",
    "Unix time of the collector's last successful run.",
    ("collector", "target"),
    "seconds",
)
EXPORTER_BUILD_INFO = metric(
    "exporter_build_info",
    "gauge",
    "Always 1; labels carry the build.",
    ("version", "python", "environment"),
)
EXPORTER_HTTP_CONNECTIONS = metric(
    "exporter_http_connections",
    "gauge",
    "Open client connections on the listener.",
    ("listener",),
)
EXPORTER_HTTP_CONNECTIONS_REJECTED = metric(
    "exporter_http_connections_rejected_total",
    "counter",
    "Connections refused or closed by the server: app_error, bad_response_header (an app's "
    "header with CR, LF or NUL), body_refused, body_too_large, buffer_budget, client_cap, "
    "connection_cap, drain_timeout, fd_exhausted, handshake_timeout, handshake_failed, "
    "head_timeout, head_too_large, malformed.",
    ("listener", "reason"),
)
EXPORTER_EVENT_LOOP_LAG = metric(
    "exporter_event_loop_lag_seconds",
    "gauge",
    "How late the event loop ran a timer in the last second: a blocked loop stalls every "
    "listener and collector at once.",
    (),
    "seconds",
)

# --- process_* (the names every Prometheus client library exports) -------------------------
PROCESS_CPU_SECONDS = metric(
    "process_cpu_seconds_total", "counter", "Total user and system CPU time.", (), "seconds"
)
PROCESS_RESIDENT_MEMORY = metric(
    "process_resident_memory_bytes", "gauge", "Resident memory size.", (), "bytes"
)
PROCESS_VIRTUAL_MEMORY = metric(
    "process_virtual_memory_bytes", "gauge", "Virtual memory size.", (), "bytes"
)
PROCESS_OPEN_FDS = metric("process_open_fds", "gauge", "Open file descriptors.")
PROCESS_MAX_FDS = metric("process_max_fds", "gauge", "Maximum number of open file descriptors.")
PROCESS_START_TIME = metric(
    "process_start_time_seconds",
    "gauge",
    "Start time of the process since the Unix epoch.",
    (),
    "seconds",
)
