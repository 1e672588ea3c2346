"""Issue 10's alerting pieces: the environment label, per-environment routing and channels,
inhibitions, the ingress group (only with an ingress controller) and the new config fields.

Delivery itself (PagerDuty/Slack payloads through a real Alertmanager) is proven in
tests/generators/test_alert_delivery_e2e.py.
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest
import yaml

from exporter.config import ConfigError, load_config
from exporter.generators import alerts
from tests.generators.test_alerts import RUNBOOK, alert_rules, config_for, run

REPO = Path(__file__).resolve().parents[2]
INGRESS_TESTS = REPO / "alerts" / "tests" / "with_ingress" / "ingress.yml"
ALL_ENVIRONMENTS = ["dev", "staging", "production"]


@pytest.mark.parametrize("env", ALL_ENVIRONMENTS)
def test_every_alert_carries_the_configs_environment(env):
    rules = alert_rules(alerts.rule_groups(config_for(env)))
    assert rules
    assert {r["labels"]["environment"] for r in rules} == {env}


def test_dashboard_links_point_at_generated_dashboards():
    from exporter.generators import dashboards

    config = config_for("dev", grafana_url="https://grafana.example/")
    uids = {m["uid"] for m in dashboards.dashboards(config).values()}
    for rule in alert_rules(alerts.rule_groups(config)):
        url = rule["annotations"]["dashboard_url"]
        assert url.startswith("https://grafana.example/d/"), url
        assert url.rsplit("/", 1)[1] in uids, f"{rule['alert']}: {url}"


def central_config():
    return config_for("production", routed_environments=ALL_ENVIRONMENTS)


def test_central_alertmanager_routes_every_environment_to_its_own_channel(tmp_path):
    am = alerts.alertmanager_config(central_config())
    by_name = {r["name"]: r for r in am["receivers"]}
    assert sorted(by_name) == ["null", "pagerduty", "slack-production", "slack-staging"]
    channels = {n: r["slack_configs"][0]["channel"] for n, r in by_name.items() if "slack" in n}
    assert channels == {
        "slack-production": "#platform-alerts",
        "slack-staging": "#platform-alerts-staging",
    }
    path = tmp_path / "alertmanager.yml"
    path.write_text(alerts.render(central_config())["alertmanager.yml"])
    for env, receivers in [
        ("production", "pagerduty,slack-production"),
        ("staging", "slack-staging"),
        ("dev", "null"),
    ]:
        result = run(
            "amtool", "config", "routes", "test", f"--config.file={path}",
            f"--verify.receivers={receivers}", f"environment={env}", "severity=critical",
            "alertname=RedisDown",
        )  # fmt: skip
        assert result.returncode == 0, f"{env}: {result.stdout}{result.stderr}"
    # an alert without the environment label reaches nobody rather than the wrong channel
    result = run(
        "amtool", "config", "routes", "test", f"--config.file={path}",
        "--verify.receivers=null", "severity=critical", "alertname=RedisDown",
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr


def test_pagerduty_payload_fields():
    am = alerts.alertmanager_config(config_for("production"))
    (pd,) = next(r for r in am["receivers"] if r["name"] == "pagerduty")["pagerduty_configs"]
    for ours in ("critical", "warning", "info"):
        assert f'eq .CommonLabels.severity "{ours}" }}}}{ours}' in pd["severity"]
    assert pd["severity"].endswith("{{ else }}error{{ end }}")
    assert {"source", "component", "group", "class", "description"} <= set(pd)
    assert [link["text"] for link in pd["links"]] == ["Runbook", "Dashboard"]
    assert pd["send_resolved"] is True


def inhibit(am: dict, source: str) -> list[dict]:
    return [r for r in am["inhibit_rules"] if r["source_matchers"] == [f'alertname="{source}"']]


def test_target_down_inhibits_its_collectors_and_derived_alerts():
    am = alerts.alertmanager_config(config_for("production"))
    derived, collectors = inhibit(am, "RedisDown")
    (matcher,) = derived["target_matchers"]
    assert {"RedisMemoryHigh", "RedisRejectedConnections", "RedisReplicaMasterLinkDown"} <= set(
        re.fullmatch(r'alertname=~"(.*)"', matcher).group(1).split("|")
    )
    assert collectors["target_matchers"] == [
        'alertname="ExporterCollectorFailing"',
        'collector=~"redis|redis_queues"',
    ]
    derived, collectors = inhibit(am, "PostgresDown")
    assert "PostgresDeadlocks" in derived["target_matchers"][0]
    assert "PostgresStandbyLagging" in derived["target_matchers"][0]
    assert collectors["target_matchers"][1] == 'collector=~"postgres|postgres_queues"'
    for rule in am["inhibit_rules"]:
        assert "environment" in rule["equal"], rule


def test_inhibited_collectors_are_the_real_collector_names():
    from exporter.collectors.postgres import PostgresCollector
    from exporter.collectors.queues.postgres_queues import PostgresQueuesCollector
    from exporter.collectors.queues.redis_queues import RedisQueuesCollector
    from exporter.collectors.redis import RedisCollector
    from exporter.generators.alerts.inhibitions import TARGETS

    assert TARGETS["postgres"][2] == (PostgresCollector.name, PostgresQueuesCollector.name)
    assert TARGETS["redis"][2] == (RedisCollector.name, RedisQueuesCollector.name)


def test_exporter_down_inhibits_what_the_exporter_feeds_only():
    am = alerts.alertmanager_config(config_for("production", ingress_controller="nginx"))
    (rule,) = inhibit(am, "ExporterDown")
    (matcher,) = rule["target_matchers"]
    targets = set(re.fullmatch(r'alertname=~"(.*)"', matcher).group(1).split("|"))
    assert {"RedisDown", "PostgresDown", "ExporterCollectorFailing", "QueueJobTooOld"} <= targets
    assert {"MetricsApiServiceUnavailable", "HpaScalingInactive", "RedisClusterNotOk"} <= targets
    # what the instrumented services, kube-state-metrics and the ingress controller feed stays
    for other in ("HighErrorRate", "PodNotReady", "IngressHigh5xxRate", "ExporterDown"):
        assert other not in targets
    assert rule["equal"] == ["environment"]


def test_ingress_group_only_with_an_ingress_controller():
    names = [g["name"] for g in alerts.rule_groups(config_for("dev"))]
    assert "exporter.ingress" not in names
    groups = alerts.rule_groups(config_for("dev", ingress_controller="nginx"))
    (ingress,) = [g for g in groups if g["name"] == "exporter.ingress"]
    assert [r["alert"] for r in ingress["rules"]] == ["IngressHigh5xxRate", "IngressHigh4xxRate"]
    for rule in ingress["rules"]:
        assert "nginx_ingress_controller_requests" in rule["expr"]


def test_ingress_promtool_cases_fire_and_stay_quiet(tmp_path):
    alerts.generate(config_for("dev", ingress_controller="nginx"), tmp_path)
    shutil.copy(INGRESS_TESTS, tmp_path / "ingress.yml")
    result = run("promtool", "test", "rules", "ingress.yml", cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    doc = yaml.safe_load(INGRESS_TESTS.read_text())
    checks = [c for case in doc["tests"] for c in case["alert_rule_test"]]
    for name in ("IngressHigh5xxRate", "IngressHigh4xxRate"):
        assert any(c["alertname"] == name and c["exp_alerts"] for c in checks), name
        assert any(c["alertname"] == name and not c["exp_alerts"] for c in checks), name


def test_ingress_promtool_cases_fail_when_the_threshold_moves(tmp_path):
    t = config_for("dev").alerting.thresholds.model_dump()
    t.update(ingress_5xx_ratio=0.2)
    alerts.generate(config_for("dev", ingress_controller="nginx", thresholds=t), tmp_path)
    shutil.copy(INGRESS_TESTS, tmp_path / "ingress.yml")
    result = run("promtool", "test", "rules", "ingress.yml", cwd=tmp_path)
    assert result.returncode != 0
    assert "alertname: IngressHigh5xxRate" in result.stdout + result.stderr


def test_optional_alerts_have_runbook_sections():
    headings = set(re.findall(r"^## (\S+)\s*$", RUNBOOK.read_text(), re.M))
    config = config_for("dev", ingress_controller="nginx")
    names = {r["alert"] for r in alert_rules(alerts.rule_groups(config))}
    assert names - headings == set()


@pytest.mark.parametrize(
    "data,where",
    [
        ({"alerting": {"grafana_url": "grafana:3000"}}, "alerting.grafana_url"),
        ({"alerting": {"ingress_controller": "traefik"}}, "alerting.ingress_controller"),
        ({"alerting": {"routed_environments": ["qa"]}}, "alerting.routed_environments[0]"),
        ({"alerting": {"slack": {"channels": {"qa": "#x"}}}}, "alerting.slack.channels"),
        (
            {"environment": "staging", "alerting": {"slack": {"channels": {"production": "#p"}}}},
            "alerting.slack.channels: no channel for environment 'staging'",
        ),
        (
            {"alerting": {"thresholds": {"metrics_api_fallback_for": "10"}}},
            "metrics_api_fallback_for",
        ),
        (
            {"alerting": {"thresholds": {"ingress_5xx_ratio": 2}}},
            "alerting.thresholds.ingress_5xx_ratio",
        ),
    ],
)
def test_new_alerting_fields_name_the_field(tmp_path, data, where):
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(data))
    with pytest.raises(ConfigError, match=re.escape(where)):
        load_config(path, environ={})
