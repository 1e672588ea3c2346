"""End to end: generated rules in a real Prometheus, generated routing in a real
Alertmanager (the Debian `prometheus-alertmanager`), and a local HTTP sink standing in for
PagerDuty's Events v2 API and Slack's incoming webhook.

One central Alertmanager serves three environments (`alerting.routed_environments`); one
Prometheus loads the committed `alerts/rules.yml` three times, once per environment (the
copies differ only in the `environment` label), with every `for:` 30 times shorter. A real
exporter probes a real Redis; Redis is stopped (SIGSTOP: the probe times out) so `RedisDown`
fires, then resumed so it resolves. The sink must see, per environment: production a
PagerDuty trigger (severity critical, the configured routing key) and a Slack message, then
a resolve of both; staging a Slack message in its own channel and its resolve; dev nothing.
`ExporterCollectorFailing` for the Redis target fires in Prometheus and is inhibited by
Alertmanager.
"""

from __future__ import annotations

import contextlib
import json
import re
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import pytest
import yaml

from exporter.config import Config
from exporter.generators import alerts
from tests.support.servers import (
    REPO,
    alertmanager_server,
    exporter_process,
    free_port,
    prometheus_process,
    wait_for,
)

ENVIRONMENTS = ("dev", "staging", "production")
RULES = REPO / "alerts" / "rules.yml"
ROUTING_KEY = "e2e0routing0key0000000000000000a"  # PagerDuty routing keys are 32 characters
# `for:` in the test copy: 30 times shorter (RedisDown 1m -> 2s, ExporterCollectorFailing and
# ExporterDown 5m -> 10s), so a startup hiccup on a loaded machine fires nothing.
SPEEDUP = 30
_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


class Sink:
    """A local HTTP server recording every POST (path, JSON body, arrival time)."""

    def __init__(self) -> None:
        self.received: list[dict] = []
        self.lock = threading.Lock()
        sink = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server's naming
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                with sink.lock:
                    sink.received.append({"path": self.path, "body": body, "t": time.monotonic()})
                is_pd = self.path.startswith("/pagerduty")
                reply = b'{"status":"success","message":"Event processed"}' if is_pd else b"ok"
                self.send_response(202 if is_pd else 200)
                self.send_header("Content-Length", str(len(reply)))
                self.end_headers()
                self.wfile.write(reply)

            def log_message(self, *args) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"

    def messages(self, path_prefix: str) -> list[dict]:
        with self.lock:
            return [m["body"] for m in self.received if m["path"].startswith(path_prefix)]

    @contextlib.contextmanager
    def running(self) -> Iterator[Sink]:
        thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        thread.start()
        try:
            yield self
        finally:
            self.server.shutdown()
            self.server.server_close()


def exporter_config(redis_url: str, http_port: int, secrets: Path) -> dict:
    (secrets / "pd").write_text(ROUTING_KEY + "\n")
    return {
        "environment": "production",
        "listen": {"http": f"127.0.0.1:{http_port}", "https": f"127.0.0.1:{free_port()}"},
        "collection": {"interval_seconds": 1, "timeout_seconds": 0.8},
        "redis": [{"name": "main", "url": redis_url}],
        "gpu": "off",
        "kubernetes": {"enabled": "off"},
        "metrics_api": {"enabled": False},
        "alerting": {
            "routed_environments": list(ENVIRONMENTS),
            "pagerduty": {"routing_key_file": str(secrets / "pd")},
            "slack": {"api_url_file": str(secrets / "slack")},
        },
    }


def shortened(duration: str) -> str:
    """'5m' -> '10s': the test copy's `for:`, same order, SPEEDUP times shorter."""
    return f"{max(1, int(duration[:-1]) * _SECONDS[duration[-1]] // SPEEDUP)}s"


