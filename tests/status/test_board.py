"""The status board and its pieces, in process: the HPA algorithm over time, redaction,
sparklines, sentences. Real Snapshot, Runtime and metrics-API provider; a settable clock."""

from __future__ import annotations

import asyncio
import json

from exporter import catalog
from exporter.config import load_config
from exporter.runtime import Collector, Runtime
from exporter.simulate.run import simulate_class
from exporter.simulate.trace import Trace
from exporter.snapshot import Sample, Snapshot
from exporter.status import StatusApp, StatusBoard
from exporter.status.explain import explain_text, sentence
from exporter.status.page import render
from exporter.status.sparkline import Ring, sparkline

GPU_QUEUE = {"component_class": "gpu", "queue": "jobs:gpu"}


class Clock:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


def _board(collectors=()) -> tuple[StatusBoard, Snapshot, Clock]:
    config = load_config(None, environ={"EXPORTER_GPU": "off"})
    snapshot, clock = Snapshot(), Clock()
    runtime = Runtime(snapshot, list(collectors))
    runtime.ready.set()
    return StatusBoard(config, snapshot, runtime, clock=clock), snapshot, clock


def _queue(depth: float) -> list[Sample]:
    """What a queue collector publishes for a read: the depth and queue_up 1 (a value is
    served only when every configured queue was read)."""
    return [Sample(catalog.QUEUE_DEPTH, GPU_QUEUE, depth), Sample(catalog.QUEUE_UP, GPU_QUEUE, 1)]


def _gpu(board: StatusBoard) -> dict:
    return next(c for c in board.document()["classes"] if c["name"] == "gpu")


