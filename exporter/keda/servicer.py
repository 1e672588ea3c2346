"""The `externalscaler.ExternalScaler` RPCs, answered from the process's metrics provider.

The provider is the one `exporter serve` builds for the metrics API and the status board
too, so a value KEDA reads is the value the API serves, from the same (coalesced) query,
and its fallback flag is the metric's, whoever asked.

Status codes: malformed `scalerMetadata` (missing key, bad number) -> INVALID_ARGUMENT; an
unknown component class or metric -> NOT_FOUND; no trustworthy value (first collection not
done, a source down or stale) -> UNAVAILABLE, so KEDA applies its own `fallback`.
`StreamMetricSpec` -> UNIMPLEMENTED (KEDA then keeps polling GetMetricSpec).

`StreamIsActive` sends the current state at once, then each change: it re-reads after every
collector write to the snapshot (and at least once per collection interval), so a queue
crossing the activation threshold is pushed within one collection interval, both ways.
"""

from __future__ import annotations

import math
from collections.abc import AsyncIterator
from typing import Any

import grpc

from exporter import catalog
from exporter.config import Config
from exporter.metrics_api.providers.base import (
    BadRequest,
    MetricsProvider,
    NotFound,
    ProviderError,
    Unavailable,
)
from exporter.snapshot import Sample, Snapshot

from .changes import Changes
from .targets import BadMetadata, Target, UnknownTarget, read_total, resolve

CODES = {
    BadMetadata: grpc.StatusCode.INVALID_ARGUMENT,
    BadRequest: grpc.StatusCode.INVALID_ARGUMENT,
    UnknownTarget: grpc.StatusCode.NOT_FOUND,
    NotFound: grpc.StatusCode.NOT_FOUND,
    Unavailable: grpc.StatusCode.UNAVAILABLE,
}


MAX_DETAILS = 512  # status details sent back: no client string at length
MAX_METRIC_NAME = 256  # KEDA's are "s<index>-<metric>"; GetMetrics answers with it


def status_code(exc: Exception) -> grpc.StatusCode:
    for kind, code in CODES.items():
        if isinstance(exc, kind):
            return code
    return grpc.StatusCode.INTERNAL


class Scaler:
    """The servicer (registered with the stubs' `add_ExternalScalerServicer_to_server`)."""

    def __init__(
        self,
        config: Config,
        provider: MetricsProvider,
        snapshot: Snapshot,
        changes: Changes,
        messages: Any,
    ) -> None:
        self.config = config
        self.provider = provider  # the process's one provider; its owner closes it
        self.snapshot = snapshot
        self.changes = changes
        self.pb = messages
        self.interval = config.collection.queues.interval_seconds
        self.streams = 0
        self._count_streams(0)

    # --- helpers ----------------------------------------------------------------------------
    def _count_streams(self, delta: int) -> None:
        self.streams += delta
        sample = Sample(catalog.KEDA_SCALER_STREAMS, {}, self.streams)
        self.snapshot.update("keda/streams", [sample])

    def _count(self, method: str, code: grpc.StatusCode) -> None:
        labels = {"method": method, "code": code.name}
        seen = self.snapshot.value(catalog.KEDA_SCALER_REQUESTS.name, labels) or 0.0
        self.snapshot.update(
            "keda/requests", [Sample(catalog.KEDA_SCALER_REQUESTS, labels, seen + 1)]
        )

    async def _fail(self, method: str, context: grpc.aio.ServicerContext, exc: Exception) -> None:
        code = status_code(exc)
        self._count(method, code)
        message = exc.message if isinstance(exc, ProviderError) else str(exc)
        if len(message) > MAX_DETAILS:  # whatever a provider error quoted from the request
            message = message[:MAX_DETAILS] + "..."
        await context.abort(code, message)

    def _target(self, ref: Any) -> Target:
        # the protobuf map itself: resolve() counts its keys before reading any
        return resolve(self.config, ref.namespace, ref.scalerMetadata)

    async def _active(self, target: Target) -> bool:
        return await read_total(self.provider, target) > target.activation_threshold

    # --- the RPCs ---------------------------------------------------------------------------
    async def IsActive(self, request: Any, context: grpc.aio.ServicerContext) -> Any:  # noqa: N802
        try:
            active = await self._active(self._target(request))
        except (BadMetadata, UnknownTarget, ProviderError) as exc:
            await self._fail("IsActive", context, exc)
        self._count("IsActive", grpc.StatusCode.OK)
        return self.pb.IsActiveResponse(result=active)

    async def StreamIsActive(  # noqa: N802
        self, request: Any, context: grpc.aio.ServicerContext
    ) -> AsyncIterator[Any]:
        try:
            target = self._target(request)
        except (BadMetadata, UnknownTarget) as exc:
            await self._fail("StreamIsActive", context, exc)
        self._count_streams(+1)
        try:
            last: bool | None = None
            while True:
                try:
                    active = await self._active(target)
                except ProviderError as exc:
                    await self._fail("StreamIsActive", context, exc)
                if active != last:
                    yield self.pb.IsActiveResponse(result=active)
                    last = active
                await self.changes.wait(self.interval)
        finally:  # the client went away (cancelled) or the stream failed
            self._count_streams(-1)

    async def GetMetricSpec(self, request: Any, context: grpc.aio.ServicerContext) -> Any:  # noqa: N802
        try:
            target = self._target(request)
        except (BadMetadata, UnknownTarget) as exc:
            await self._fail("GetMetricSpec", context, exc)
        self._count("GetMetricSpec", grpc.StatusCode.OK)
        spec = self.pb.MetricSpec(
            metricName=target.metric,
            targetSize=math.ceil(target.target_value),
            targetSizeFloat=target.target_value,
        )
        return self.pb.GetMetricSpecResponse(metricSpecs=[spec])

    async def GetMetrics(self, request: Any, context: grpc.aio.ServicerContext) -> Any:  # noqa: N802
        try:
            if len(request.metricName) > MAX_METRIC_NAME:  # echoed back in the answer
                raise BadMetadata(f"metricName is longer than {MAX_METRIC_NAME} characters")
            target = self._target(request.scaledObjectRef)
            total = await read_total(self.provider, target)
        except (BadMetadata, UnknownTarget, ProviderError) as exc:
            await self._fail("GetMetrics", context, exc)
        self._count("GetMetrics", grpc.StatusCode.OK)
        value = self.pb.MetricValue(
            metricName=request.metricName or target.metric,
            metricValue=math.ceil(total),
            metricValueFloat=total,
        )
        return self.pb.GetMetricsResponse(metricValues=[value])

    async def StreamMetricSpec(  # noqa: N802
        self, request: Any, context: grpc.aio.ServicerContext
    ) -> AsyncIterator[Any]:
        self._count("StreamMetricSpec", grpc.StatusCode.UNIMPLEMENTED)
        await context.abort(
            grpc.StatusCode.UNIMPLEMENTED, "targets come from the ScaledObject; poll GetMetricSpec"
        )
        yield  # an async generator, as the streaming RPC expects
