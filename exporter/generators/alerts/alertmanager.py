"""Alertmanager routing: who hears which severity in which environment."""

from __future__ import annotations

from typing import Any

from exporter.config import Config

NULL_RECEIVER = "null"
PAGERDUTY = "pagerduty"
SLACK = "slack"


def _routes(environment: str) -> list[dict[str, Any]]:
    """Who hears what, per environment.

    production: critical pages PagerDuty and also posts to Slack; warning posts to Slack.
    staging: critical and warning post to Slack; nothing pages.
    dev: nothing is sent anywhere; alerts are visible in Prometheus and Alertmanager only
    (dev clusters are torn down and redeployed all day; a Slack channel full of their noise
    trains people to ignore it).
    info never leaves Alertmanager in any environment.
    """
    if environment == "production":
        return [
            {"receiver": PAGERDUTY, "matchers": ['severity="critical"'], "continue": True},
            {"receiver": SLACK, "matchers": ['severity=~"critical|warning"']},
        ]
    if environment == "staging":
        return [{"receiver": SLACK, "matchers": ['severity=~"critical|warning"']}]
    return []


def alertmanager_config(config: Config) -> dict[str, Any]:
    env = config.environment
    slack_text = (
        "{{ range .Alerts }}*{{ .Annotations.summary }}*\n{{ .Annotations.description }}\n"
        "Runbook: {{ .Annotations.runbook_url }}\n{{ end }}"
    )
    routes = _routes(env)
    route: dict[str, Any] = {
        "receiver": NULL_RECEIVER,
        "group_by": ["alertname", "component_class"],
        "group_wait": "30s",
        "group_interval": "5m",
        "repeat_interval": "4h",
    }
    if routes:
        route["routes"] = routes
    used = {NULL_RECEIVER} | {r["receiver"] for r in routes}
    receivers = [
        {"name": NULL_RECEIVER},
        {
            "name": PAGERDUTY,
            "pagerduty_configs": [
                {
                    "routing_key_file": config.alerting.pagerduty.routing_key_file,
                    "send_resolved": True,
                    "description": f"[{env}] {{{{ .CommonAnnotations.summary }}}}",
                    "links": [{"href": "{{ .CommonAnnotations.runbook_url }}", "text": "Runbook"}],
                }
            ],
        },
        {
            "name": SLACK,
            "slack_configs": [
                {
                    "api_url_file": config.alerting.slack.api_url_file,
                    "channel": config.alerting.slack.channel,
                    "send_resolved": True,
                    "title": (
                        f"[{env}] [{{{{ .Status | toUpper }}}}] {{{{ .CommonLabels.alertname }}}}"
                        " ({{ .CommonLabels.severity }})"
                    ),
                    "text": slack_text,
                }
            ],
        },
    ]
    return {
        "route": route,
        # A critical alert makes its warning twin (same alert, same class) redundant.
        "inhibit_rules": [
            {
                "source_matchers": ['severity="critical"'],
                "target_matchers": ['severity="warning"'],
                "equal": ["alertname", "component_class"],
            }
        ],
        # Only receivers something routes to: a dev Alertmanager needs no secret mounts.
        "receivers": [r for r in receivers if r["name"] in used],
    }
