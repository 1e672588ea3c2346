"""The controller's per-HPA memory: past recommendations and past scale events.

Ports `recordInitialRecommendation`, `storeScaleEvent`, `markScaleEventsOutdated` and
`getReplicasChangePerPeriod` from kubernetes/kubernetes
pkg/controller/podautoscaler/horizontal.go. Everything is immutable: each function returns a
new `History`, so a caller can keep, compare or replay any step. Times are seconds on any
monotonic clock (the simulator uses the trace's seconds).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from exporter.autoscaling.spec import Behavior


@dataclass(frozen=True)
class Recommendation:
    """timestampedRecommendation: an unstabilised replica count and when it was made."""

    replicas: int
    at: float


@dataclass(frozen=True)
class ScaleEvent:
    """timestampedScaleEvent: `change` pods added (scale-up list) or removed (scale-down)."""

    change: int
    at: float
    outdated: bool = False


@dataclass(frozen=True)
class History:
    """The controller's maps for one HPA key.

    `recommendations=None` means the controller has never seen this HPA (a nil slice
    upstream): its first sync records the current replica count as a recommendation.
    """

    recommendations: tuple[Recommendation, ...] | None = None
    scale_up_events: tuple[ScaleEvent, ...] = ()
    scale_down_events: tuple[ScaleEvent, ...] = ()


def record_initial_recommendation(history: History, current: int, now: float) -> History:
    """recordInitialRecommendation: seed the log with the current size on the first sync."""
    if history.recommendations is not None:
        return history
    return replace(history, recommendations=(Recommendation(current, now),))


def replicas_change_per_period(
    period_seconds: int, events: tuple[ScaleEvent, ...], now: float
) -> int:
    """getReplicasChangePerPeriod: pods changed by events strictly newer than now - period."""
    cutoff = now - period_seconds
    return sum(e.change for e in events if e.at > cutoff)


def mark_outdated(
    events: tuple[ScaleEvent, ...], longest_period: int, now: float
) -> tuple[ScaleEvent, ...]:
    """markScaleEventsOutdated: events older than the longest policy period may be reused."""
    cutoff = now - longest_period
    return tuple(replace(e, outdated=True) if e.at < cutoff else e for e in events)


def _store(
    events: tuple[ScaleEvent, ...], longest: int, change: int, now: float
) -> tuple[ScaleEvent, ...]:
    marked = list(mark_outdated(events, longest, now))
    new = ScaleEvent(change, now)
    # Upstream replaces the *last* outdated slot, else appends.
    slots = [i for i, e in enumerate(marked) if e.outdated]
    if slots:
        marked[slots[-1]] = new
    else:
        marked.append(new)
    return tuple(marked)


def store_scale_event(
    history: History, behavior: Behavior | None, prev: int, new: int, now: float
) -> History:
    """storeScaleEvent: remember a rescale from `prev` to `new` replicas.

    Without a behavior nothing is stored (the legacy path never reads events). A change of
    zero counts as a scale-down of zero pods, as upstream.
    """
    if behavior is None:
        return history
    if new > prev:
        longest = behavior.scale_up.longest_policy_period
        events = _store(history.scale_up_events, longest, new - prev, now)
        return replace(history, scale_up_events=events)
    longest = behavior.scale_down.longest_policy_period
    events = _store(history.scale_down_events, longest, prev - new, now)
    return replace(history, scale_down_events=events)
