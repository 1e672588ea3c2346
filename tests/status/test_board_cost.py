"""The status board's cost: rows built only when someone looks, the sync in slices that
give the loop back, and each class read from its own series (real Snapshot, Runtime and
metrics-API provider). No timing here: the bench (bench/scale.py) measures the cost."""

from __future__ import annotations

import asyncio
import json

import yaml

from exporter import catalog
from exporter.config import Config
from exporter.config.loading import default_config_text
from exporter.runtime import Runtime
from exporter.snapshot import Sample, Snapshot
from exporter.status import StatusBoard
from exporter.status import board as board_module
from tests.support.loop_ticks import LoopTicks


def _config(n: int) -> Config:
    data = yaml.safe_load(default_config_text())
    data["gpu"] = "off"
    data["component_classes"] = [
        {
            "name": f"c{i}",
            "workload": {"kind": "Deployment", "name": f"component-c{i}"},
            "queues": [
                {"name": f"jobs:c{i}", "kind": "redis_list", "target": "main", "key": f"jobs:c{i}"}
            ],  # fmt: skip
            "scale_on": [{"metric": "queue_depth", "target_average_value": 2}],
        }
        for i in range(n)
    ]
    return Config.model_validate(data)


def _board(n: int) -> tuple[StatusBoard, Snapshot]:
    config = _config(n)
    snapshot = Snapshot()
    runtime = Runtime(snapshot, [])
    runtime.ready.set()
    samples = []
    for i in range(n):
        labels = {"component_class": f"c{i}", "queue": f"jobs:c{i}"}
        samples += [Sample(catalog.QUEUE_DEPTH, labels, i), Sample(catalog.QUEUE_UP, labels, 1)]
    snapshot.replace("queues", samples)
    return StatusBoard(config, snapshot, runtime), snapshot


async def test_rows_are_built_when_someone_looks_and_kept_while_they_do():
    board, _ = _board(5)
    await board.sync()
    assert all(s.row == {} and s.last is not None for s in board.classes)  # nobody looked
    # the controller history is kept all the same: c4's 4 jobs at 2 per pod want 2 replicas
    assert board.classes[4].simulated == 2
    doc = board.document()  # a look builds every row from the last sync
    rows = {r["name"]: r for r in doc["classes"]}
    assert rows["c4"]["decision"]["desired"] == 2
    assert rows["c4"]["signals"][0]["value"] == 4
    assert "namespace" not in rows["c4"]  # the top-level namespace: as before
    await board.sync()  # watched now: the sync builds them itself
    assert all(s.row for s in board.classes)


async def test_sync_gives_the_loop_back_between_classes(monkeypatch):
    monkeypatch.setattr(board_module, "SLICE_SECONDS", 0.0)  # a slice per class
    board, _ = _board(50)
    async with LoopTicks() as ticks:
        before = ticks.count
        await board.sync()
        ran, ticks_before_prepare = ticks.count - before, ticks.count
        await board.prepare()  # a first look builds the rows in slices too
        prepared = ticks.count - ticks_before_prepare
    assert ran >= 49
    assert prepared >= 49
    assert all(s.row for s in board.classes)


async def test_each_class_reads_only_its_own_series(monkeypatch):
    """One class's read goes through the label index: it never looks at another class's
    series (the cost of a read is what it returns)."""
    board, snapshot = _board(30)
    seen: list[dict] = []
    real = snapshot.select

    def select(name, pinned=None):
        out = real(name, pinned)
        seen.extend(dict(s.labels) for s in out)
        return out

    monkeypatch.setattr(snapshot, "select", select)
    await board.sync()
    depth = [labels for labels in seen if "queue" in labels]
    assert len(depth) == 30  # one series per class read, none scanned past
    assert sorted(labels["component_class"] for labels in depth) == sorted(
        f"c{i}" for i in range(30)
    )


async def test_status_json_splices_cached_rows_into_the_document():
    board, _ = _board(4)
    pending = json.loads(board.document_json())
    assert [c.get("pending") for c in pending["classes"]] == [True] * 4
    await board.sync()
    first = json.loads(board.document_json())  # a first look: rows built and encoded now
    assert all(s.row_json for s in board.classes)
    again = board.document()
    assert first["classes"] == again["classes"]
    assert {k: v for k, v in first.items() if k not in ("classes", "generated_at",
            "synced_age_seconds")} == {k: v for k, v in again.items() if k not in (
            "classes", "generated_at", "synced_age_seconds")}  # fmt: skip


async def test_nobody_looking_syncs_at_the_hpa_period_a_look_at_the_interval():
    """Unwatched, the loop syncs once per HPA controller period (what the history needs);
    once someone reads the document it syncs every interval, until a minute without looks."""
    board, _ = _board(3)
    now = [1000.0]
    board.clock = lambda: now[0]
    board.sync_seconds = 0.01
    syncs = []
    real_sync = board.sync

    async def counting() -> None:
        syncs.append(now[0])
        await real_sync()

    board.sync = counting  # type: ignore[method-assign]
    board.start()
    try:
        await asyncio.sleep(0.1)
        assert len(syncs) == 1  # ten intervals passed, no look: no sync
        now[0] += board_module.HPA_SYNC_SECONDS
        await asyncio.sleep(0.1)
        assert len(syncs) == 2  # the controller's period passed
        board.document()  # someone looks
        await asyncio.sleep(0.1)
        assert len(syncs) >= 4  # every interval now
        now[0] += board_module.WATCH_SECONDS + 1  # nobody looked for a minute: one more sync
        await asyncio.sleep(0.05)
        settled = len(syncs)
        await asyncio.sleep(0.1)
        assert len(syncs) == settled
    finally:
        await board.stop()