async def test_board_over_a_burst_matches_the_simulator():
    """40 jobs for 2 minutes, then none: the board (syncing every 15 s on live snapshot
    values through the provider) decides exactly what `exporter simulate` does."""
    board, snapshot, clock = _board()
    start = clock.now
    trace = Trace({("gpu", "queue_depth"): ([0.0, 120.0], [40.0, 0.0])}, end=900.0)
    expected = simulate_class(board.config.component_class("gpu"), trace, 15)
    seen = []
    for step in expected.steps:
        clock.now = start + step.seconds
        value = trace.value_at("gpu", "queue_depth", step.seconds)
        snapshot.update("queues", _queue(value), clock.now)
        await board.sync()
        d = _gpu(board)["decision"]
        seen.append((d["desired"], d["reason"]))
    assert seen == [(s.decision.replicas, s.decision.reason) for s in expected.steps]
    desired = [d for d, _ in seen]
    assert max(desired) == 8 and desired[-1] == 1  # up to max_replicas, back to min
    # no scale-down while the last high recommendation (105 s) is inside the 300 s window
    assert all(d == 8 for d, t in zip(desired, range(0, 901, 15), strict=True) if 105 <= t <= 390)
    assert desired[405 // 15] == 4  # then at most -50 % per 60 s
    history = _gpu(board)["decision"]["history"]
    assert len(history) == len(expected.steps)


async def test_stale_value_is_unavailable_with_the_reason():
    board, snapshot, clock = _board()
    snapshot.update("queues", _queue(40), clock.now)
    clock.now += 60  # 60 queue intervals of 1 s: stale after 3 s
    await board.sync()
    gpu = _gpu(board)
    (sig,) = gpu["signals"]
    assert sig["value"] is None and sig["fresh"] is False
    assert "was last collected 60s ago (stale after 3s)" in sig["unavailable"]
    assert gpu["decision"]["reason"] == "FailedGetExternalMetric"
    text = sentence(gpu)
    assert text.startswith('gpu: queue_depth unavailable (snapshot: metric "queue_depth" is ')
    assert "holds at 1 (FailedGetExternalMetric" in text


async def test_within_tolerance_sentence():
    board, snapshot, clock = _board()
    snapshot.update("queues", _queue(2.1), clock.now)
    await board.sync()
    gpu = _gpu(board)
    assert gpu["signals"][0]["within_tolerance"] is True
    assert "= 2.1 per replica at 1, within the tolerance band 1.8..2.2 -> stays 1" in sentence(gpu)
    assert gpu["decision"]["desired"] == 1


class Failing(Collector):
    name = "redis"
    target = "main"

    async def collect(self):
        raise ConnectionError("cannot reach redis://app:hunter2@db.internal:6379/0")


async def test_collector_errors_are_redacted_everywhere():
    board, _, _ = _board([Failing(5, 1)])
    await board.runtime.run_once(board.runtime.collectors[0])
    await board.sync()
    doc = board.document()
    (row,) = doc["targets"]
    assert row["up"] is False
    assert row["last_error"] == "ConnectionError: cannot reach redis://app:***@db.internal:6379/0"
    assert doc["collectors"] == [{"collector": "redis", "up": 0, "down": 1, "pending": 0,
                                  "healthy": False}]  # fmt: skip
    app = StatusApp(board)
    for path in ("/", "/status.json"):
        status, _, body = app.respond(path)
        assert status == 200 and b"hunter2" not in body and b"app:***@" in body
    assert "hunter2" not in explain_text(doc)
    assert "targets down: redis/main: ConnectionError" in explain_text(doc)


async def test_asgi_app_serves_json_html_and_404():
    board, _, _ = _board()
    await board.sync()
    app = StatusApp(board)
    sent: list[dict] = []

    async def send(message):
        sent.append(message)

    async def call(path, method="GET"):
        sent.clear()
        await app({"type": "http", "method": method, "path": path}, None, send)
        return sent[0]["status"], dict(sent[0]["headers"]), sent[1]["body"]

    status, headers, body = await call("/status.json")
    assert status == 200 and headers[b"content-type"] == b"application/json"
    assert [c["name"] for c in json.loads(body)["classes"]] == ["cpu", "gpu", "memory"]
    status, headers, body = await call("/")
    assert headers[b"content-type"].startswith(b"text/html") and b"<svg" in body
    assert (await call("/nope"))[0] == 404
    status, headers, _ = await call("/", "POST")
    assert status == 405 and headers[b"allow"] == b"GET, HEAD"


def test_ring_is_bounded_and_sparkline_breaks_at_gaps():
    ring = Ring(capacity=5)
    for i in range(12):
        ring.add(float(i), None if i == 9 else float(i))
    assert [t for t, _ in ring.values()] == [7.0, 8.0, 9.0, 10.0, 11.0]
    svg = sparkline(ring.values(), target=10)
    assert svg.count("<polyline") == 2  # 7-8 | gap | 10-11
    assert 'stroke-dasharray="3,3"' in svg  # the target line
    assert sparkline([]).startswith("<svg") and "<polyline" not in sparkline([])


def test_page_escapes_and_refreshes():
    doc = {"environment": "<dev>", "namespace": "p", "synced_age_seconds": None,
           "sync_seconds": 5, "ready": False, "classes": [{"name": "x", "pending": True}],
           "targets": [], "collectors": []}  # fmt: skip
    html = render(doc)
    assert "&lt;dev&gt;" in html and "<dev>" not in html
    assert '<meta http-equiv="refresh" content="5">' in html
    assert "x: not evaluated yet" in html


def test_sync_loop_starts_and_stops():
    async def run():
        board, _, _ = _board()
        board.sync_seconds = 0.01
        board.start()
        await asyncio.sleep(0.1)
        await board.stop()
        return board.synced_at

    assert asyncio.run(run()) is not None


async def test_metrics_api_off_means_no_value_and_no_flags():
    config = load_config(
        None, environ={"EXPORTER_GPU": "off", "EXPORTER_METRICS_API__ENABLED": "false"}
    )
    snapshot, clock = Snapshot(), Clock()
    runtime = Runtime(snapshot, [])
    board = StatusBoard(config, snapshot, runtime, clock=clock)
    snapshot.update("queues", _queue(40), clock.now)
    await board.sync()
    (sig,) = _gpu(board)["signals"]
    assert sig["value"] is None
    assert sig["unavailable"].startswith("the metrics API is disabled (metrics_api.enabled: false)")
    assert snapshot.series(catalog.METRICS_API_FALLBACK.name) == []


def test_pods_reading_counts_pods_the_live_hpa_has_but_the_api_lacks():
    """A Pods signal: per-pod values as the custom metrics API gives them; when the live HPA
    counts more replicas than pods report, the rest are upstream's "missing" pods (on target
    when scaling down), so 2 pods at 2 against 10 with 3 replicas asks for 2, not 1."""
    from exporter.autoscaling import MetricSpec
    from exporter.autoscaling.replicas import propose
    from exporter.status.signals import Reading

    reading = Reading("streams", "promql", 2.0, 0.1, 2, kind="Pods", pods=(("a", 2), ("b", 2)))
    spec = MetricSpec("Pods", "streams", "AverageValue", 10)
    live = reading.observation(3, live=True)
    assert [p.value for p in live] == [2, 2, None]
    assert propose(spec, live, 3, 3, 3, 0.1).replicas == 2
    simulated = reading.observation(3, live=False)  # no pod list: the reporting pods only
    assert propose(spec, simulated, 3, 3, 3, 0.1).replicas == 1
    assert Reading("streams", "promql", None, None, 0, kind="Pods").observation(3, True) is None
