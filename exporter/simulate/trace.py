"""Metric traces for `exporter simulate`: a CSV of `seconds,component_class,metric,value`.

A value holds from its `seconds` until the next row for the same class and metric; before a
metric's first row it is unavailable (the HPA controller would fail to read it). An External
metric's value is the class total (the summed series); a Pods metric's is the per-pod
average. Rows may come in any order. Every problem raises `TraceError` with one line naming
the row (1 = the header) and the column, which the command turns into exit status 2.
"""

from __future__ import annotations

import bisect
import csv
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

HEADER = ("seconds", "component_class", "metric", "value")


class TraceError(Exception):
    """A bad trace file, worded as `FILE row N, column C: reason`."""


@dataclass
class Trace:
    """Per (class, metric): sorted change points and the value from each on."""

    series: dict[tuple[str, str], tuple[list[float], list[float]]] = field(default_factory=dict)
    end: float = 0.0

    def value_at(self, component_class: str, metric: str, seconds: float) -> float | None:
        """The value in force at `seconds`, or None before the metric's first row."""
        points = self.series.get((component_class, metric))
        if points is None:
            return None
        times, values = points
        i = bisect.bisect_right(times, seconds) - 1
        return values[i] if i >= 0 else None


def _number(text: str, where: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise TraceError(f"{where}: {text!r} is not a number") from None
    if not math.isfinite(value):
        raise TraceError(f"{where}: {text!r} is not a finite number")
    return value


def load_trace(path: str | Path, metrics: Mapping[str, set[str]]) -> Trace:
    """Read and check a trace; `metrics` maps each class to the metric names its HPA reads."""
    name = str(path)
    try:
        with open(path, newline="") as f:
            rows = list(csv.reader(f))
    except OSError as exc:
        raise TraceError(f"{name}: {exc.strerror or exc}") from None
    except (UnicodeDecodeError, csv.Error) as exc:
        raise TraceError(f"{name}: not a CSV text file ({exc})") from None
    if not rows or tuple(c.strip() for c in rows[0]) != HEADER:
        got = ",".join(rows[0]) if rows else "an empty file"
        raise TraceError(f"{name} row 1: the header must be {','.join(HEADER)} (got {got!r})")
    points: dict[tuple[str, str], list[tuple[float, int, float]]] = {}
    for n, row in enumerate(rows[1:], start=2):
        if not row or all(not c.strip() for c in row):
            continue
        if len(row) != len(HEADER):
            raise TraceError(f"{name} row {n}: expected 4 columns, got {len(row)}")
        seconds_text, cls, metric, value_text = (c.strip() for c in row)
        seconds = _number(seconds_text, f"{name} row {n}, column seconds")
        if seconds < 0:
            raise TraceError(f"{name} row {n}, column seconds: {seconds_text!r} is negative")
        if cls not in metrics:
            known = ", ".join(sorted(metrics))
            raise TraceError(
                f"{name} row {n}, column component_class: unknown class {cls!r} (have {known})"
            )
        if metric not in metrics[cls]:
            known = ", ".join(sorted(metrics[cls]))
            raise TraceError(
                f"{name} row {n}, column metric: class {cls!r} does not scale on {metric!r} "
                f"(its HPA reads {known})"
            )
        value = _number(value_text, f"{name} row {n}, column value")
        points.setdefault((cls, metric), []).append((seconds, n, value))
    if not points:
        raise TraceError(f"{name}: no rows after the header")
    trace = Trace()
    for key, pts in points.items():
        pts.sort()  # by time, then file order: a later row at the same second wins
        trace.series[key] = ([p[0] for p in pts], [p[2] for p in pts])
        trace.end = max(trace.end, pts[-1][0])
    return trace
