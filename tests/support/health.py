"""Helpers for health-collector tests: run a collector once, read values out of samples."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from exporter.config import QueueBase, parse_queue
from exporter.runtime import Collector
from exporter.snapshot import Sample


async def collect_once(collector: Collector) -> list[Sample]:
    """One collect() and close(): a fresh collector per call, like a restarted exporter."""
    try:
        return list(await collector.collect())
    finally:
        await collector.close()


def values(samples: Sequence[Sample], name: str, **labels: str) -> list[float]:
    """Values of every sample `name` whose labels include `labels`."""
    return [
        s.value
        for s in samples
        if s.spec.name == name and all(s.labels.get(k) == v for k, v in labels.items())
    ]


def value(samples: Sequence[Sample], name: str, **labels: str) -> float:
    """The one value of `name{labels}`; fails when there is none or several."""
    found = values(samples, name, **labels)
    assert len(found) == 1, f"{name}{labels}: {len(found)} samples {found}"
    return found[0]


def label_values(samples: Sequence[Sample], name: str, label: str) -> set[str]:
    return {s.labels[label] for s in samples if s.spec.name == name and label in s.labels}


def queue(**fields: Any) -> QueueBase:
    """A queue of the kind `fields["kind"]` names, as the config would build it."""
    return parse_queue(fields)
