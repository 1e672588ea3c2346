"""Alert rules and Alertmanager routing: promtool, amtool, drift and mixin-style lint."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from exporter.config import Config, ConfigError, load_config
from exporter.generators import alerts

REPO = Path(__file__).resolve().parents[2]
ALERTS_DIR = REPO / "alerts"
UNIT_TESTS = sorted((ALERTS_DIR / "tests").glob("*.yml"))
RUNBOOK = REPO / "docs" / "runbook.md"

# The alerts issue 6 requires by name (more may exist).
REQUIRED_ALERTS = {
    "HighErrorRate", "HighLatencyP95", "ErrorBudgetBurn", "PostgresDown",
    "PostgresConnectionsSaturated", "PostgresDeadlocks", "RedisDown", "RedisMemoryHigh",
    "RedisRejectedConnections", "QueueBacklogGrowing", "QueueJobTooOld", "HpaMaxedOut",
    "GpuTemperatureHigh", "ExporterCollectorFailing", "ExporterDown", "PodNotReady",
    "PodRestartingFrequently",
}  # fmt: skip


def default_config() -> Config:
    return load_config(None, environ={})


def config_for(environment: str, **alerting) -> Config:
    data = default_config().model_dump()
    data["environment"] = environment
    for key, value in alerting.items():
        data["alerting"][key] = value
    return Config.model_validate(data)


def alert_rules(groups: list[dict]) -> list[dict]:
    return [r for g in groups for r in g["rules"] if "alert" in r]


def run(*cmd: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(cmd, capture_output=True, text=True, cwd=cwd, timeout=60)


# --- generated files -------------------------------------------------------------------------
def test_committed_files_match_the_generator():
    for name, text in alerts.render(default_config()).items():
        committed = (ALERTS_DIR / name).read_text()
        assert committed == text, f"alerts/{name} drifted from the generator: run `make alerts`"


def test_rule_groups_is_what_rules_yml_holds():
    on_disk = yaml.safe_load((ALERTS_DIR / "rules.yml").read_text())
    assert on_disk == {"groups": alerts.rule_groups(default_config())}


def test_generate_writes_both_files(tmp_path):
    written = alerts.generate(default_config(), tmp_path / "out")
    assert sorted(Path(p).name for p in written) == ["alertmanager.yml", "rules.yml"]


# --- promtool ----------------------------------------------------------------------------------
def test_promtool_check_rules():
    result = run("promtool", "check", "rules", str(ALERTS_DIR / "rules.yml"))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout


def test_promtool_unit_tests_pass():
    assert UNIT_TESTS, "no hand-written promtool tests in alerts/tests/"
    result = run("promtool", "test", "rules", *map(str, UNIT_TESTS))
    assert result.returncode == 0, result.stdout + result.stderr


def test_unit_tests_cover_every_alert_firing_and_quiet():
    names = {r["alert"] for r in alert_rules(alerts.rule_groups(default_config()))}
    firing, quiet = set(), set()
    for path in UNIT_TESTS:
        doc = yaml.safe_load(path.read_text())
        for case in doc["tests"]:
            for check in case.get("alert_rule_test", []):
                (firing if check.get("exp_alerts") else quiet).add(check["alertname"])
    assert names - firing == set(), "alerts without a firing test"
    assert names - quiet == set(), "alerts without a staying-quiet test"
    assert firing | quiet <= names, "tests name alerts that do not exist"


def test_unit_tests_fail_when_a_threshold_moves(tmp_path):
    """The hand-written tests really pin the thresholds: raise two and they fail."""
    t = default_config().alerting.thresholds.model_dump()
    t.update(error_rate_ratio=0.2, gpu_temperature_celsius=95)
    (tmp_path / "tests").mkdir()
    alerts.generate(config_for("dev", thresholds=t), tmp_path)
    for path in UNIT_TESTS:
        shutil.copy(path, tmp_path / "tests" / path.name)
    result = run("promtool", "test", "rules", "tests/http.yml", "tests/work.yml", cwd=tmp_path)
    assert result.returncode != 0
    report = result.stdout + result.stderr
    assert "alertname: HighErrorRate" in report
    assert "alertname: GpuTemperatureHigh" in report


# --- Alertmanager --------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def am_configs(tmp_path_factory) -> dict[str, Path]:
    """alertmanager.yml generated for each environment, in its own temp dir."""
    out = {}
    for env in ("dev", "staging", "production"):
        folder = tmp_path_factory.mktemp(env)
        alerts.generate(config_for(env), folder)
        out[env] = folder / "alertmanager.yml"
    return out


@pytest.mark.parametrize("env", ["dev", "staging", "production"])
def test_amtool_check_config(am_configs, env):
    result = run("amtool", "check-config", str(am_configs[env]))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout


ROUTES = [
    # environment, labels, receivers that get the alert
    ("production", {"severity": "critical", "alertname": "PostgresDown"}, "pagerduty,slack-production"),
    ("production", {"severity": "critical", "alertname": "HighErrorRate", "component_class": "gpu"}, "pagerduty,slack-production"),
    ("production", {"severity": "warning", "alertname": "QueueJobTooOld"}, "slack-production"),
    ("production", {"severity": "info", "alertname": "Anything"}, "null"),
    ("staging", {"severity": "critical", "alertname": "PostgresDown"}, "slack-staging"),
    ("staging", {"severity": "warning", "alertname": "QueueJobTooOld"}, "slack-staging"),
    ("staging", {"severity": "info", "alertname": "Anything"}, "null"),
    ("dev", {"severity": "critical", "alertname": "PostgresDown"}, "null"),
    ("dev", {"severity": "warning", "alertname": "QueueJobTooOld"}, "null"),
]  # fmt: skip


@pytest.mark.parametrize("env,labels,receivers", ROUTES)
def test_routes(am_configs, env, labels, receivers):
    pairs = [f"{k}={v}" for k, v in {**labels, "environment": env}.items()]
    result = run(
        "amtool", "config", "routes", "test", f"--config.file={am_configs[env]}",
        f"--verify.receivers={receivers}", *pairs,
    )  # fmt: skip
    assert result.returncode == 0, f"{env} {labels}: {result.stdout}{result.stderr}"
    assert result.stdout.strip() == receivers


def test_critical_inhibits_warning_of_same_alert_and_class():
    rule = alerts.alertmanager_config(config_for("production"))["inhibit_rules"][0]
    assert rule == {
        "source_matchers": ['severity="critical"'],
        "target_matchers": ['severity="warning"'],
        "equal": ["environment", "alertname", "component_class"],
    }


def test_receivers_read_secrets_from_files_only():
    config = config_for(
        "production",
        pagerduty={"routing_key_file": "/run/secrets/pd"},
        slack={"api_url_file": "/run/secrets/slack", "channels": {"production": "#ops"}},
    )
    am = alerts.alertmanager_config(config)
    by_name = {r["name"]: r for r in am["receivers"]}
    (pd,) = by_name["pagerduty"]["pagerduty_configs"]
    (slack,) = by_name["slack-production"]["slack_configs"]
    assert pd["routing_key_file"] == "/run/secrets/pd"
    assert slack["api_url_file"] == "/run/secrets/slack"
    assert slack["channel"] == "#ops"
    text = alerts.render(config)["alertmanager.yml"]
    for inline in ("routing_key:", "service_key:", "api_url:", "slack_api_url:"):
        assert inline not in text


def test_dev_config_needs_no_secret_mounts():
    am = alerts.alertmanager_config(config_for("dev"))
    assert [r["name"] for r in am["receivers"]] == ["null"]


@pytest.mark.parametrize(
    "field,value",
    [
        ("slack", {"api_url_file": "https://hooks.slack.com/services/T0/B0/SECRETVALUE"}),
        ("pagerduty", {"routing_key_file": "SECRETVALUE0123456789"}),
    ],
)
def test_inline_secret_rejected_without_echo(tmp_path, field, value):
    key, secret = next(iter(value.items()))
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump({"alerting": {field: {key: secret}}}))
    with pytest.raises(ConfigError) as err:
        load_config(path, environ={})
    assert f"alerting.{field}.{key}" in str(err.value)
    assert "SECRETVALUE" not in str(err.value)


# --- lint (in the spirit of the monitoring mixins) -----------------------------------------------
RECORD_NAME = re.compile(r"^[a-z][a-z0-9_]*:[a-z][a-z0-9_]*:[a-z0-9_]+$")
CAMEL_CASE = re.compile(r"^[A-Z][a-z0-9]+(?:[A-Z][a-z0-9]*)*$")


@pytest.fixture(params=["default", "custom"])
def groups(request) -> list[dict]:
    if request.param == "default":
        return alerts.rule_groups(default_config())
    t = default_config().alerting.thresholds.model_dump()
    t.update(error_rate_ratio=0.02, latency_p95_seconds=0.25, slo_availability=0.995)
    return alerts.rule_groups(
        config_for(
            "production",
            thresholds=t,
            runbook_base_url="https://runbooks.example/x.md",
            ingress_controller="nginx",
        )
    )


def test_lint_alerts(groups):
    rules = alert_rules(groups)
    names = {r["alert"] for r in rules}
    assert REQUIRED_ALERTS <= names
    for rule in rules:
        name = rule["alert"]
        assert CAMEL_CASE.match(name) and len(name) <= 40, name
        labels, ann = rule["labels"], rule["annotations"]
        assert labels["severity"] in ("critical", "warning", "info"), name
        assert "{{" not in ann["summary"] and ann["summary"].strip(), f"{name}: summary"
        assert re.search(r"\{\{.*\$(labels|value).*\}\}", ann["description"]), (
            f"{name}: description"
        )
        assert ann["runbook_url"].endswith("#" + name.lower()), name
        assert set(ann) == {"summary", "description", "runbook_url", "dashboard_url"}, name
        assert labels["environment"] in ("dev", "staging", "production"), name


def test_lint_recording_rule_names(groups):
    records = [r["record"] for g in groups for r in g["rules"] if "record" in r]
    assert records
    for name in records:
        assert RECORD_NAME.match(name), f"{name} is not level:metric:operations"
    assert len(records) == len(set(records))


def test_lint_thresholds_come_from_config(groups):
    exprs = {r["alert"] + r["labels"]["severity"]: r["expr"] for r in alert_rules(groups)}
    custom = "0.25" in exprs["HighLatencyP95warning"]
    assert exprs["HighErrorRatecritical"].endswith("> " + ("0.02" if custom else "0.05"))
    budget = "0.005" if custom else "0.001"
    assert f"(14.4 * {budget})" in exprs["ErrorBudgetBurncritical"]
    assert f"(6 * {budget})" in exprs["ErrorBudgetBurnwarning"]


def test_every_alert_has_a_runbook_section():
    headings = set(re.findall(r"^## (\S+)\s*$", RUNBOOK.read_text(), re.M))
    names = {r["alert"] for r in alert_rules(alerts.rule_groups(default_config()))}
    assert names <= headings, f"runbook lacks sections for {sorted(names - headings)}"
    base = default_config().alerting.runbook_base_url
    assert base.endswith("docs/runbook.md")


def test_lint_alert_metrics_come_from_the_catalog(groups):
    from exporter.catalog import CATALOG, MetricSpec
    from exporter.generators import peer_metrics
    from tests.generators.test_dashboards import metric_names

    known = set(CATALOG) | {
        v.name for v in vars(peer_metrics).values() if isinstance(v, MetricSpec)
    }
    known |= {f"{n}{s}" for n in list(known) for s in ("_bucket", "_sum", "_count")}
    known |= {r["record"] for g in groups for r in g["rules"] if "record" in r}
    for g in groups:
        for rule in g["rules"]:
            names = metric_names(rule["expr"])
            assert names and names <= known, f"{rule}: unknown {names - known}"


BURN = {
    "long": "3d",
    "short": "6h",
    "factor": 1,
    "severity": "info",
    "for_duration": "1h",
    "pace": "slowly",
}


def test_burn_rate_windows_come_from_config(tmp_path):
    """A window added in config gets its recording rules and its alert; promtool accepts it."""
    default = [w.model_dump() for w in default_config().alerting.burn_rates]
    slow = {**BURN, "note": "Worth a ticket."}
    config = config_for("dev", burn_rates=[*default, slow])
    groups = alerts.rule_groups(config)
    records = [
        r["record"] for r in groups[0]["rules"] if "http_requests_errors:ratio_rate" in r["record"]
    ]
    assert [r.rsplit("rate", 1)[1] for r in records] == ["5m", "30m", "1h", "6h", "3d"]
    burns = [r for r in alert_rules(groups) if r["alert"] == "ErrorBudgetBurn"]
    assert [(r["labels"]["window"], r["labels"]["severity"], r["for"]) for r in burns] == [
        ("1h/5m", "critical", "2m"),
        ("6h/30m", "warning", "15m"),
        ("3d/6h", "info", "1h"),
    ]
    assert "ratio_rate3d > (1 * 0.001)\nand\n" in burns[2]["expr"]
    assert burns[2]["annotations"]["summary"].endswith("burning slowly (1x over 3d and 6h).")
    assert burns[2]["annotations"]["description"].endswith("over the last 3 days. Worth a ticket.")
    rules = alerts.generate(config, tmp_path)[0]
    result = run("promtool", "check", "rules", rules)
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize(
    "alerting,where",
    [
        ({"runbook_base_url": "docs/runbook.md"}, "alerting.runbook_base_url"),
        ({"runbook_base_url": "https://x.example/r.md#top"}, "alerting.runbook_base_url"),
        ({"exporter_job": ""}, "alerting.exporter_job"),
        ({"thresholds": {"pod_restarts_per_hour": 0}}, "alerting.thresholds.pod_restarts_per_hour"),
        ({"thresholds": {"queue_backlog_depth": -1}}, "alerting.thresholds.queue_backlog_depth"),
        ({"burn_rates": []}, "alerting.burn_rates"),
        ({"burn_rates": [{**BURN, "long": "1 hour"}]}, "alerting.burn_rates[0].long"),
        ({"burn_rates": [{**BURN, "factor": 0}]}, "alerting.burn_rates[0].factor"),
        ({"burn_rates": [{**BURN, "severity": "page"}]}, "alerting.burn_rates[0].severity"),
    ],
)
def test_alerting_config_errors_name_the_field(tmp_path, alerting, where):
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump({"alerting": alerting}))
    with pytest.raises(ConfigError, match=re.escape(where)):
        load_config(path, environ={})
