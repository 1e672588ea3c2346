"""Generated Grafana dashboards: drift, conventions and mixin-style lint."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from exporter.config import Config, load_config
from exporter.generators import dashboards

REPO = Path(__file__).resolve().parents[2]
DASHBOARDS_DIR = REPO / "dashboards"
GRAFANA_BUILTINS = {"__rate_interval", "__interval", "__range", "__all", "__interval_ms"}
EXPECTED = {
    "exporter-platform-overview": "Platform overview",
    "exporter-component-class": "Component class",
    "exporter-sse-streaming": "SSE streaming",
    "exporter-queues-autoscaling": "Queues and autoscaling",
    "exporter-gpu": "GPU",
    "exporter-postgres": "PostgreSQL",
    "exporter-redis": "Redis",
    "exporter-self-health": "Exporter self-health",
}


def default_config() -> Config:
    return load_config(None, environ={})


def custom_config() -> Config:
    data = default_config().model_dump()
    data["component_classes"] = [
        {
            "name": "engine",
            "workload": {"name": "engine"},
            "max_replicas": 4,
            "queues": [{"name": "runs", "kind": "redis_list", "key": "runs"}],
            "scale_on": [{"metric": "queue_depth", "target_average_value": 7}],
        },
        {"name": "ui", "workload": {"name": "ui"}, "cpu_utilization": 60},
    ]
    data["postgres"].append({"name": "analytics", "dsn": "postgresql://u@db2:5432/a"})
    data["alerting"]["thresholds"]["error_rate_ratio"] = 0.01
    data["alerting"]["thresholds"]["queue_oldest_age_seconds"] = 42
    data["collection"] = {"interval_seconds": 10, "timeout_seconds": 3}
    return Config.model_validate(data)


def panels(model: dict) -> list[dict]:
    out = []
    for panel in model["panels"]:
        out.append(panel)
        out.extend(panel.get("panels", []))
    return out


def exprs(model: dict) -> list[str]:
    return [t["expr"] for p in panels(model) for t in p["targets"]]


def panel(model: dict, title: str) -> dict:
    (found,) = [p for p in panels(model) if p["title"] == title]
    return found


def threshold_values(p: dict) -> list[float]:
    steps = p["fieldConfig"]["defaults"]["thresholds"]["steps"]
    return [s["value"] for s in steps if s.get("value") is not None]


@pytest.fixture(params=["default", "custom"])
def models(request) -> dict[str, dict]:
    config = default_config() if request.param == "default" else custom_config()
    return dashboards.dashboards(config)


def test_committed_files_match_the_generator():
    rendered = dashboards.render(default_config())
    committed = {p.name for p in DASHBOARDS_DIR.glob("*.json")}
    assert committed == set(rendered), "dashboards/ holds other files than the generator writes"
    for name, text in rendered.items():
        assert (DASHBOARDS_DIR / name).read_text() == text, (
            f"dashboards/{name} drifted from the generator: run `make dashboards`"
        )


def test_generate_writes_one_file_per_dashboard(tmp_path):
    written = dashboards.generate(default_config(), tmp_path)
    assert len(written) == len(EXPECTED)
    uids = {json.loads(Path(p).read_text())["uid"] for p in written}
    assert uids == set(EXPECTED)


def test_the_eight_dashboards(models):
    assert {m["uid"]: m["title"] for m in models.values()} == EXPECTED


def test_dashboard_conventions(models):
    for model in models.values():
        names = [v["name"] for v in model["templating"]["list"]]
        assert names[0] == "datasource"
        ds = model["templating"]["list"][0]
        assert (ds["type"], ds["query"]) == ("datasource", "prometheus")
        assert model["refresh"] == "10s"
        assert model["time"] == {"from": "now-1h", "to": "now"}
        assert model["description"]


def test_lint_unique_uids_and_panel_ids(models):
    uids = [m["uid"] for m in models.values()]
    assert len(uids) == len(set(uids))
    assert all(0 < len(uid) <= 40 for uid in uids)
    for model in models.values():
        ids = [p["id"] for p in panels(model)]
        assert len(ids) == len(set(ids)) and None not in ids, model["uid"]


def test_lint_every_panel_has_description_unit_and_datasource(models):
    for model in models.values():
        for p in panels(model):
            where = f"{model['uid']}/{p['title']}"
            assert p["description"] and p["description"].strip(), where
            assert p["fieldConfig"]["defaults"].get("unit"), where
            assert p["datasource"] == {"type": "prometheus", "uid": "${datasource}"}, where
            assert p["targets"], where
            for t in p["targets"]:
                assert t["datasource"] == p["datasource"], where


def test_lint_every_variable_is_declared(models):
    for model in models.values():
        declared = {v["name"] for v in model["templating"]["list"]} | GRAFANA_BUILTINS
        used = set()
        for p in panels(model):
            text = json.dumps(p)
            used |= set(re.findall(r"\$\{?(\w+)", text))
        assert used - declared == set(), f"{model['uid']} uses undeclared {used - declared}"


def test_lint_rates_use_rate_interval(models):
    for model in models.values():
        for expr in exprs(model):
            for window in re.findall(r"\[([^\]]+)\]", expr):
                assert window == "$__rate_interval", f"{model['uid']}: {expr}"


def test_lint_metric_names_come_from_the_catalog(models):
    from exporter.catalog import CATALOG, MetricSpec
    from exporter.generators import peer_metrics

    known = set(CATALOG) | {
        v.name for v in vars(peer_metrics).values() if isinstance(v, MetricSpec)
    }
    known |= {f"{n}{s}" for n in list(known) for s in ("_bucket", "_sum", "_count")}
    for model in models.values():
        for expr in exprs(model):
            names = metric_names(expr)
            assert names, expr
            assert names <= known, f"{model['uid']}: unknown metrics {names - known} in {expr}"


KEYWORDS = {
    "by", "on", "without", "ignoring", "group_left", "group_right", "and", "or", "unless",
    "offset", "bool",
}  # fmt: skip


def metric_names(expr: str) -> set[str]:
    """Metric names in a PromQL expression: identifiers that are not functions, keywords,
    label names (in {}, by (), on ()) or durations."""
    text = re.sub(r'"[^"]*"', "", expr)
    text = re.sub(r"\{[^}]*\}", "", text)
    text = re.sub(r"\[[^\]]*\]", "", text)
    text = re.sub(r"\b(by|on|without|ignoring)\s*\([^)]*\)", "", text)
    tokens = re.findall(r"\b([a-zA-Z_:][a-zA-Z0-9_:]*)\b(?!\s*\()", text)
    return {t for t in tokens if t not in KEYWORDS and not re.fullmatch(r"\d+\w*", t)}


def test_class_and_target_variables_query_prometheus_with_config_defaults():
    models = dashboards.dashboards(custom_config())
    for uid in ("platform-overview", "component-class", "sse-streaming", "queues-autoscaling"):
        (var,) = [v for v in models[uid]["templating"]["list"] if v["name"] == "component_class"]
        assert var["type"] == "query"
        assert var["query"] == "label_values(component_class)"
        assert var["datasource"] == {"type": "prometheus", "uid": "${datasource}"}
        assert [o["value"] for o in var["options"]] == ["engine", "ui"]
    (target,) = [v for v in models["postgres"]["templating"]["list"] if v["name"] == "target"]
    assert target["query"] == "label_values(pg_up, target)"
    assert target["current"] == {"text": ["main", "analytics"], "value": ["main", "analytics"]}
    (target,) = [v for v in models["redis"]["templating"]["list"] if v["name"] == "target"]
    assert target["query"].startswith("label_values(redis_up, ")
    single = models["component-class"]["templating"]["list"][1]
    assert (single["multi"], single["includeAll"]) == (False, False)
    assert single["current"] == {"text": "engine", "value": "engine"}


def test_thresholds_come_from_the_config():
    config = custom_config()
    models = dashboards.dashboards(config)
    assert threshold_values(panel(models["platform-overview"], "Error ratio (5xx)")) == [0.01]
    assert threshold_values(panel(models["queues-autoscaling"], "Oldest job age")) == [42]
    assert threshold_values(panel(models["exporter-self-health"], "Collector duration")) == [3]
    assert threshold_values(
        panel(models["exporter-self-health"], "Seconds since last success")
    ) == [30]
    assert threshold_values(panel(models["gpu"], "GPU temperature")) == [85]
    # one depth-per-replica panel per class that scales on queue depth, at its target
    per_replica = [p for p in panels(models["queues-autoscaling"]) if "per replica" in p["title"]]
    assert [(p["title"], threshold_values(p)) for p in per_replica] == [
        ("Queue depth per replica: engine", [7])
    ]
    assert 'component_class="engine"' in per_replica[0]["targets"][0]["expr"]


def test_panels_with_a_limit_draw_it():
    for model in dashboards.dashboards(default_config()).values():
        for p in panels(model):
            if p["type"] == "timeseries" and threshold_values(p):
                mode = p["fieldConfig"]["defaults"]["custom"]["thresholdsStyle"]["mode"]
                assert mode == "line", f"{model['uid']}/{p['title']}"
