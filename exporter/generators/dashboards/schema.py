"""grafanalib's JSON brought to Grafana's current dashboard schema, in one pass.

grafanalib writes schemaVersion 12, keys Grafana dropped long ago (`rows`, `sharedCrosshair`,
`hideControls`, panel `error`/`editable`, target `step`/`metric`...) and a null for every
unset field. Grafana migrates such files on load, but strict consumers (Grafana's own SDK,
`@grafana/schema`, provisioning diffs) reject or churn on them. `current_schema()` sets the
schema version of the Grafana the SDK models (see tests/generators/test_dashboard_schema.py), drops
nulls and legacy keys, and fills the options the current panel schemas require.
"""

from __future__ import annotations

from typing import Any

SCHEMA_VERSION = 41  # Grafana 11.6 / 12's dashboard v1 schema
LEGACY = {
    "dashboard": {"rows", "sharedCrosshair", "hideControls", "style", "__inputs"},
    "panel": {"editable", "error", "span", "height", "minSpan"},
    "target": {"metric", "query", "step", "target"},
    "variable": {"useTags", "tags", "tagsQuery", "tagValuesQuery"},
    "timepicker": {"time_options"},
}
LEGEND_DEFAULTS = {"showLegend": True, "displayMode": "list", "placement": "bottom", "calcs": []}
STAT_DEFAULTS = {
    "wideLayout": True,
    "showPercentChange": False,
    "percentChangeColorMode": "standard",
}


def _no_nulls(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _no_nulls(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_no_nulls(v) for v in value]
    return value


def _drop(obj: dict[str, Any], kind: str) -> None:
    for key in LEGACY[kind]:
        obj.pop(key, None)


def _panel(panel: dict[str, Any]) -> None:
    _drop(panel, "panel")
    for target in panel.get("targets", []):
        _drop(target, "target")
    options = panel.setdefault("options", {})
    if "legend" in options and panel.get("type") != "heatmap":  # a heatmap's is {show}
        options["legend"] = {**LEGEND_DEFAULTS, **options["legend"]}
    if panel.get("type") == "stat":
        panel["options"] = {**STAT_DEFAULTS, **options}


def current_schema(model: dict[str, Any]) -> dict[str, Any]:
    """The dashboard JSON model in the current schema (a new dict; `model` is untouched)."""
    out = _no_nulls(model)
    if out.pop("sharedCrosshair", False):
        out["graphTooltip"] = max(out.get("graphTooltip", 0), 1)
    _drop(out, "dashboard")
    out["schemaVersion"] = SCHEMA_VERSION
    _drop(out.setdefault("timepicker", {}), "timepicker")
    for variable in out.get("templating", {}).get("list", []):
        _drop(variable, "variable")
        variable.get("current", {}).pop("tags", None)
    for panel in out.get("panels", []):
        _panel(panel)
        for inner in panel.get("panels", []):  # a collapsed row holds its panels
            _panel(inner)
    return out
