"""The in-memory snapshot: the latest value and timestamp of every series.

Collectors write into it; a scrape or a metrics-API call only reads it, so a slow database
never slows a scrape. Each series belongs to an *owner* (one collector run for one target):
`replace` swaps in all of an owner's series at once (so vanished series disappear), while
`update` changes a few and leaves the rest stale, which is what a failed run does.

Rendering is cached per metric family: a scrape after a change re-renders only the families
that changed, and its text lines are pre-formatted when a value is written.

Each family also indexes its series by label pair (`component_class="gpu"` -> the series
that carry it), so a read for one class (`select`) costs what it returns, not a scan of every
series: the status board and the HPAs read every class every interval.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass

from exporter.catalog import MetricSpec
from exporter.values import InvalidValue, checked

log = logging.getLogger(__name__)

LabelKey = tuple[tuple[str, str], ...]

SLICE_SECONDS = 0.002  # the longest a sliced write holds the event loop between yields
TEXT_CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
OPENMETRICS_CONTENT_TYPE = "application/openmetrics-text; version=1.0.0; charset=utf-8"


@dataclass(frozen=True, slots=True)
class Sample:
    """One value a collector measured."""

    spec: MetricSpec
    labels: Mapping[str, str]
    value: float


@dataclass(slots=True)
class Series:
    labels: LabelKey
    value: float
    timestamp: float
    owner: str
    line: str  # "name{labels} value\n", ready to join


def format_value(value: float) -> str:
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    if value == int(value) and abs(value) < 1e15:
        return f"{int(value)}.0"
    return repr(float(value))


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def label_key(spec: MetricSpec, labels: Mapping[str, str]) -> LabelKey:
    """Labels in catalog order; empty values are left out, as Prometheus treats them."""
    extra = set(labels) - set(spec.labels)
    if extra:
        raise ValueError(f"{spec.name}: labels {sorted(extra)} are not in the catalog")
    return tuple((name, str(labels[name])) for name in spec.labels if labels.get(name, "") != "")


def _format_line(name: str, key: LabelKey, value: float) -> str:
    if key:
        inner = ",".join(f'{k}="{_escape(v)}"' for k, v in key)
        return f"{name}{{{inner}}} {format_value(value)}\n"
    return f"{name} {format_value(value)}\n"


class _Family:
    __slots__ = ("spec", "series", "by_label", "text_cache", "om_cache")

    def __init__(self, spec: MetricSpec) -> None:
        self.spec = spec
        self.series: dict[LabelKey, Series] = {}
        # (label, value) -> the keys carrying it, in insertion order (a dict as ordered set)
        self.by_label: dict[tuple[str, str], dict[LabelKey, None]] = {}
        self.text_cache: str | None = None
        self.om_cache: str | None = None

    def add(self, key: LabelKey, series: Series) -> None:
        if key not in self.series:
            for pair in key:
                self.by_label.setdefault(pair, {})[key] = None
        self.series[key] = series

    def remove(self, key: LabelKey) -> None:
        if self.series.pop(key, None) is None:
            return
        for pair in key:
            bucket = self.by_label.get(pair)
            if bucket is not None:
                bucket.pop(key, None)
                if not bucket:
                    del self.by_label[pair]

    def select(self, pinned: Mapping[str, str]) -> list[Series]:
        """The series carrying every pinned label value, from the smallest index bucket."""
        if not pinned:
            return list(self.series.values())
        buckets = []
        for pair in pinned.items():
            bucket = self.by_label.get(pair)
            if bucket is None:
                return []
            buckets.append(bucket)
        smallest = min(buckets, key=len)
        if len(buckets) == 1:
            return [self.series[key] for key in smallest]
        out = []
        for key in smallest:
            labels = dict(key)
            if all(labels.get(k) == v for k, v in pinned.items()):
                out.append(self.series[key])
        return out

    def dirty(self) -> None:
        self.text_cache = None
        self.om_cache = None

    def render_text(self) -> str:
        if self.text_cache is None:
            s = self.spec
            head = f"# HELP {s.name} {_escape_help(s.help)}\n# TYPE {s.name} {_text_type(s)}\n"
            self.text_cache = head + "".join(x.line for x in self.series.values())
        return self.text_cache

    def render_openmetrics(self) -> str:
        if self.om_cache is None:
            s = self.spec
            head = f"# HELP {s.family} {_escape_help(s.help)}\n# TYPE {s.family} {s.type}\n"
            if s.unit and s.family.endswith("_" + s.unit):
                head += f"# UNIT {s.family} {s.unit}\n"
            self.om_cache = head + "".join(x.line for x in self.series.values())
        return self.om_cache


def _escape_help(text: str) -> str:
    return text.replace("\\", "\\\\").replace("\n", "\\n")


def _text_type(spec: MetricSpec) -> str:
    return "gauge" if spec.type == "info" else spec.type


class Snapshot:
    """Latest value per series, grouped by metric family, with per-family render caches."""

    def __init__(self) -> None:
        self._families: dict[str, _Family] = {}
        self._owned: dict[str, set[tuple[str, LabelKey]]] = {}
        # Called with the owner after each write (the KEDA scaler wakes its streams on them);
        # a watcher must be cheap and must not write to the snapshot itself.
        self.watchers: list[Callable[[str], None]] = []
        self._invalid: set[tuple[str, LabelKey]] = set()  # logged once until valid again

    def _changed(self, owner: str) -> None:
        for watcher in self.watchers:
            watcher(owner)

    # --- writing -------------------------------------------------------------------------
    def _family(self, spec: MetricSpec) -> _Family:
        fam = self._families.get(spec.name)
        if fam is None:
            if spec.type == "histogram":
                raise ValueError(f"{spec.name}: histograms are not kept in the snapshot")
            fam = self._families[spec.name] = _Family(spec)
        return fam

    def _put(self, owner: str, sample: Sample, now: float) -> tuple[str, LabelKey] | None:
        """Write one sample; an invalid value (see exporter.values) is left out (None)."""
        fam = self._family(sample.spec)
        key = label_key(sample.spec, sample.labels)
        try:
            value = checked(sample.value)
        except InvalidValue as exc:
            if (sample.spec.name, key) not in self._invalid:
                log.warning("%s%s left out: %s", sample.spec.name, dict(key), exc)
                self._invalid.add((sample.spec.name, key))
            current = fam.series.get(key)
            if current is not None and current.owner == owner:
                fam.remove(key)  # the value is unknown now, not the last good one
                fam.dirty()
            return None
        self._invalid.discard((sample.spec.name, key))
        current = fam.series.get(key)
        if current is not None and current.owner == owner:
            current.timestamp = now
            if current.value != value or math.isnan(value):
                current.value = value
                current.line = _format_line(sample.spec.name, key, value)
                fam.dirty()
        else:
            fam.add(key, Series(key, value, now, owner, _format_line(sample.spec.name, key, value)))
            fam.dirty()
        return (sample.spec.name, key)

    def update(self, owner: str, samples: Iterable[Sample], now: float | None = None) -> None:
        """Set these series; the owner's other series keep their (stale) values."""
        now = time.time() if now is None else now
        owned = self._owned.setdefault(owner, set())
        for sample in samples:
            if (put := self._put(owner, sample, now)) is not None:
                owned.add(put)
        self._changed(owner)

    def replace(self, owner: str, samples: Iterable[Sample], now: float | None = None) -> None:
        """Make these the owner's only series: the ones it no longer reports are dropped."""
        now = time.time() if now is None else now
        fresh = {put for sample in samples if (put := self._put(owner, sample, now))}
        self._replaced(owner, fresh)

    async def areplace(
        self, owner: str, samples: Iterable[Sample], now: float | None = None
    ) -> None:
        """`replace`, giving the loop back every `SLICE_SECONDS` (10,000 queues are 30,000
        samples: written in one step they would hold every listener for a third of a second).

        A reader between slices sees some series of this write and the rest from the last,
        each with its own timestamp, so a value's freshness check still holds per series;
        the series the owner no longer reports are dropped at the end, as `replace` does."""
        now = time.time() if now is None else now
        fresh: set[tuple[str, LabelKey]] = set()
        started = time.perf_counter()
        for i, sample in enumerate(samples):
            if (put := self._put(owner, sample, now)) is not None:
                fresh.add(put)
            if i % 256 == 255 and time.perf_counter() - started > SLICE_SECONDS:
                await asyncio.sleep(0)
                started = time.perf_counter()
        self._replaced(owner, fresh)

    def _replaced(self, owner: str, fresh: set[tuple[str, LabelKey]]) -> None:
        for name, key in self._owned.get(owner, set()) - fresh:
            fam = self._families[name]
            if fam.series.get(key) is not None and fam.series[key].owner == owner:
                fam.remove(key)
                fam.dirty()
        self._owned[owner] = fresh
        self._changed(owner)

    def drop_owner(self, owner: str) -> None:
        self.replace(owner, ())
        self._owned.pop(owner, None)

    # --- reading -------------------------------------------------------------------------
    def series(self, name: str) -> list[Series]:
        fam = self._families.get(name)
        return list(fam.series.values()) if fam else []

    def select(self, name: str, pinned: Mapping[str, str] | None = None) -> list[Series]:
        """The series of `name` whose labels include every pair in `pinned` (all when empty),
        in write order; found through the label index, so it costs what it returns."""
        fam = self._families.get(name)
        return fam.select(pinned or {}) if fam else []

    def value(self, name: str, labels: Mapping[str, str] | None = None) -> float | None:
        """The value of one series (labels must match exactly), or None."""
        timed = self.timed_value(name, labels)
        return None if timed is None else timed[0]

    def timed_value(
        self, name: str, labels: Mapping[str, str] | None = None
    ) -> tuple[float, float] | None:
        """(value, timestamp) of one series (labels must match exactly), or None."""
        fam = self._families.get(name)
        if fam is None:
            return None
        series = fam.series.get(label_key(fam.spec, labels or {}))
        return None if series is None else (series.value, series.timestamp)

    def __len__(self) -> int:
        return sum(len(f.series) for f in self._families.values())

    def render(self, openmetrics: bool = False) -> bytes:
        families = sorted(self._families.values(), key=lambda f: f.spec.name)
        if openmetrics:
            body = "".join(f.render_openmetrics() for f in families if f.series) + "# EOF\n"
        else:
            body = "".join(f.render_text() for f in families if f.series)
        return body.encode()


def wants_openmetrics(accept: str | None) -> bool:
    """Content negotiation as Prometheus does it: OpenMetrics only when asked for."""
    return bool(accept) and "application/openmetrics-text" in accept
