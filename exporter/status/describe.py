"""The JSON shapes of `/status.json`: a signal, a decision, a class's behavior.

Plain dicts of numbers and strings, so the HTML page, `exporter explain` and any other client
render the same document. Times are ages in seconds; sparkline points are [unix time, value]
with null where the value was unavailable.
"""

from __future__ import annotations

import math
from typing import Any

from exporter.autoscaling import Decision, MetricProposal, MetricSpec
from exporter.autoscaling.model import scaling_rules
from exporter.config import ComponentClass
from exporter.status.signals import Reading


def _num(v: float | None, digits: int = 4) -> float | None:
    """JSON has no NaN or Infinity: a non-finite number is null."""
    return None if v is None or not math.isfinite(v) else round(float(v), digits)


def _points(points: list[tuple[float, float | None]]) -> list[list[float | None]]:
    return [[round(t, 1), _num(v)] for t, v in points]


def signal_row(
    spec: MetricSpec,
    reading: Reading,
    proposal: MetricProposal | None,
    tolerance: float,
    current: int,
    points: list[tuple[float, float | None]],
) -> dict[str, Any]:
    """One signal: what the HPA reads, its target, and what this metric alone proposes.

    External: `value` is the sum of the selected series. Pods: `value` is the mean of the
    per-pod values in `pods` ([pod, value] pairs); `per_replica` is the controller's average
    (its integer milli-value, missing pods filled in as upstream does)."""
    row = {
        "metric": spec.name,
        "kind": spec.kind,
        "target_type": spec.target_type,
        "target": spec.target,
        "source": reading.source or "not served",
        "value": _num(reading.value),
        "series": reading.series,
        "age_seconds": _num(reading.age, 3),
        "fresh": reading.value is not None and not reading.fallback,
        "fallback": reading.fallback,
        "fallback_reason": reading.fallback_reason,
        "unavailable": reading.unavailable,
        "per_replica": _num(proposal.current) if proposal else None,
        "ratio": _num(proposal.usage_ratio) if proposal else None,
        "within_tolerance": bool(proposal and proposal.within_tolerance),
        # AverageValue: the per-replica values that leave the current size alone
        "tolerance_band": [
            _num(spec.target * (1 - tolerance)),
            _num(spec.target * (1 + tolerance)),
        ],
        "proposal": proposal.replicas if proposal else None,
        "current": current,
        "error": proposal.error if proposal else None,
        "history": _points(points),
    }
    if spec.kind == "Pods":
        row["pods"] = [[pod, _num(v)] for pod, v in reading.pods]
    return row


def decision_row(
    d: Decision, current_source: str, points: list[tuple[float, float | None]]
) -> dict[str, Any]:
    """The controller's answer this sync, and the bound that shaped it."""
    rate = None
    if d.rate is not None:
        rate = {
            "select_policy": d.rate.select_policy,
            "limit": d.rate.limit,
            "chosen": d.rate.chosen.policy.describe() if d.rate.chosen else None,
            "policies": [
                {"policy": p.policy.describe(), "period_start": p.period_start, "limit": p.limit}
                for p in d.rate.policies
            ],
        }
    return {
        "current": d.current,
        "current_source": current_source,
        "proposal": d.proposal,
        "metric": d.metric,
        "stabilized": d.stabilized,
        "desired": d.replicas,
        "reason": d.reason,
        "message": d.message,
        "limited_by": d.limited_by,
        "rate": rate,
        "history": _points(points),
    }


def behavior_rows(cls: ComponentClass) -> dict[str, Any]:
    """Both behavior directions as the generated HPA carries them."""
    out = {}
    for key, rules in (
        ("scale_up", cls.behavior.scale_up),
        ("scale_down", cls.behavior.scale_down),
    ):
        r = scaling_rules(rules)
        out[key] = {
            "stabilization_window_seconds": r.stabilization_window_seconds,
            "select_policy": r.select_policy,
            "policies": [p.describe() for p in r.policies],
        }
    return out
