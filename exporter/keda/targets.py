"""What a ScaledObjectRef asks about: a component class, one of its metrics, and thresholds.

`scalerMetadata` keys (KEDA passes the trigger's `metadata` through): `componentClass` and
`metric` are required; `targetValue` and `activationThreshold` override the class's
`scale_on` entry for that metric. The value read is the class total: the external metric
summed over the class's series, or a `pods` custom metric summed over the class's pods
(which KEDA, with `metricType: AverageValue`, divides by the replica count as an HPA
`type: Pods` target would).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

from exporter.config import Config
from exporter.metrics_api.providers.base import MetricsProvider, Unavailable
from exporter.metrics_api.selectors import Selector, parse

ECHO_CHARS = 64  # the most of any client string an error message repeats


def short(text: str) -> str:
    """`text` quoted for an error message, cut to ECHO_CHARS: a client's 3 MB name must not
    come back (or sit in a log) at length."""
    if len(text) <= ECHO_CHARS:
        return repr(text)
    return f"{text[:ECHO_CHARS]!r}... ({len(text)} characters)"


class BadMetadata(ValueError):
    """The metadata is malformed or incomplete (gRPC INVALID_ARGUMENT)."""


class UnknownTarget(LookupError):
    """No such component class, or a metric nobody serves (gRPC NOT_FOUND)."""


@dataclass(frozen=True)
class Target:
    namespace: str
    component_class: str
    metric: str
    kind: Literal["external", "pods"]
    target_value: float
    activation_threshold: float


def _number(metadata: Mapping[str, str], key: str, minimum: float, strict: bool) -> float | None:
    raw = metadata.get(key)
    if raw is None or raw == "":
        return None
    try:
        value = float(raw)
    except ValueError:
        raise BadMetadata(f"scalerMetadata.{key} must be a number, got {short(raw)}") from None
    if not math.isfinite(value) or value < minimum or (strict and value == minimum):
        bound = ">" if strict else ">="
        raise BadMetadata(f"scalerMetadata.{key} must be {bound} {minimum:g}, got {short(raw)}")
    return value


def resolve(config: Config, namespace: str, metadata: Mapping[str, str]) -> Target:
    """The target a ref names; BadMetadata or UnknownTarget say why not. A ref with more
    than `autoscaling.keda.max_metadata_keys` keys is refused before any is read (KEDA
    passes the trigger's few metadata keys; 100 000 of them are not a trigger)."""
    if len(metadata) > config.autoscaling.keda.max_metadata_keys:
        raise BadMetadata(
            f"scalerMetadata has {len(metadata)} keys, over the "
            f"{config.autoscaling.keda.max_metadata_keys} allowed"
        )
    missing = [k for k in ("componentClass", "metric") if not metadata.get(k)]
    if missing:
        raise BadMetadata(f"scalerMetadata needs {' and '.join(missing)}")
    name, metric = metadata["componentClass"], metadata["metric"]
    try:
        cls = config.component_class(name)
    except KeyError:
        known = sorted(c.name for c in config.component_classes)
        raise UnknownTarget(f"no component class {short(name)} (have {known})") from None
    target = _number(metadata, "targetValue", 0.0, strict=True)
    activation = _number(metadata, "activationThreshold", 0.0, strict=False)
    entry = next((s for s in cls.scale_on if s.metric == metric), None)
    if entry is not None:
        kind = entry.type
        target = entry.target_average_value if target is None else target
        activation = entry.activation_threshold if activation is None else activation
    elif metric in {m.name for m in config.metrics_api.external}:
        kind = "external"
    elif metric in {m.name for m in config.metrics_api.custom}:
        kind = "pods"
    else:
        raise UnknownTarget(f"metric {short(metric)} is served by neither metrics API")
    if target is None:
        raise BadMetadata(
            f"scalerMetadata.targetValue is needed: class {name!r} does not scale on "
            f"{short(metric)}"
        )
    namespace = namespace or config.class_namespace(cls)  # the provider 404s another one
    return Target(namespace, name, metric, kind, target, activation or 0.0)


def class_selector(component_class: str) -> Selector:
    return parse(f"component_class={component_class}")


async def read_total(provider: MetricsProvider, target: Target) -> float:
    """The class total now: fresh series summed, or Unavailable (never a partial sum; the
    provider refuses the whole answer when any selected series is stale)."""
    selector = class_selector(target.component_class)
    if target.kind == "external":
        values = await provider.external_metric(target.namespace, target.metric, selector)
        if not values:
            raise Unavailable(
                f"no series of {target.metric!r} for class {target.component_class!r} yet"
            )
    else:  # no pods (scaled to zero) is a total of 0, not a missing value
        values = await provider.pods_metric(
            target.namespace, None, target.metric, selector, Selector()
        )
    return sum(v.value for v in values)
