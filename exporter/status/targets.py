"""Targets, collectors and the live HPA status, as the status page shows them.

Everything is read from the runtime's collector state and the snapshot, never from a
dependency directly, so a hung database cannot hang the page. Error texts go through
`exporter.config.secrets.redact_url`, the project's one redaction function.
"""

from __future__ import annotations

from typing import Any

from exporter import catalog
from exporter.config.secrets import redact_url
from exporter.runtime import Runtime
from exporter.snapshot import Snapshot


def _age(now: float, at: float | None) -> float | None:
    return None if at is None else round(max(0.0, now - at), 3)


def targets(runtime: Runtime, now: float) -> list[dict[str, Any]]:
    """One row per collector run target: up/down, last success, last error (redacted)."""
    rows = []
    for collector in runtime.collectors:
        state = runtime.states.get(collector.owner)
        ok = None if state is None else state.ok
        error = state.last_error if state else None
        rows.append(
            {
                "collector": collector.name,
                "target": collector.target,
                "up": ok,
                "interval_seconds": collector.interval,
                "last_success_age_seconds": _age(now, state.last_success if state else None),
                "last_error": redact_url(error) if error else None,
                "last_error_age_seconds": _age(now, state.last_error_at if state else None),
                "last_duration_seconds": state.last_duration if state else None,
            }
        )
    return rows


def collectors_health(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Per collector kind: how many of its targets are up, down, not yet run."""
    kinds: dict[str, dict[str, Any]] = {}
    for row in rows:
        k = kinds.setdefault(row["collector"], {"collector": row["collector"], "up": 0,
                                                "down": 0, "pending": 0})  # fmt: skip
        k["up" if row["up"] else "pending" if row["up"] is None else "down"] += 1
    for k in kinds.values():
        k["healthy"] = k["down"] == 0 and k["pending"] == 0
    return list(kinds.values())


_HPA_FIELDS = {
    "current_replicas": catalog.HPA_CURRENT_REPLICAS.name,
    "desired_replicas": catalog.HPA_DESIRED_REPLICAS.name,
    "min_replicas": catalog.HPA_MIN_REPLICAS.name,
    "max_replicas": catalog.HPA_MAX_REPLICAS.name,
    "able_to_scale": catalog.HPA_ABLE_TO_SCALE.name,
    "scaling_active": catalog.HPA_SCALING_ACTIVE.name,
}


def live_hpas(snapshot: Snapshot, component_class: str, now: float) -> list[dict[str, Any]]:
    """The HPAs the HPA collector found for this class (empty without Kubernetes access)."""
    found: dict[str, dict[str, Any]] = {}
    for field, name in _HPA_FIELDS.items():
        for series in snapshot.select(name, {"component_class": component_class}):
            labels = dict(series.labels)
            row = found.setdefault(labels["hpa"], {"hpa": labels["hpa"]})
            value = series.value
            row[field] = bool(value) if field in ("able_to_scale", "scaling_active") else int(value)
            row["age_seconds"] = max(row.get("age_seconds", 0.0), _age(now, series.timestamp) or 0)
    return [found[k] for k in sorted(found)]


def kube_note(runtime: Runtime, workload: str, found: bool) -> str:
    """Why the live HPA status is (not) shown; `found`: an HPA of this class was read."""
    rows = [c for c in runtime.collectors if c.name == "hpa"]
    if not rows:
        return "Kubernetes API not configured: no live HPA status"
    state = runtime.states.get(rows[0].owner)
    if state is None or state.ok is None:
        return "Kubernetes API: first read pending"
    if not state.ok:
        return f"Kubernetes API unreachable: {redact_url(state.last_error or '')}"
    if not found:
        return f"Kubernetes API reachable; no HPA scales {workload}"
    return "live from the Kubernetes API"
