"""The per-target collector base and the helper that builds one collector per target."""

from __future__ import annotations

from collections.abc import Sequence

from exporter.collectors.queues.common import QueueTargetCollector
from exporter.collectors.target import TargetCollector, per_target
from exporter.config import PostgresTarget, RedisTarget, Schedule
from exporter.snapshot import Sample


class _Probe(TargetCollector[PostgresTarget]):
    name = "probe"

    def _setup(self) -> None:
        # What a subclass may rely on when it builds its own state.
        self.seen = (self.config, self.target, dict(self._labels), self.interval, self.timeout)

    async def collect(self) -> Sequence[Sample]:
        return []


class _QueueProbe(QueueTargetCollector[RedisTarget]):
    name = "queue_probe"

    def _setup(self) -> None:
        self.queues_at_setup = list(self.queues)

    async def collect(self) -> Sequence[Sample]:
        return []


def test_base_sets_target_schedule_and_labels_before_setup() -> None:
    target = PostgresTarget(name="main", dsn="postgresql://u@127.0.0.1:1/db")
    probe = _Probe(target, 7.0, 3.0)
    assert probe.seen == (target, "main", {"target": "main"}, 7.0, 3.0)
    assert probe.owner == "probe/main"


def test_per_target_builds_one_collector_per_target_on_the_schedule() -> None:
    targets = [PostgresTarget(name=name, dsn=f"postgresql://u@127.0.0.1:1/{name}") for name in "ab"]
    built = per_target(Schedule(interval_seconds=9.0, timeout_seconds=4.0), targets, _Probe)
    assert [(c.target, c.interval, c.timeout) for c in built] == [("a", 9.0, 4.0), ("b", 9.0, 4.0)]
    assert per_target(Schedule(interval_seconds=9.0, timeout_seconds=4.0), [], _Probe) == []


def test_per_target_hands_each_target_its_queues() -> None:
    targets = [RedisTarget(name=name, url="redis://127.0.0.1:1/0") for name in ("a", "b")]
    built = per_target(
        Schedule(interval_seconds=1.0, timeout_seconds=0.5),
        targets,
        _QueueProbe,
        {"a": ["q1", "q2"]},
    )
    # Queues are set before `_setup` runs; a target without queues gets none.
    assert [(c.target, c.queues_at_setup) for c in built] == [("a", ["q1", "q2"]), ("b", [])]
