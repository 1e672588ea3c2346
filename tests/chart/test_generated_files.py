"""The chart's generated files and the config's JSON Schema: drift-tested against
`exporter generate chart`, and proven by their consumers (a JSON Schema validator, kubectl's
kustomize)."""

from __future__ import annotations

import json
import subprocess
import sys

import jsonschema
import pytest
import yaml

from exporter.config import load_config
from exporter.config.loading import default_config_text
from exporter.generators import alerts, chart, chart_rules, k8s
from tests.chart.helm import CHART, REPO, tool

SCHEMA_LINE = "# yaml-language-server: $schema=./config.schema.json"


def test_committed_chart_files_match_the_generator():
    for name, text in chart.render().items():
        assert (CHART / name).read_text() == text, (
            f"chart/exporter/{name} drifted from the config models: run `make chart`"
        )
    assert chart.CONFIG_SCHEMA.read_text() == chart.render_config_schema(), "run `make chart`"


def test_cli_writes_the_chart_files(tmp_path):
    out = subprocess.run(
        [sys.executable, "-m", "exporter", "generate", "chart", "--out", str(tmp_path)],
        cwd=REPO, capture_output=True, text=True, check=True,
    )  # fmt: skip
    assert str(tmp_path / "values.schema.json") in out.stdout.split()
    assert (tmp_path / "values.schema.json").read_text() == (
        CHART / "values.schema.json"
    ).read_text()


def test_the_default_config_names_its_schema_and_validates_against_it():
    text = default_config_text()
    assert text.splitlines()[0] == SCHEMA_LINE
    schema = json.loads(chart.CONFIG_SCHEMA.read_text())
    jsonschema.Draft202012Validator.check_schema(schema)
    jsonschema.Draft202012Validator(schema).validate(yaml.safe_load(text))
    assert "config.schema.json" in (REPO / "README.md").read_text()


@pytest.mark.parametrize(
    ("data", "where"),
    [
        ({"component_classes": [{"name": "a", "workload": {"name": "a"}, "max_replicas": "9"}]},
         "max_replicas"),
        ({"colection": {}}, "colection"),
        ({"deployment": {"replicas": 0}}, "replicas"),
        ({"environment": "prod"}, "environment"),
    ],
)  # fmt: skip
def test_the_config_schema_rejects_what_the_models_reject(data, where):
    """An editor (yaml-language-server) flags what `exporter check-config` would refuse."""
    schema = json.loads(chart.CONFIG_SCHEMA.read_text())
    with pytest.raises(jsonschema.ValidationError) as err:
        jsonschema.Draft202012Validator(schema).validate(data)
    assert where in str(err.value)


def test_yaml_on_off_passes_the_schema():
    """`gpu: on` reaches a YAML 1.1 parser as a boolean; the models (and schema) accept it."""
    schema = json.loads(chart.CONFIG_SCHEMA.read_text())
    jsonschema.Draft202012Validator(schema).validate(yaml.safe_load("gpu: on"))


def test_models_spec_has_the_defaults():
    spec = json.loads((CHART / "files" / "models.json").read_text())
    assert spec["Config"]["namespace"]["default"] == "platform"
    assert spec["Config"]["component_classes"]["items"] == "ComponentClass"
    assert spec["ScalingBehavior"]["scale_down"]["over_default"] is True


def test_kustomize_renders_the_committed_k8s_objects_equal_to_the_generator():
    """`kubectl kustomize k8s/` (kubectl 1.33 from `make tools`): every object, unchanged."""
    out = subprocess.run(
        [tool("kubectl"), "kustomize", str(REPO / "k8s")],
        capture_output=True, text=True, check=True, timeout=120,
    ).stdout  # fmt: skip
    built = [o for o in yaml.safe_load_all(out) if o]
    docs = k8s.documents(load_config(None, environ={}))
    want = [o for objs in docs.values() for o in objs]

    def by_key(objs):
        return {(o["kind"], o["metadata"].get("namespace", ""), o["metadata"]["name"]): o
                for o in objs}  # fmt: skip

    assert len(built) == len(want)
    assert by_key(built) == by_key(want)


def test_rule_stand_ins_refuse_what_the_chart_cannot_redo():
    """A threshold used in a way the template cannot follow fails `make chart`, not the
    rules: str(), combining two thresholds, a format printf lacks, int arithmetic."""
    tokens = chart_rules._Tokens()
    x = chart_rules._Threshold(0.5, "a", tokens)
    y = chart_rules._Threshold(0.25, "b", tokens)
    n = chart_rules._IntThreshold(3, "c", tokens)
    assert f"{(1 - x) * 100:.10g}" == "@@n0@@"
    assert tokens.numbers["n0"] == {
        "field": "a", "ops": [["rsub", 1.0], ["mul", 100.0]], "format": "%.10g",
    }  # fmt: skip
    assert f"{n}" == "@@n1@@"
    for bad in (lambda: str(x), lambda: x * y, lambda: f"{x:,}", lambda: n * 2, lambda: -x):
        with pytest.raises(TypeError):
            bad()


def test_rule_template_filled_with_a_config_is_the_generators_rules(tmp_path):
    """chart_rules.fill (what the chart's template does) gives alerts.rule_groups exactly."""
    path = tmp_path / "c.yaml"
    path.write_text(
        "environment: production\nnamespace: prod\nmetrics_api: {register: [external]}\n"
        "alerting: {exporter_job: ex, thresholds: {slo_availability: 0.995, "
        "error_rate_ratio: 0.07, pod_restarts_per_hour: 9, metrics_api_fallback_for: 3m}}\n"
        "component_classes:\n"
        "- {name: a, namespace: web, workload: {name: a}}\n"
        "- {name: b, workload: {name: b}}\n"
        "- {name: c, namespace: jobs, workload: {name: c}}\n"
    )
    config = load_config(path, environ={})
    assert config.namespaces == ["prod", "web", "jobs"]
    files = chart_rules.rule_template()
    text = json.dumps(files["rule-groups.json"])
    filled = json.loads(chart_rules.fill(text, config, files["rule-numbers.json"]))
    filled = [g for g in filled if g["name"] not in files["rule-switches.json"]]
    assert filled == alerts.rule_groups(config)
