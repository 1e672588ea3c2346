"""What every queue collector shares: the queue's identity, per-queue errors and their logs."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property

from exporter import catalog
from exporter.collectors.target import TargetCollector, TargetT
from exporter.config import Queue
from exporter.snapshot import Sample
from exporter.values import checked

log = logging.getLogger("exporter.collectors.queues")


# An enqueue time more than this long ago is garbage (a zero or a mangled field), not a job
# that has waited for a decade.
MAX_JOB_AGE_SECONDS = 10 * 365 * 86400.0


def job_age(now: float, enqueued: float) -> tuple[float, bool]:
    """(age in seconds, whether `enqueued` lay in the future) for a job enqueued at
    `enqueued` (unix seconds). A future time is clock skew: age 0. ValueError for a time
    that is not a finite number or lies more than MAX_JOB_AGE_SECONDS in the past."""
    enqueued = checked(enqueued)
    if enqueued > now:
        return 0.0, True
    age = now - enqueued
    if age > MAX_JOB_AGE_SECONDS:
        raise ValueError(f"the enqueue time {enqueued:g} is more than 10 years ago")
    return age, False


class QueueError(Exception):
    """A fault of one queue (wrong key type, bad SQL): reported on that queue only."""


@dataclass(frozen=True)
class QueueRef:
    """A configured queue together with the component class it feeds."""

    component_class: str
    queue: Queue

    @cached_property  # read per queue per cycle: built once
    def labels(self) -> dict[str, str]:
        return {"component_class": self.component_class, "queue": self.queue.name}

    def describe(self) -> str:
        return f"queue {self.queue.name!r} of class {self.component_class!r}"


class QueueHealth:
    """Logs a queue's fault once when it starts (or changes), and once when it clears.

    A wrong key type or bad SQL would otherwise log every cycle; `queue_up 0` carries the
    state between the two log lines.
    """

    def __init__(self, collector: str, target: str) -> None:
        self._where = f"{collector} target {target!r}"
        self._errors: dict[tuple[str, str, str], str] = {}
        self._skew: dict[tuple[str, str], int] = {}

    def age(self, ref: QueueRef, now: float, enqueued: float, future_is_skew: bool = True) -> float:
        """The oldest job's age (see `job_age`); a future time is counted as clock skew
        (`queue_clock_skew_total`) unless the queue holds future times by design (`zset`)."""
        age, future = job_age(now, enqueued)
        if future and future_is_skew:
            key = (ref.component_class, ref.queue.name)
            if not self._skew.get(key):
                log.warning(
                    "%s: %s: the oldest job was enqueued in the future (clock skew); its "
                    "age is read as 0",
                    self._where,
                    ref.describe(),
                )
            self._skew[key] = self._skew.get(key, 0) + 1
        return age

    def skew_samples(self, refs: list[QueueRef]) -> list[Sample]:
        """`queue_clock_skew_total` of every queue (0 until skew is seen)."""
        return [
            Sample(
                catalog.QUEUE_CLOCK_SKEW,
                ref.labels,
                self._skew.get((ref.component_class, ref.queue.name), 0),
            )
            for ref in refs
        ]

    def ok(self, ref: QueueRef, what: str = "read") -> None:
        key = (ref.component_class, ref.queue.name, what)
        if self._errors.pop(key, None) is not None:
            log.info("%s: %s recovered (%s)", self._where, ref.describe(), what)

    def failed(
        self, ref: QueueRef, error: str, what: str = "read", level: int = logging.WARNING
    ) -> None:
        key = (ref.component_class, ref.queue.name, what)
        if self._errors.get(key) != error:
            log.log(level, "%s: %s: %s", self._where, ref.describe(), error)
        self._errors[key] = error


def up(ref: QueueRef, value: int) -> Sample:
    return Sample(catalog.QUEUE_UP, ref.labels, value)


def failure_samples(refs: list[QueueRef]) -> list[Sample]:
    """The whole target is unreachable: every queue is down, its values stay stale."""
    return [up(ref, 0) for ref in refs]


class QueueTargetCollector(TargetCollector[TargetT]):
    """A per-target collector that also reads the queues living on its target (`queues`, in
    config order). A failed run marks every one of them down (`queue_up 0`)."""

    def __init__(
        self, target: TargetT, queues: Sequence[QueueRef], interval: float, timeout: float
    ) -> None:
        self.queues = list(queues)  # before the base constructor: `_setup` reads it
        super().__init__(target, interval, timeout)

    def failure_samples(self) -> Sequence[Sample]:
        return failure_samples(self.queues)
