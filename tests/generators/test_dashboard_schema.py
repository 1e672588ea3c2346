"""The generated dashboards in Grafana's current schema, as Grafana's own Python SDK
(`grafana-foundation-sdk`) reads it: every file loads with `Dashboard.from_json`, carries no
null-valued key and no key the schema does not know, and declares the SDK's schemaVersion.

"No unknown key" is checked by round trip: the SDK's models keep only the fields of the
schema (and fill their defaults), so a key of ours missing from `to_json` output is outside
the schema.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from grafana_foundation_sdk.cog.encoder import JSONEncoder
from grafana_foundation_sdk.cog.plugins import register_default_plugins
from grafana_foundation_sdk.models.dashboard import Dashboard

from exporter.generators.dashboards.schema import SCHEMA_VERSION, current_schema

REPO = Path(__file__).resolve().parents[2]
FILES = sorted((REPO / "dashboards").glob("*.json"))

register_default_plugins()  # panel options and Prometheus queries get their typed models


def nulls(value, path: str = "") -> list[str]:
    if isinstance(value, dict):
        return [p for k, v in value.items() for p in nulls(v, f"{path}.{k}")] + (
            [f"{path}.{k}" for k, v in value.items() if v is None]
        )
    if isinstance(value, list):
        return [p for i, v in enumerate(value) for p in nulls(v, f"{path}[{i}]")]
    return []


def unknown_keys(ours, theirs, path: str = "") -> list[str]:
    """Keys in `ours` that the SDK's round trip (`theirs`) dropped."""
    if isinstance(ours, dict):
        if not isinstance(theirs, dict):
            return [f"{path} (not an object in the schema)"]
        return [
            p
            for k, v in ours.items()
            for p in (
                [f"{path}.{k}"] if k not in theirs else unknown_keys(v, theirs[k], f"{path}.{k}")
            )
        ]
    if isinstance(ours, list):
        if not isinstance(theirs, list) or len(theirs) != len(ours):
            return [f"{path} (list changed)"]
        return [
            p
            for i, (a, b) in enumerate(zip(ours, theirs, strict=True))
            for p in unknown_keys(a, b, f"{path}[{i}]")
        ]
    return []


def round_trip(model: dict) -> dict:
    return json.loads(json.dumps(Dashboard.from_json(model), cls=JSONEncoder))


def test_schema_version_is_the_sdks():
    assert Dashboard().schema_version == SCHEMA_VERSION


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.name)
def test_dashboard_loads_in_the_sdk_without_nulls_or_unknown_keys(path):
    model = json.loads(path.read_text())
    assert model["schemaVersion"] == SCHEMA_VERSION
    assert nulls(model) == []
    theirs = round_trip(model)  # raises on a shape the SDK cannot read
    assert unknown_keys(model, theirs) == []
    assert theirs["uid"] == model["uid"] and len(theirs["panels"]) == len(model["panels"])
    for panel in model["panels"]:
        legend = panel.get("options", {}).get("legend")
        if legend is not None and panel["type"] == "heatmap":  # the heatmap schema's legend
            assert legend == {"show": True}, panel["title"]
        elif legend is not None:
            assert legend["showLegend"] is True, panel["title"]
        if panel["type"] == "stat":
            for key in ("wideLayout", "showPercentChange", "percentChangeColorMode"):
                assert key in panel["options"], (panel["title"], key)


def test_eight_files_checked():
    assert len(FILES) == 8


def test_the_checks_catch_grafanalibs_raw_output():
    """Without the post-processing step the same checks fail: they are not vacuous."""
    from grafanalib._gen import DashboardEncoder

    from exporter.config import load_config
    from exporter.generators.dashboards import BUILDERS

    raw = json.loads(
        json.dumps(
            BUILDERS["redis"](load_config(None, environ={})).to_json_data(), cls=DashboardEncoder
        )
    )
    assert raw["schemaVersion"] != SCHEMA_VERSION
    assert nulls(raw)
    with pytest.raises(TypeError):
        round_trip(raw)  # the SDK trips over grafanalib's nulls
    cleaned = current_schema(raw)
    assert nulls(cleaned) == [] and unknown_keys(cleaned, round_trip(cleaned)) == []
    legacy = {"uid": "x", "title": "x", "rows": [], "sharedCrosshair": True, "hideControls": False}
    assert unknown_keys(legacy, round_trip(legacy)) == [
        ".rows",
        ".sharedCrosshair",
        ".hideControls",
    ]
