"""The runtime: timeouts, stale values on failure, self-metrics, one log line per transition."""

from __future__ import annotations

import asyncio
import logging

from exporter import catalog
from exporter.runtime import Collector, Runtime
from exporter.snapshot import Sample, Snapshot

LABELS = {"collector": "scripted", "target": "t"}


class Scripted(Collector):
    """A collector whose runs follow a script: a number to report, 'fail' or 'hang'."""

    name = "scripted"
    target = "t"

    def __init__(self, script: list, interval: float = 0.05, timeout: float = 0.2) -> None:
        super().__init__(interval, timeout)
        self.script = list(script)
        self.closed = False

    async def collect(self):
        step = self.script.pop(0) if self.script else self.script_last
        self.script_last = step
        if step == "fail":
            raise ConnectionError("refused")
        if step == "hang":
            await asyncio.sleep(3600)
        return [
            Sample(catalog.REDIS_UP, {"target": "t"}, 1),
            Sample(catalog.REDIS_CONNECTED_CLIENTS, {"target": "t"}, step),
        ]

    def failure_samples(self):
        return [Sample(catalog.REDIS_UP, {"target": "t"}, 0)]

    async def close(self):
        self.closed = True


async def test_success_failure_timeout_and_recovery():
    snap = Snapshot()
    collector = Scripted([5, "fail", "hang", 7])
    runtime = Runtime(snap, [collector])

    assert await runtime.run_once(collector)
    assert snap.value("redis_connected_clients", {"target": "t"}) == 5
    assert snap.value("exporter_collector_up", LABELS) == 1
    assert snap.value("exporter_collector_errors_total", LABELS) == 0

    assert not await runtime.run_once(collector)  # fails: stale value kept, up 0
    assert snap.value("redis_up", {"target": "t"}) == 0
    assert snap.value("redis_connected_clients", {"target": "t"}) == 5
    assert snap.value("exporter_collector_up", LABELS) == 0
    assert snap.value("exporter_collector_errors_total", LABELS) == 1

    assert not await runtime.run_once(collector)  # hangs: cut at the timeout
    assert snap.value("exporter_collector_errors_total", LABELS) == 2
    assert snap.value("exporter_collector_duration_seconds", LABELS) < 1.0

    assert await runtime.run_once(collector)
    assert snap.value("redis_up", {"target": "t"}) == 1
    assert snap.value("redis_connected_clients", {"target": "t"}) == 7
    assert snap.value("exporter_collector_last_success_timestamp_seconds", LABELS) > 0


async def test_one_warning_per_failure_streak(caplog):
    snap = Snapshot()
    collector = Scripted([1, "fail", "fail", "fail", 2, "fail"])
    runtime = Runtime(snap, [collector])
    with caplog.at_level(logging.INFO, logger="exporter.runtime"):
        for _ in range(6):
            await runtime.run_once(collector)
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    infos = [r.getMessage() for r in caplog.records if r.levelno == logging.INFO]
    assert warnings == ["scripted target 't' is failing: ConnectionError: refused"] * 2
    assert infos == ["scripted target 't' recovered"]


async def test_ready_after_every_collector_ran_once_and_stop_closes():
    snap = Snapshot()
    slow, fast = Scripted(["hang", 1], timeout=0.3), Scripted([1])
    fast.target = "fast"
    runtime = Runtime(snap, [slow, fast])
    runtime.start()
    await asyncio.sleep(0.1)
    assert not runtime.ready.is_set()  # the hung one has not finished its first run
    await asyncio.wait_for(runtime.ready.wait(), 2)
    await runtime.stop()
    assert slow.closed and fast.closed
