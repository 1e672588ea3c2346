"""Time to render /metrics for 10k series: our snapshot vs prometheus_client.generate_latest.

Run by hand: `python bench/scrape.py`. Both sides hold the same 10,000 series (10 gauge
families x 1,000 label sets). Three snapshot figures are printed because its render cache
makes the answer depend on what changed since the last scrape:
  cold    every value changed since the last scrape (worst case: every family re-rendered)
  partial one family of ten changed (a collector cycle touching 10 % of the series)
  warm    nothing changed (repeated scrapes between collector cycles)
plus the cold case with the cost of writing the 10k values included, since the snapshot
formats each line when a value is written rather than when it is scraped.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from prometheus_client import CollectorRegistry, Gauge, generate_latest  # noqa: E402

from exporter.catalog import MetricSpec  # noqa: E402
from exporter.snapshot import Sample, Snapshot  # noqa: E402

FAMILIES = 10
PER_FAMILY = 1000
LABELS = ("component_class", "queue")


def label_sets() -> list[dict[str, str]]:
    return [{"component_class": f"class{i % 10}", "queue": f"queue-{i}"} for i in range(PER_FAMILY)]


def build_snapshot() -> tuple[Snapshot, list[MetricSpec]]:
    specs = [
        MetricSpec(f"bench_metric_{f}", "gauge", f"Bench family {f}.", LABELS)
        for f in range(FAMILIES)
    ]
    snap = Snapshot()
    for spec in specs:
        snap.replace(spec.name, [Sample(spec, lb, i * 1.5) for i, lb in enumerate(label_sets())])
    return snap, specs


def build_registry() -> CollectorRegistry:
    registry = CollectorRegistry()
    for f in range(FAMILIES):
        gauge = Gauge(f"bench_metric_{f}", f"Bench family {f}.", LABELS, registry=registry)
        for i, lb in enumerate(label_sets()):
            gauge.labels(**lb).set(i * 1.5)
    return registry


def timed(fn, setup=None, repeat: int = 30) -> list[float]:
    out = []
    for r in range(repeat):
        if setup:
            setup(r)
        started = time.perf_counter()
        fn()
        out.append(time.perf_counter() - started)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeat", type=int, default=30)
    args = parser.parse_args()

    snap, specs = build_snapshot()
    registry = build_registry()
    sets = label_sets()
    assert len(snap) == FAMILIES * PER_FAMILY
    ours, theirs = snap.render(), generate_latest(registry)
    assert ours.count(b"\n") == theirs.count(b"\n"), "both sides must expose the same series"

    def change_all(r: int) -> None:
        for spec in specs:
            snap.update(spec.name, [Sample(spec, lb, r + i) for i, lb in enumerate(sets)])

    def change_one_family(r: int) -> None:
        spec = specs[r % FAMILIES]
        snap.update(spec.name, [Sample(spec, lb, r + i) for i, lb in enumerate(sets)])

    rows = [
        ("snapshot.render, cold (all 10k changed)", timed(snap.render, change_all, args.repeat)),
        (
            "snapshot write 10k + render (full cycle)",
            timed(lambda: (change_all(7), snap.render()), None, args.repeat),
        ),
        (
            "snapshot.render, partial (1k changed)",
            timed(snap.render, change_one_family, args.repeat),
        ),
        ("snapshot.render, warm (nothing changed)", timed(snap.render, None, args.repeat)),
        (
            "prometheus_client.generate_latest",
            timed(lambda: generate_latest(registry), None, args.repeat),
        ),
    ]
    baseline = statistics.median(rows[-1][1])
    print(
        f"10,000 series ({FAMILIES} families x {PER_FAMILY}), {len(ours):,} bytes, {args.repeat} runs each"
    )
    print(f"{'renderer':44} {'median ms':>10} {'p95 ms':>8} {'vs generate_latest':>19}")
    for name, times in rows:
        med = statistics.median(times)
        p95 = sorted(times)[int(0.95 * (len(times) - 1))]
        print(f"{name:44} {med * 1000:10.2f} {p95 * 1000:8.2f} {baseline / med:18.1f}x")


if __name__ == "__main__":
    main()
