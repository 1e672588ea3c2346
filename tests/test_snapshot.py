"""The snapshot renders valid Prometheus text and OpenMetrics, and keeps owners apart."""

from __future__ import annotations

import math

import pytest
from prometheus_client.openmetrics.parser import text_string_to_metric_families as parse_om
from prometheus_client.parser import text_string_to_metric_families as parse_text

from exporter import catalog
from exporter.snapshot import Sample, Snapshot, wants_openmetrics
from tests.support.loop_ticks import LoopTicks


def families(text: str, om: bool = False) -> dict[str, dict]:
    parse = parse_om if om else parse_text
    out: dict[str, dict] = {}
    for fam in parse(text):
        out[fam.name] = {"type": fam.type, "unit": getattr(fam, "unit", ""), "samples": fam.samples}
    return out


def test_text_format_parses_with_help_type_and_escaped_labels():
    snap = Snapshot()
    snap.replace(
        "redis/main",
        [
            Sample(catalog.REDIS_UP, {"target": "main"}, 1),
            Sample(catalog.REDIS_EVICTED_KEYS, {"target": 'we"ird\\name\n'}, 42),
        ],
    )
    text = snap.render().decode()
    assert "# TYPE redis_evicted_keys_total counter" in text
    parsed = families(text)
    assert parsed["redis_up"]["samples"][0].value == 1
    evicted = parsed["redis_evicted_keys"]["samples"][0]
    assert evicted.labels == {"target": 'we"ird\\name\n'} and evicted.value == 42


def test_openmetrics_format_parses_with_units_counters_and_eof():
    snap = Snapshot()
    snap.replace(
        "pg/main",
        [
            Sample(catalog.PG_DEADLOCKS, {"target": "main", "datname": "app"}, 3),
            Sample(catalog.PG_PROBE_DURATION, {"target": "main"}, 0.25),
        ],
    )
    text = snap.render(openmetrics=True).decode()
    assert text.endswith("# EOF\n")
    parsed = families(text, om=True)
    assert parsed["pg_deadlocks"]["type"] == "counter"
    assert parsed["pg_deadlocks"]["samples"][0].name == "pg_deadlocks_total"
    assert parsed["pg_probe_duration_seconds"]["unit"] == "seconds"
    assert parsed["pg_probe_duration_seconds"]["samples"][0].value == 0.25


def test_replace_drops_vanished_series_update_keeps_stale_ones():
    snap = Snapshot()
    labels = [{"target": "main", "datname": d} for d in ("a", "b")]
    snap.replace("pg/main", [Sample(catalog.PG_DEADLOCKS, lb, 1) for lb in labels], now=100)
    snap.replace("pg/main", [Sample(catalog.PG_DEADLOCKS, labels[0], 2)], now=200)
    assert [(s.labels, s.value) for s in snap.series("pg_deadlocks_total")] == [
        ((("target", "main"), ("datname", "a")), 2.0)
    ]
    snap.replace("pg/main", [Sample(catalog.PG_UP, {"target": "main"}, 1)], now=300)
    snap.update("pg/main", [Sample(catalog.PG_UP, {"target": "main"}, 0)], now=400)
    assert snap.value("pg_up", {"target": "main"}) == 0
    snap.replace(
        "pg/main",
        [
            Sample(catalog.PG_UP, {"target": "main"}, 1),
            Sample(catalog.PG_MAX_CONNECTIONS, {"target": "main"}, 100),
        ],
        now=500,
    )
    snap.update("pg/main", [Sample(catalog.PG_UP, {"target": "main"}, 0)], now=600)
    stale = snap.series("pg_max_connections")[0]
    assert stale.value == 100 and stale.timestamp == 500  # stale value, old timestamp


def test_owners_do_not_clobber_each_other():
    snap = Snapshot()
    snap.replace("redis/a", [Sample(catalog.REDIS_UP, {"target": "a"}, 1)])
    snap.replace("redis/b", [Sample(catalog.REDIS_UP, {"target": "b"}, 1)])
    snap.replace("redis/a", [])
    assert [s.labels for s in snap.series("redis_up")] == [(("target", "b"),)]


def test_render_cache_follows_changes():
    snap = Snapshot()
    snap.replace("r", [Sample(catalog.REDIS_UP, {"target": "main"}, 1)])
    assert b'redis_up{target="main"} 1.0' in snap.render()
    snap.update("r", [Sample(catalog.REDIS_UP, {"target": "main"}, 0)])
    assert b'redis_up{target="main"} 0.0' in snap.render()


