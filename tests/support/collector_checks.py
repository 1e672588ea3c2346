"""Checks shared by the health-collector tests."""

from __future__ import annotations

from exporter.runtime import Collector, Runtime
from exporter.snapshot import Snapshot


async def assert_cycle_fails_with_up_0(collector: Collector, up_metric: str) -> None:
    """One runtime cycle of `collector` fails, leaving `<up_metric>{target} 0` and
    `exporter_collector_up 0` in the snapshot; closes the collector."""
    snapshot = Snapshot()
    runtime = Runtime(snapshot, [collector])
    try:
        assert not await runtime.run_once(collector)
    finally:
        await collector.close()
    assert snapshot.value(up_metric, {"target": collector.target}) == 0
    up = {"collector": collector.name, "target": collector.target}
    assert snapshot.value("exporter_collector_up", up) == 0
