"""What every queue collector shares: the queue's identity, per-queue errors and their logs."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from functools import cached_property

from exporter import catalog
from exporter.config import Queue
from exporter.snapshot import Sample

log = logging.getLogger("exporter.collectors.queues")


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