def rules_test_copy(environment: str, folder: Path) -> Path:
    """The committed alerts/rules.yml as `environment`'s Prometheus would load it (the
    generator writes the config's environment into every alert), `for:` shortened."""
    rules = yaml.safe_load(RULES.read_text())
    for group in rules["groups"]:
        for rule in group["rules"]:
            if "alert" in rule:
                assert rule["labels"]["environment"] == "dev"  # the default config's
                rule["labels"]["environment"] = environment
            if "for" in rule:
                rule["for"] = shortened(rule["for"])
    path = folder / f"rules-{environment}.yml"
    path.write_text(yaml.safe_dump(rules, sort_keys=False))
    return path


def alertmanager_test_copy(config: Config) -> str:
    am = alerts.alertmanager_config(config)
    am["global"] = {"resolve_timeout": "10s"}
    am["route"].update(group_wait="1s", group_interval="2s", repeat_interval="1h")
    for receiver in am["receivers"]:
        for pd in receiver.get("pagerduty_configs", []):
            pd["url"] = "{sink}/pagerduty/v2/enqueue"
    return yaml.safe_dump(am, sort_keys=False)


def am_alerts(base: str, name: str) -> list[dict]:
    resp = httpx.get(f"{base}/api/v2/alerts", params={"filter": f'alertname="{name}"'}, timeout=5)
    return resp.json()


def prom_firing(base: str, name: str) -> set[str]:
    body = httpx.get(f"{base}/api/v1/alerts", timeout=5).json()
    return {
        a["labels"]["environment"]
        for a in body["data"]["alerts"]
        if a["labels"]["alertname"] == name and a["state"] == "firing"
    }


def slack_by_channel(sink: Sink) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for body in sink.messages("/slack"):
        (attachment,) = body["attachments"]
        out.setdefault(body["channel"], []).append(attachment["title"] + "\n" + attachment["text"])
    return out


