"""Which series a snapshot value is made of, according to the config (not the snapshot).

A value is all-or-nothing: the queues configured for the classes a request selects must
each have been read in the last cycle (`queue_up 1`, fresh) and must each have the metric's
series, or the value is unavailable. Looking only at what happens to be in the snapshot
would turn a queue that vanished (its target down, its key turned WRONGTYPE) into a smaller
sum that looks right.
"""

from __future__ import annotations

from dataclasses import dataclass

from exporter import catalog
from exporter.config import Config, Queue


def _produces(metric: str, queue: Queue) -> bool:
    """Whether every healthy read of `queue` writes `metric` (True) or may omit it (False)."""
    if metric == catalog.QUEUE_DEPTH.name:
        return True  # a stream of unknown lag leaves depth out: that is a missing value
    if metric == catalog.QUEUE_OLDEST_AGE.name:
        if queue.kind == "redis_list":
            return bool(getattr(queue, "age_field", None))
        # a postgres_query queue has an age column only if its query returns one
        return queue.kind in ("redis_zset", "redis_stream")
    return False


@dataclass(frozen=True)
class ExpectedSeries:
    """One configured queue a value needs: its labels and whether the metric must be there."""

    labels: dict[str, str]
    required: bool


def expected_series(config: Config, metric: str) -> list[ExpectedSeries]:
    """The configured queue series of a queue metric; [] for any other metric."""
    spec = catalog.spec(metric)
    if spec.labels != catalog.QUEUE_LABELS:
        return []
    return [
        ExpectedSeries({"component_class": c.name, "queue": q.name}, _produces(metric, q))
        for c in config.component_classes
        for q in c.queues
    ]
