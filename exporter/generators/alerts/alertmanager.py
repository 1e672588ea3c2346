"""Alertmanager routing: who hears which severity in which environment, and what they read.

Routing matches on the `environment` label every rule carries, so one Alertmanager can
serve several environments (`alerting.routed_environments`).
"""

from __future__ import annotations

from typing import Any

from exporter.config import Config
from exporter.generators.alerts.inhibitions import inhibit_rules

NULL_RECEIVER = "null"
PAGERDUTY = "pagerduty"
SLACK = "slack"
# Our severity -> PagerDuty Events v2 `payload.severity` (its urgency rules key on it).
# Anything else becomes PagerDuty's "error", Alertmanager's own default.
PAGERDUTY_SEVERITY = {"critical": "critical", "warning": "warning", "info": "info"}
RUNBOOK = "{{ .CommonAnnotations.runbook_url }}"
DASHBOARD = "{{ .CommonAnnotations.dashboard_url }}"
ENV = "{{ .CommonLabels.environment }}"


def slack_receiver(environment: str) -> str:
    return f"{SLACK}-{environment}"


def _pagerduty_severity() -> str:
    branches = "{{ else if".join(
        f' eq .CommonLabels.severity "{ours}" }}}}{theirs}'
        for ours, theirs in PAGERDUTY_SEVERITY.items()
    )
    return "{{ if" + branches + "{{ else }}error{{ end }}"


def _routes(environment: str) -> list[dict[str, Any]]:
    """Who hears what, per environment.

    production: critical pages PagerDuty and also posts to Slack; warning posts to Slack.
    staging: critical and warning post to Slack (its own channel); nothing pages.
    dev: nothing is sent anywhere; alerts are visible in Prometheus and Alertmanager only
    (dev clusters are torn down and redeployed all day; a Slack channel full of their noise
    trains people to ignore it).
    info never leaves Alertmanager in any environment.
    """
    slack = {"receiver": slack_receiver(environment), "matchers": ['severity=~"critical|warning"']}
    if environment == "production":
        return [
            {"receiver": PAGERDUTY, "matchers": ['severity="critical"'], "continue": True},
            slack,
        ]
    if environment == "staging":
        return [slack]
    return []


def _pagerduty(config: Config) -> dict[str, Any]:
    return {
        "name": PAGERDUTY,
        "pagerduty_configs": [
            {
                "routing_key_file": config.alerting.pagerduty.routing_key_file,
                "send_resolved": True,
                "severity": _pagerduty_severity(),
                "description": f"[{ENV}] {{{{ .CommonLabels.alertname }}}}: "
                "{{ .CommonAnnotations.summary }}",
                "source": f"{ENV}/{{{{ or .CommonLabels.target .CommonLabels.component_class "
                '.CommonLabels.instance "platform" }}',
                "component": "{{ or .CommonLabels.component_class .CommonLabels.target "
                '.CommonLabels.job "exporter" }}',
                "group": ENV,
                "class": "{{ .CommonLabels.alertname }}",
                "links": [
                    {"href": RUNBOOK, "text": "Runbook"},
                    {"href": DASHBOARD, "text": "Dashboard"},
                ],
            }
        ],
    }


def _slack(config: Config, environment: str) -> dict[str, Any]:
    status = '{{ if eq .Status "resolved" }}RESOLVED{{ else }}FIRING{{ end }}'
    return {
        "name": slack_receiver(environment),
        "slack_configs": [
            {
                "api_url_file": config.alerting.slack.api_url_file,
                "channel": config.alerting.slack.channels[environment],
                "send_resolved": True,
                "color": '{{ if eq .Status "resolved" }}good{{ else if eq '
                '.CommonLabels.severity "critical" }}danger{{ else }}warning{{ end }}',
                "title": f"[{ENV}] [{status}] {{{{ .CommonLabels.alertname }}}} "
                "({{ .CommonLabels.severity }})",
                "text": (
                    '{{ if eq .Status "resolved" }}Resolved: {{ end }}'
                    "{{ range .Alerts }}*{{ .Annotations.summary }}*\n"
                    "{{ .Annotations.description }}\n{{ end }}"
                    f"Environment: {ENV} | Severity: {{{{ .CommonLabels.severity }}}}\n"
                    f"<{RUNBOOK}|Runbook> | <{DASHBOARD}|Dashboard>"
                ),
            }
        ],
    }


def alertmanager_config(config: Config) -> dict[str, Any]:
    routes = []
    receivers: list[dict[str, Any]] = [{"name": NULL_RECEIVER}]
    for env in config.routed_environments:
        env_routes = _routes(env)
        if not env_routes:
            continue  # unrouted environments fall through to the null receiver
        routes.append({"matchers": [f'environment="{env}"'], "routes": env_routes})
        if env == "production":
            receivers.append(_pagerduty(config))
        receivers.append(_slack(config, env))
    route: dict[str, Any] = {
        "receiver": NULL_RECEIVER,
        "group_by": ["environment", "alertname", "component_class", "target"],
        "group_wait": "30s",
        "group_interval": "5m",
        "repeat_interval": "4h",
    }
    if routes:
        route["routes"] = routes
    # Only receivers something routes to: a dev Alertmanager needs no secret mounts.
    return {"route": route, "inhibit_rules": inhibit_rules(config), "receivers": receivers}
