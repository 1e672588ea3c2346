"""The shape of a catalog entry and the one helper that declares one.

Split out of the entry modules so each of them (and the package that joins them) can share
it without an import cycle.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

MetricType = Literal["counter", "gauge", "histogram", "info"]


@dataclass(frozen=True)
class MetricSpec:
    name: str
    type: MetricType
    help: str
    labels: tuple[str, ...] = ()
    unit: str = ""
    buckets: tuple[float, ...] = field(default=())

    @property
    def family(self) -> str:
        """OpenMetrics family name: counters drop their `_total` suffix."""
        if self.type == "counter" and self.name.endswith("_total"):
            return self.name[: -len("_total")]
        if self.type == "info" and self.name.endswith("_info"):
            return self.name[: -len("_info")]
        return self.name


def metric(
    name: str,
    type_: MetricType,
    help_: str,
    labels: tuple[str, ...] = (),
    unit: str = "",
    buckets: tuple[float, ...] = (),
) -> MetricSpec:
    """Declare one catalog entry (every entry module uses this, and only this)."""
    return MetricSpec(name, type_, help_, labels, unit, buckets)
