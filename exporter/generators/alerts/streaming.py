"""Token-stream SLO alerts per component class: time to first event, inter-event latency
(inter-token latency of an LLM stream) and streams failing after their headers.

They read the per-class recording rules of `recording.stream_rules`; thresholds come from
`config.alerting.thresholds.sse_*`. A stream that fails mid-way is also a
`status="stream_error"` request, so it spends the error budget the burn-rate alerts watch.
"""

from __future__ import annotations

from exporter.config import Config
from exporter.generators.alerts.recording import (
    FIRST_EVENT_P95,
    INTER_EVENT_P95,
    STREAMS_FAILED_RATIO,
)
from exporter.generators.alerts.rule import Alert, num


def streaming_alerts(config: Config) -> list[Alert]:
    t = config.alerting.thresholds
    return [
        Alert(
            "StreamFirstEventSlow",
            f"{FIRST_EVENT_P95} > {num(t.sse_first_event_p95_seconds)}",
            "warning",
            "Streams take too long to send their first event (time to first token).",
            "p95 time to first event of component class {{ $labels.component_class }} is "
            "{{ $value | humanizeDuration }} over the last 5 minutes "
            f"(threshold {num(t.sse_first_event_p95_seconds)}s).",
            for_="10m",
            dashboard="sse-streaming",
        ),
        Alert(
            "StreamInterEventSlow",
            f"{INTER_EVENT_P95} > {num(t.sse_inter_event_p95_seconds)}",
            "warning",
            "Events of open streams come too slowly (inter-token latency).",
            "p95 gap between consecutive events of a stream on component class "
            "{{ $labels.component_class }} is {{ $value | humanizeDuration }} over the last "
            f"5 minutes (threshold {num(t.sse_inter_event_p95_seconds)}s).",
            for_="10m",
            dashboard="sse-streaming",
        ),
        Alert(
            "StreamsFailingMidway",
            f"{STREAMS_FAILED_RATIO} > {num(t.sse_stream_error_ratio)}",
            "critical",
            "Streams fail after their headers went out.",
            "{{ $value | humanizePercentage }} of the streams of component class "
            "{{ $labels.component_class }} ended in a server error after the headers over "
            f"the last 5 minutes (threshold {num(t.sse_stream_error_ratio * 100)}%); they "
            'count as status="stream_error" in the error budget.',
            for_="5m",
            dashboard="sse-streaming",
        ),
    ]
