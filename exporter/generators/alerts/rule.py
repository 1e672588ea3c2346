"""What every alert group is made of: the `Alert` record and how thresholds are written."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


def num(x: float) -> str:
    """A threshold as PromQL/humans write it: 0.05, 1, 300."""
    return f"{x:.10g}"


@dataclass(frozen=True)
class Alert:
    name: str
    expr: str
    severity: str
    summary: str  # plain text: shown in pager titles, must not vary per firing
    description: str  # templated with $labels / $value
    for_: str | None = None
    labels: dict[str, str] = field(default_factory=dict)

    def rule(self, runbook_base_url: str) -> dict[str, Any]:
        out: dict[str, Any] = {"alert": self.name, "expr": self.expr}
        if self.for_:
            out["for"] = self.for_
        out["labels"] = {"severity": self.severity, **self.labels}
        out["annotations"] = {
            "summary": self.summary,
            "description": self.description,
            "runbook_url": f"{runbook_base_url}#{self.name.lower()}",
        }
        return out
