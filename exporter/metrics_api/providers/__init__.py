"""Metrics providers: where metrics-API values come from (see `base.MetricsProvider`).

- `base`        the protocol, its value and info types, its errors
- `configured`  what the configured providers share: lookup, fallback, the calls
- `snapshot`    values from the live snapshot (fresh to the collection interval)
- `promql`      values from instant PromQL queries
- `promql_answer` the strict schema of a query answer, decoded row by row off the loop
- `coalesce`    one PromQL query in flight per query text, its answer kept for an interval
- `expected`    which series a snapshot value is made of, from the config (all or nothing)
- `routing`     each configured metric to its provider; `build_provider(config, ...)`
"""

from .base import (
    BadRequest,
    MetricInfo,
    MetricsProvider,
    MetricValue,
    NotFound,
    ProviderError,
    Unavailable,
)
from .routing import RoutingProvider, build_provider

__all__ = [
    "BadRequest",
    "MetricInfo",
    "MetricValue",
    "MetricsProvider",
    "NotFound",
    "ProviderError",
    "RoutingProvider",
    "Unavailable",
    "build_provider",
]
