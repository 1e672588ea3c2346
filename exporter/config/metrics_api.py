"""The `metrics_api:` section: which metrics the Kubernetes metrics APIs serve, TLS, auth."""

from __future__ import annotations

import warnings
from typing import Annotated, Literal

from pydantic import Field, model_validator

from exporter.catalog import CATALOG
from exporter.config.base import INT32_MAX, QUANTITY_MAX, Strict


class ApiMetric(Strict):
    """A metric served on the external or custom metrics API and where its value comes from."""

    name: Annotated[str, Field(pattern=r"^[a-zA-Z_:][a-zA-Z0-9_:]*$")]
    source: Literal["snapshot", "promql"]
    # snapshot: the catalog metric to read (defaults to name); promql: the query. A PromQL
    # query may use {namespace} and {selector} placeholders (label matchers from the request).
    metric: str | None = None
    query: str | None = None
    fallback: float | None = None  # served (and flagged) when the source fails; None -> 503
    # The span a value summarises (e.g. 60 for a rate over [1m]); served as `window` /
    # `windowSeconds`. None for point-in-time gauges such as queue depth.
    window_seconds: Annotated[int, Field(gt=0, le=INT32_MAX)] | None = None
    # An answer with no series is Unavailable (fallback or 503), not an empty list: for a
    # query that yields nothing when its inputs are stale (e.g. gpu_utilization_ratio).
    require_series: bool = False

    @model_validator(mode="after")
    def _source_fields(self) -> ApiMetric:
        if self.source == "promql" and not self.query:
            raise ValueError("a promql metric needs query")
        if self.source == "snapshot" and self.query:
            raise ValueError("a snapshot metric takes no query")
        if self.source == "snapshot":
            name = self.metric or self.name
            spec = CATALOG.get(name)
            if spec is None or spec.type == "histogram":
                raise ValueError(
                    f"snapshot metric {name!r} is not a gauge or counter in the metric catalog"
                )
        if self.source == "promql" and self.metric:
            raise ValueError("a promql metric takes no metric (the query says what to read)")
        if self.fallback is not None and not 0 <= self.fallback <= QUANTITY_MAX:
            raise ValueError(f"fallback must be a finite number >= 0 and <= {QUANTITY_MAX:g}")
        return self


class TLSFiles(Strict):
    cert_file: str | None = None
    key_file: str | None = None

    @model_validator(mode="after")
    def _both_or_neither(self) -> TLSFiles:
        if bool(self.cert_file) != bool(self.key_file):
            raise ValueError("set both cert_file and key_file, or neither (self-signed)")
        return self


class Authentication(Strict):
    """Front-proxy client-certificate authentication (kube-apiserver's aggregation layer)."""

    # Read from kube-system/extension-apiserver-authentication when `from_cluster` is true.
    from_cluster: bool = False
    requestheader_client_ca_file: str | None = None
    requestheader_allowed_names: list[str] = []
    username_headers: list[str] = ["X-Remote-User"]
    group_headers: list[str] = ["X-Remote-Group"]


# `metrics_api.register` is the public name; it shadows ABCMeta.register, which no one calls
# on a config model, so pydantic's warning about it is noise.
warnings.filterwarnings("ignore", message='Field name "register" in "MetricsApi"')


class MetricsApi(Strict):
    enabled: bool = True
    # The groups this exporter registers (APIServices) and serves: a cluster has one
    # APIService per group, and KEDA (external) or prometheus-adapter (custom) may own it.
    register: list[Literal["external", "custom"]] = ["external", "custom"]
    tls: TLSFiles = TLSFiles()
    authentication: Authentication = Authentication()
    external: list[ApiMetric] = [
        ApiMetric(name="queue_depth", source="snapshot"),
        ApiMetric(name="queue_oldest_age_seconds", source="snapshot"),
        ApiMetric(name="gpu_utilization_ratio", source="snapshot"),
    ]
    custom: list[ApiMetric] = []
    # A snapshot series older than this many collection intervals is lost, not current: a
    # value made of it is unavailable (fallback or 503), never the last good number.
    stale_after_intervals: Annotated[int, Field(ge=1, le=100)] = 3

    @model_validator(mode="after")
    def _unique_names(self) -> MetricsApi:
        for api, items in (("external", self.external), ("custom", self.custom)):
            names = [m.name for m in items]
            if len(names) != len(set(names)):
                raise ValueError(f"metrics_api.{api} metric names must be unique")
        return self