@pytest.mark.timeout(120)
def test_redis_outage_pages_production_posts_staging_and_inhibits_collector_alerts(
    own_redis, tmp_path
):
    started = time.monotonic()
    http_port = free_port()
    with Sink().running() as sink:
        (tmp_path / "slack").write_text(f"{sink.url}/slack/webhook\n")
        data = exporter_config(own_redis.extra["url"], http_port, tmp_path)
        config = Config.model_validate(data)
        rule_files = [rules_test_copy(env, tmp_path) for env in ENVIRONMENTS]
        am_text = alertmanager_test_copy(config).replace("{sink}", sink.url)
        exporter_addr = f"127.0.0.1:{http_port}"
        with (
            exporter_process(yaml.safe_dump(data)) as exporter,
            alertmanager_server(am_text) as am,
        ):
            wait_for(
                lambda: httpx.get(f"http://{exporter_addr}/readyz", timeout=1).status_code == 200,
                timeout=20,
                what=f"exporter ready (log: {exporter.extra['log']})",
            )
            scrape = [
                {"job_name": config.exporter_job, "static_configs": [{"targets": [exporter_addr]}]}
            ]
            with prometheus_process(
                scrape, "1s", rule_files, "1s", alertmanagers=[f"127.0.0.1:{am.port}"]
            ) as prom:
                base, am_base = prom.extra["url"], am.extra["url"]
                wait_for(
                    lambda: httpx.get(
                        f"{base}/api/v1/query", params={"query": "redis_up == 1"}, timeout=2
                    ).json()["data"]["result"],
                    timeout=20,
                    what="a scrape with redis_up 1",
                )
                time.sleep(3)  # a quiet baseline: nothing may be firing before the outage
                assert sink.received == [], f"sent before the outage: {sink.received}"

                own_redis.pause()
                outage = time.monotonic()
                try:
                    wait_for(
                        lambda: (
                            sink.messages("/pagerduty")
                            and {"#platform-alerts", "#platform-alerts-staging"}
                            <= set(slack_by_channel(sink))
                        ),
                        timeout=30,
                        interval=0.2,
                        what=f"PagerDuty and both Slack channels (got {sink.received})",
                    )
                    first_notice = time.monotonic() - outage
                    # the collector alert fires in Prometheus, for every environment...
                    wait_for(
                        lambda: prom_firing(base, "ExporterCollectorFailing") == set(ENVIRONMENTS),
                        timeout=30,
                        interval=0.2,
                        what="ExporterCollectorFailing firing in Prometheus",
                    )
                    # ...reaches Alertmanager, and is suppressed there by RedisDown
                    wait_for(
                        lambda: len(am_alerts(am_base, "ExporterCollectorFailing")) == 3,
                        timeout=15,
                        interval=0.2,
                        what="ExporterCollectorFailing in Alertmanager",
                    )
                    time.sleep(4)  # two group intervals: any notification for it would be out
                    for alert in am_alerts(am_base, "ExporterCollectorFailing"):
                        assert alert["labels"]["collector"] == "redis"
                        assert alert["status"]["state"] == "suppressed", alert
                        assert alert["status"]["inhibitedBy"], alert
                    dev = [
                        a
                        for a in am_alerts(am_base, "RedisDown")
                        if a["labels"]["environment"] == "dev"
                    ]
                    assert dev and dev[0]["status"]["state"] == "active"  # dev's alert arrived
                    during_outage = [dict(m) for m in sink.received]
                finally:
                    own_redis.resume()
                resumed = time.monotonic()

                def resolved() -> bool:
                    actions = [m["event_action"] for m in sink.messages("/pagerduty")]
                    slack = slack_by_channel(sink)
                    return "resolve" in actions and all(
                        any("RESOLVED" in text for text in slack.get(channel, []))
                        for channel in ("#platform-alerts", "#platform-alerts-staging")
                    )

                wait_for(resolved, timeout=30, interval=0.2, what=f"resolves (got {sink.received})")
                resolve_after = time.monotonic() - resumed

    # --- what the sink received ------------------------------------------------------------
    pd = sink.messages("/pagerduty")
    assert [m["event_action"] for m in pd] == ["trigger", "resolve"], pd
    trigger, resolve = pd
    assert trigger["routing_key"] == ROUTING_KEY and resolve["routing_key"] == ROUTING_KEY
    assert trigger["dedup_key"] == resolve["dedup_key"]
    payload = trigger["payload"]
    assert payload["severity"] == "critical"
    assert payload["summary"] == "[production] RedisDown: Redis is unreachable."
    assert payload["source"] == "production/main"
    assert payload["component"] == "main"
    assert payload["group"] == "production"
    assert payload["class"] == "RedisDown"
    links = {link["text"]: link["href"] for link in trigger["links"]}
    assert links["Runbook"].endswith("docs/runbook.md#redisdown")
    assert links["Dashboard"].endswith("/d/exporter-redis")

    slack = slack_by_channel(sink)
    assert set(slack) == {"#platform-alerts", "#platform-alerts-staging"}  # dev: nothing
    for channel, env in (
        ("#platform-alerts", "production"),
        ("#platform-alerts-staging", "staging"),
    ):
        firing = [t for t in slack[channel] if "FIRING" in t]
        assert firing and all(f"[{env}]" in t for t in slack[channel]), slack[channel]
        assert "[FIRING] RedisDown (critical)" in firing[0]
        assert "Redis is unreachable." in firing[0]
        assert f"Environment: {env} | Severity: critical" in firing[0]
        assert re.search(
            r"<https?://\S+#redisdown\|Runbook> \| <\S+/d/exporter-redis\|Dashboard>", firing[0]
        )
        assert any(t.startswith(f"[{env}] [RESOLVED] RedisDown") for t in slack[channel])
    text = json.dumps(during_outage)
    assert "ExporterCollectorFailing" not in text
    assert "[dev]" not in text and '"group": "dev"' not in text
    total = time.monotonic() - started
    print(
        f"\nfirst notifications {first_notice:.1f}s after Redis stopped; resolves "
        f"{resolve_after:.1f}s after it returned; test {total:.1f}s; sink received "
        f"PagerDuty {[m['event_action'] for m in pd]}, Slack "
        f"{ {c: len(v) for c, v in slack.items()} }"
    )
    late = [
        m
        for m in sink.received[len(during_outage) :]
        if "ExporterCollectorFailing" in json.dumps(m)
    ]
    if late:  # the collector alert may resolve a moment after RedisDown: reported, not failed
        print(f"after Redis returned: {len(late)} ExporterCollectorFailing notification(s)")
