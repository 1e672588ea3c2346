"""End to end: a real Prometheus scrapes a real exporter (real PostgreSQL and Redis) and the
instrumented demo app under traffic, loads the generated rules, and answers every dashboard
query and every rule expression.

Checks: every query and rule parses and evaluates; every rule is healthy in /api/v1/rules;
every dashboard query whose input metrics the run produced returns data; a Redis outage
drives RedisDown to pending through the whole chain (collector -> scrape -> rule).
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import yaml

from exporter.config import Config
from exporter.generators import alerts, dashboards
from tests.generators.test_dashboards import metric_names
from tests.support.servers import (
    REPO,
    exporter_process,
    free_port,
    prometheus_query,
    prometheus_server,
    stop_process,
    wait_for,
)

RATE_INTERVAL = "1m"  # what Grafana's $__rate_interval becomes at a 1 s scrape interval here
DEMO_APP = REPO / "demo" / "app.py"
DEMO_CLASS = "gpu"  # the demo app's component_class (COMPONENT_CLASS env)

# Panels that must return data in this setup (demo traffic, PostgreSQL, Redis, exporter),
# so the generic "inputs present -> data" check below cannot pass vacuously.
MUST_HAVE_DATA = {
    ("exporter-platform-overview", "Requests per second"),
    ("exporter-platform-overview", "Error ratio (5xx)"),
    ("exporter-platform-overview", "PostgreSQL up"),
    ("exporter-platform-overview", "Redis up"),
    ("exporter-component-class", "Requests per second by route and status"),
    ("exporter-component-class", "Latency p50 / p95 / p99 (non-streaming)"),
    ("exporter-postgres", "Connections by state"),
    ("exporter-postgres", "Connections used"),
    ("exporter-redis", "Memory"),
    ("exporter-redis", "Clients"),
    ("exporter-redis", "Memory used ratio"),
    ("exporter-self-health", "Scrape up"),
    ("exporter-self-health", "Collector up"),
    ("exporter-self-health", "Collector duration"),
    ("exporter-self-health", "Seconds since last success"),
}


def e2e_config(pg_dsn: str, redis_url: str, http_port: int) -> str:
    classes = ["cpu", DEMO_CLASS]
    config = {
        "environment": "dev",
        "listen": {"http": f"127.0.0.1:{http_port}", "https": f"127.0.0.1:{free_port()}"},
        "collection": {"interval_seconds": 1, "timeout_seconds": 0.8},
        "postgres": [{"name": "main", "dsn": pg_dsn}],
        "redis": [{"name": "main", "url": redis_url}],
        "gpu": "off",
        "component_classes": [
            {
                "name": name,
                "workload": {"name": f"component-{name}"},
                "queues": [{"name": f"jobs:{name}", "kind": "redis_list", "key": f"jobs:{name}"}],
                "scale_on": [{"metric": "queue_depth", "target_average_value": 5}],
            }
            for name in classes
        ],
    }
    return yaml.safe_dump(config)


@contextlib.contextmanager
def demo_app() -> Iterator[str]:
    """`uvicorn demo.app:app` plus `python -m demo.traffic` against it; yields host:port."""
    port = free_port()
    app = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "demo.app:app", "--host", "127.0.0.1",
         "--port", str(port), "--log-level", "warning"],
        cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        env={**os.environ, "COMPONENT_CLASS": DEMO_CLASS, "DEMO_TRACING": "0"},
    )  # fmt: skip
    traffic = None
    try:
        wait_for(
            lambda: socket.create_connection(("127.0.0.1", port), 0.2).close() or True,
            timeout=20,
            what="demo app",
        )
        traffic = subprocess.Popen(
            [sys.executable, "-m", "demo.traffic", "--url", f"http://127.0.0.1:{port}",
             "--seconds", "60"],
            cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        yield f"127.0.0.1:{port}"
    finally:
        for proc in (traffic, app):
            if proc is not None and proc.poll() is None:
                stop_process(proc)


def substitute(expr: str, variables: dict[str, list[str]]) -> str:
    """What Grafana sends: $__rate_interval resolved, multi-values as a regex group."""
    expr = expr.replace("$__rate_interval", RATE_INTERVAL)
    for name, values in variables.items():
        expr = expr.replace(f"${name}", "(" + "|".join(map(re.escape, values)) + ")")
    assert "$" not in expr, expr
    return expr


def dashboard_queries(config: Config) -> list[tuple[str, str, str]]:
    """(dashboard uid, panel title, PromQL) for every target of every generated dashboard."""
    out = []
    for model in dashboards.dashboards(config).values():
        variables = {
            v["name"]: [o["value"] for o in v["options"]]
            for v in model["templating"]["list"]
            if v["type"] == "query"
        }
        for panel in model["panels"]:
            for target in panel["targets"]:
                out.append((model["uid"], panel["title"], substitute(target["expr"], variables)))
    return out


def present_metrics(base: str) -> set[str]:
    resp = httpx.get(f"{base}/api/v1/label/__name__/values", timeout=10).json()
    return set(resp["data"])


def alert_state(base: str, name: str) -> set[str]:
    body = httpx.get(f"{base}/api/v1/alerts", timeout=10).json()
    return {a["state"] for a in body["data"]["alerts"] if a["labels"]["alertname"] == name}


@pytest.mark.timeout(120)
def test_generated_monitoring_against_real_prometheus(pg, own_redis, tmp_path):
    if not DEMO_APP.exists():
        pytest.skip("demo/app.py (issue 3) is not on this branch yet")
    http_port = free_port()
    config_text = e2e_config(pg.extra["dsn"], own_redis.extra["url"], http_port)
    config = Config.model_validate(yaml.safe_load(config_text))
    rules_file = Path(alerts.generate(config, tmp_path / "alerts")[0])
    exporter_addr = f"127.0.0.1:{http_port}"

    import redis as redis_client

    with redis_client.Redis.from_url(own_redis.extra["url"]) as r:
        r.rpush("jobs:gpu", *[json.dumps({"job": i}) for i in range(7)])
        r.config_set("maxmemory", str(256 * 1024 * 1024))  # so "Memory used ratio" has a limit

    with (
        exporter_process(config_text) as exporter,
        demo_app() as demo_addr,
        prometheus_server(
            {config.exporter_job: [exporter_addr], "demo": [demo_addr]},
            rule_files=[rules_file],
        ) as prom,
    ):
        base = prom.extra["url"]
        wait_for(
            lambda: httpx.get(f"http://{exporter_addr}/readyz", timeout=1).status_code == 200,
            timeout=20,
            what=f"exporter ready (log: {exporter.extra['log']})",
        )
        # Rates need two scrapes of traffic; Prometheus's first scrape comes ~5 s after start.
        wait_for(
            lambda: (
                prometheus_query(base, f"sum(rate(http_requests_total[{RATE_INTERVAL}])) > 0")
                and prometheus_query(base, "min(up) == 1")
                and prometheus_query(base, "component_class:http_requests:rate5m")
            ),
            timeout=40,
            interval=0.5,
            what="two scrapes of demo traffic and a recording-rule evaluation",
        )
        time.sleep(2)  # a few more samples so every histogram rate has a change in it
        present = present_metrics(base)
        assert {"http_requests_total", "pg_up", "redis_up", "exporter_collector_up"} <= present

        # the class/target variables' label_values() find the config's values in Prometheus
        for model in dashboards.dashboards(config).values():
            for var in model["templating"]["list"]:
                if var["type"] != "query":
                    continue
                metric, label = re.fullmatch(
                    r"label_values\((?:(\w+), )?(\w+)\)", var["query"]
                ).groups()
                params = {"match[]": metric} if metric else {}
                found = httpx.get(f"{base}/api/v1/label/{label}/values", params=params).json()
                defaults = {o["value"] for o in var["options"]}
                assert defaults <= set(found["data"]), (model["uid"], var["query"], found)

        # every dashboard query parses; those whose inputs exist return data
        with_data, missing, no_inputs = set(), [], set()
        queries = dashboard_queries(config)
        for uid, title, expr in queries:
            result = prometheus_query(base, expr)  # raises on a parse or evaluation error
            if result:
                with_data.add((uid, title))
            elif metric_names(expr) <= present:
                missing.append(f"{uid} / {title}: {expr}")
            else:
                no_inputs.add(f"{uid} / {title} (no {sorted(metric_names(expr) - present)})")
        print(f"\n{len(queries)} dashboard queries; panels with data: {len(with_data)}")
        print("panels whose metrics this run did not produce:\n  " + "\n  ".join(sorted(no_inputs)))
        assert not missing, "queries over metrics that exist returned nothing:\n" + "\n".join(
            missing
        )
        assert MUST_HAVE_DATA <= with_data, MUST_HAVE_DATA - with_data

        # every rule expression parses and evaluates; every rule is healthy in the rule manager
        groups = alerts.rule_groups(config)
        for group in groups:
            for rule in group["rules"]:
                prometheus_query(base, rule["expr"])
        loaded = httpx.get(f"{base}/api/v1/rules", timeout=10).json()["data"]["groups"]
        assert sorted(g["name"] for g in loaded) == sorted(g["name"] for g in groups)
        assert sum(len(g["rules"]) for g in loaded) == sum(len(g["rules"]) for g in groups)
        for group in loaded:
            for rule in group["rules"]:
                assert rule["health"] == "ok", f"{rule['name']}: {rule.get('lastError')}"
        assert prometheus_query(base, "component_class:http_requests:rate5m")
        assert not alert_state(base, "RedisDown") and not alert_state(base, "PostgresDown")

        # a hung Redis: the collector times out, redis_up drops to 0, RedisDown goes pending
        own_redis.pause()
        try:
            wait_for(
                lambda: alert_state(base, "RedisDown") == {"pending"},
                timeout=20,
                interval=0.5,
                what="RedisDown pending after Redis hangs",
            )
        finally:
            own_redis.resume()
