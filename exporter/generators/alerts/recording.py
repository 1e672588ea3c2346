"""Recording rules (level:metric:operations) the HTTP alerts and SLO burn alerts read."""

from __future__ import annotations

from exporter import catalog
from exporter.config import Config
from exporter.generators.promql import SERVER_ERROR, agg, sum_rate

REQUESTS_RATE5M = "component_class:http_requests:rate5m"
ERROR_RATIO = "component_class:http_requests_errors:ratio_rate{window}"
LATENCY_BUCKETS_RATE5M = "component_class_route_le:http_request_duration_seconds_bucket:rate5m"
LATENCY_P95 = "component_class_route:http_request_duration_seconds:p95_rate5m"
_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
# SSE streams per class (the token-stream SLO alerts and the SSE dashboard read these)
FIRST_EVENT_BUCKETS_RATE5M = "component_class_le:sse_first_event_seconds_bucket:rate5m"
FIRST_EVENT_P95 = "component_class:sse_first_event_seconds:p95_rate5m"
INTER_EVENT_BUCKETS_RATE5M = "component_class_le:sse_inter_event_seconds_bucket:rate5m"
INTER_EVENT_P95 = "component_class:sse_inter_event_seconds:p95_rate5m"
STREAMS_FAILED_RATIO = "component_class:sse_streams_failed:ratio_rate5m"
EVENTS_PER_STREAM = "component_class:sse_events_per_stream:rate5m"


def error_ratio(window: str) -> str:
    return ERROR_RATIO.format(window=window)


def seconds(duration: str) -> int:
    """A Prometheus duration of one unit ("5m", "6h") in seconds."""
    return int(duration[:-1]) * _SECONDS[duration[-1]]


def error_ratio_windows(config: Config) -> list[str]:
    """5m (HighErrorRate) and every burn-rate window, shortest first."""
    windows = {"5m"} | {w for b in config.alerting.burn_rates for w in (b.long, b.short)}
    return sorted(windows, key=seconds)


def recording_rules(config: Config) -> list[dict[str, str]]:
    by_class = ("component_class",)
    rules = [
        {"record": REQUESTS_RATE5M, "expr": sum_rate(catalog.HTTP_REQUESTS, by_class, "5m")},
    ]
    for window in error_ratio_windows(config):
        errors = sum_rate(catalog.HTTP_REQUESTS, by_class, window, status=SERVER_ERROR)
        total = sum_rate(catalog.HTTP_REQUESTS, by_class, window)
        rules.append({"record": error_ratio(window), "expr": f"{errors}\n/\n{total}"})
    rules.append(
        {
            "record": LATENCY_BUCKETS_RATE5M,
            "expr": sum_rate(
                catalog.HTTP_REQUEST_DURATION, (*by_class, "route", "le"), "5m", "_bucket"
            ),
        }
    )
    rules.append(
        {"record": LATENCY_P95, "expr": f"histogram_quantile(0.95, {LATENCY_BUCKETS_RATE5M})"}
    )
    return rules + stream_rules()


def stream_rules() -> list[dict[str, str]]:
    """Per class: TTFT and inter-event p95, the share of streams failing mid-way, and events
    per second per open stream (tokens/s a user sees)."""
    by_class = ("component_class",)
    rules = []
    for spec, buckets, p95 in (
        (catalog.SSE_FIRST_EVENT, FIRST_EVENT_BUCKETS_RATE5M, FIRST_EVENT_P95),
        (catalog.SSE_INTER_EVENT, INTER_EVENT_BUCKETS_RATE5M, INTER_EVENT_P95),
    ):
        rules.append(
            {"record": buckets, "expr": sum_rate(spec, (*by_class, "le"), "5m", "_bucket")}
        )
        rules.append({"record": p95, "expr": f"histogram_quantile(0.95, {buckets})"})
    failed = sum_rate(catalog.SSE_STREAMS, by_class, "5m", outcome=f'="{catalog.STREAM_ERROR}"')
    ended = sum_rate(catalog.SSE_STREAMS, by_class, "5m")
    rules.append({"record": STREAMS_FAILED_RATIO, "expr": f"{failed}\n/\n{ended}"})
    events = sum_rate(catalog.SSE_EVENTS, by_class, "5m")
    open_streams = agg("sum", catalog.SSE_STREAMS_ACTIVE, by_class)
    # no open stream: no value (not +Inf)
    rules.append({"record": EVENTS_PER_STREAM, "expr": f"{events}\n/\n({open_streams} > 0)"})
    return rules