def test_special_values_and_unknown_labels():
    snap = Snapshot()
    labels = {"component_class": "gpu", "queue": "q"}
    for bad in (math.nan, math.inf, -math.inf, 1e308, 1e30, -1e16):
        snap.replace("q", [Sample(catalog.QUEUE_DEPTH, labels, bad)])
        assert snap.value("queue_depth", labels) is None  # left out, never a number
        assert b"queue_depth" not in snap.render()
    snap.replace("q", [Sample(catalog.QUEUE_DEPTH, labels, 9e15)])  # within a Quantity
    assert snap.value("queue_depth", labels) == 9e15
    with pytest.raises(ValueError, match="not in the catalog"):
        snap.replace("q", [Sample(catalog.QUEUE_DEPTH, {"pod": "x"}, 1)])
    with pytest.raises(ValueError, match="histograms"):
        snap.replace("h", [Sample(catalog.BATCH_SIZE, {}, 1)])


def test_empty_label_values_are_left_out():
    snap = Snapshot()
    snap.replace(
        "gpu", [Sample(catalog.GPU_POWER, {"gpu": "0", "uuid": "GPU-1", "node": ""}, 70.5)]
    )
    assert b'gpu_power_watts{gpu="0",uuid="GPU-1"} 70.5' in snap.render()


@pytest.mark.parametrize(
    ("accept", "expected"),
    [
        (None, False),
        ("text/plain", False),
        ("application/openmetrics-text; version=1.0.0,text/plain;version=0.0.4;q=0.5", True),
    ],
)
def test_content_negotiation(accept, expected):
    assert wants_openmetrics(accept) is expected


def _queue(cls: str, queue: str, depth: float) -> Sample:
    return Sample(catalog.QUEUE_DEPTH, {"component_class": cls, "queue": queue}, depth)


def _selected(snap: Snapshot, **pinned: str) -> list[tuple[tuple[str, str], ...]]:
    return [s.labels for s in snap.select(catalog.QUEUE_DEPTH.name, pinned)]


def test_select_finds_what_a_scan_would_through_removals_and_owners():
    """The label index agrees with a full scan after writes, drops, invalid values and a
    series taken over by another owner."""
    snap = Snapshot()
    snap.replace("a", [_queue("gpu", "q1", 1), _queue("gpu", "q2", 2), _queue("cpu", "q1", 3)])
    snap.replace("b", [_queue("memory", "q9", 4)])
    assert _selected(snap, component_class="gpu") == [
        (("component_class", "gpu"), ("queue", "q1")),
        (("component_class", "gpu"), ("queue", "q2")),
    ]
    assert _selected(snap, component_class="gpu", queue="q2") == [
        (("component_class", "gpu"), ("queue", "q2"))
    ]
    assert _selected(snap, queue="q1") == [
        (("component_class", "gpu"), ("queue", "q1")),
        (("component_class", "cpu"), ("queue", "q1")),
    ]
    assert _selected(snap, component_class="tpu") == []
    assert len(_selected(snap)) == 4
    snap.replace("a", [_queue("gpu", "q2", 2), _queue("cpu", "q1", float("inf"))])  # q1 gone
    assert _selected(snap, component_class="gpu") == [(("component_class", "gpu"), ("queue", "q2"))]
    assert _selected(snap, component_class="cpu") == []  # an invalid value is left out
    snap.update("b", [_queue("gpu", "q2", 7)])  # another owner writes the same series
    [series] = snap.select(catalog.QUEUE_DEPTH.name, {"component_class": "gpu"})
    assert (series.owner, series.value) == ("b", 7)
    snap.drop_owner("b")
    assert _selected(snap, component_class="memory") == []
    for pinned in ({}, {"component_class": "gpu"}, {"queue": "q2"}):
        scan = [
            s.labels
            for s in snap.series(catalog.QUEUE_DEPTH.name)
            if all(dict(s.labels).get(k) == v for k, v in pinned.items())
        ]
        assert _selected(snap, **pinned) == scan


async def test_areplace_gives_the_loop_back_and_ends_as_replace(monkeypatch):
    """A sliced write lets other tasks run between slices; the result is replace's."""

    from exporter import snapshot as snapshot_module

    monkeypatch.setattr(snapshot_module, "SLICE_SECONDS", 0.0)  # yield at every check
    sliced, plain = Snapshot(), Snapshot()
    for snap in (sliced, plain):
        snap.replace("q", [_queue("old", "x", 1)])
    samples = [_queue(f"c{i}", "q", i) for i in range(2000)]
    async with LoopTicks() as ticks:
        before = ticks.count
        await sliced.areplace("q", samples, now=1.0)
        ran = ticks.count - before
    plain.replace("q", samples, now=1.0)
    assert ran >= 2000 // 256 - 1  # one slice per 256 samples at least
    assert sliced.render() == plain.render()
    assert _selected(sliced, component_class="old") == []
