"""What every per-target collector shares: the configured target it measures, its schedule,
and the one helper that builds one collector per target.

A per-target collector (PostgreSQL health, Redis health, a Redis cluster, the queue readers)
measures one configured server: `config` holds the target (address, password source,
`collect` switches), `target` is its name (the `target` label and the snapshot owner key),
`_labels` the labels of the target's own series. Failure semantics are the runtime's
(`exporter.runtime.Collector`): `collect` raises, `failure_samples` says what a failed run
writes, everything else stays stale.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Generic, TypeVar

from exporter.config import Schedule
from exporter.config.targets import Target
from exporter.runtime import Collector

TargetT = TypeVar("TargetT", bound=Target)
C = TypeVar("C", bound=Collector)


class TargetCollector(Collector, Generic[TargetT]):
    """A collector of one configured target, run every `interval` seconds with a hard
    `timeout` (both kept by `exporter.runtime.Collector`).

    Subclasses set `name`, implement `collect` (and `failure_samples`, `close` as they need)
    and build what they hold besides the target in `_setup`, so the constructor, with its
    signature, is written once here.
    """

    def __init__(self, target: TargetT, interval: float, timeout: float) -> None:
        super().__init__(interval, timeout)
        self.config: TargetT = target
        self.target = target.name
        self._labels = {"target": target.name}
        self._setup()

    def _setup(self) -> None:  # noqa: B027 - an optional hook, not abstract
        """Build the collector's own state (pools, clients, parsed views). Called once, by
        the constructor, when `config`, `target`, `_labels`, `interval` and `timeout` (and a
        queue reader's `queues`) are set; it must not do I/O (an absent server must not stop
        start-up: connect in `collect`)."""


def per_target(
    schedule: Schedule,
    targets: Iterable[TargetT],
    make: Callable[..., C],
    queues: Mapping[str, Sequence[object]] | None = None,
) -> list[C]:
    """One collector per target, each on `schedule`'s interval and timeout (the kind of
    collection it is: `config.collection.health` or `.queues`):
    `make(target, interval, timeout)`, or with `queues` (queue references by target name)
    `make(target, that target's queues, interval, timeout)`. The caller picks the targets
    (its `collect` switches, its mode); a target with no queues gets an empty list."""
    interval, timeout = schedule.interval_seconds, schedule.timeout_seconds
    if queues is None:
        return [make(target, interval, timeout) for target in targets]
    return [make(target, queues.get(target.name, ()), interval, timeout) for target in targets]
