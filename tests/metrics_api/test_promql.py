"""PromQL-backed metrics against a REAL Prometheus scraping a REAL exporter process.

Prometheus scrapes the exporter (`python -m exporter serve`) and itself; the targets carry
`namespace`/`pod`/`app` labels as kubernetes_sd relabelling gives them in a cluster. The
exporter's metrics API then answers external, pods and namespace metrics from PromQL, and
falls back (or answers 503) while Prometheus is frozen.
"""

from __future__ import annotations

import calendar
import time

import httpx
import pytest
import yaml

from exporter.metrics_api.quantity import parse_quantity
from tests.support.servers import (
    exporter_process,
    free_port,
    prometheus_process,
    sample_value,
    wait_for,
)

EXT = "/apis/external.metrics.k8s.io/v1beta1/namespaces/platform"
CUS = "/apis/custom.metrics.k8s.io/v1beta2/namespaces/platform"


def exporter_config(http: int, https: int, prometheus_url: str) -> str:
    return yaml.safe_dump(
        {
            "environment": "dev",
            "namespace": "platform",
            "listen": {"http": f"127.0.0.1:{http}", "https": f"127.0.0.1:{https}"},
            "collection": {"interval_seconds": 1, "timeout_seconds": 0.5},
            "prometheus": {"url": prometheus_url, "timeout_seconds": 0.5},
            "metrics_api": {
                "external": [
                    {
                        "name": "exporters_running",
                        "source": "promql",
                        "query": 'sum(exporter_build_info{namespace="{namespace}",{selector}})',
                    },
                    {
                        "name": "scrape_samples",
                        "source": "promql",
                        "query": 'sum by (pod) (scrape_samples_scraped{namespace="{namespace}",{selector}})',
                        "fallback": 3,
                        "window_seconds": 60,
                    },
                ],
                "custom": [
                    {
                        "name": "targets_up",
                        "source": "promql",
                        "query": 'sum by (pod) (up{namespace="{namespace}",{selector}})',
                    },
                    {
                        "name": "scrape_seconds",
                        "source": "promql",
                        "query": 'sum by (pod) (scrape_duration_seconds{namespace="{namespace}",{selector}})',
                        "fallback": 0.25,
                    },
                ],
            },
        }
    )


def _target(http: int, pod: str, app: str, job: str) -> dict:
    # Two scrape jobs of the one exporter stand for two pods (distinct series per job).
    return {
        "job_name": job,
        "static_configs": [
            {
                "targets": [f"127.0.0.1:{http}"],
                "labels": {"namespace": "platform", "pod": pod, "app": app},
            }
        ],
    }


@pytest.fixture(scope="module")
def stack():
    http, https = free_port(), free_port()
    scrape = [
        _target(http, "exporter-6f7c9-abcde", "exporter", "exporter"),
        _target(http, "prometheus-0", "prometheus", "second"),
    ]
    with prometheus_process(scrape) as prom:
        with exporter_process(exporter_config(http, https, prom.extra["url"])) as exporter:
            base = f"https://127.0.0.1:{https}"
            client = httpx.Client(verify=False, timeout=5)

            def both_scraped():
                r = client.get(base + CUS + "/pods/*/targets_up")
                return r.status_code == 200 and len(r.json()["items"]) == 2

            try:
                wait_for(
                    both_scraped, timeout=30, interval=0.5, what="Prometheus to scrape both targets"
                )
            except TimeoutError:
                raise AssertionError(exporter.extra["log"].read_text()) from None
            yield {"base": base, "client": client, "prom": prom, "http": http}
            client.close()


def test_external_promql_metric(stack):
    c, base = stack["client"], stack["base"]
    body = c.get(
        base + EXT + "/exporters_running", params={"labelSelector": "environment=dev"}
    ).json()
    assert body["kind"] == "ExternalMetricValueList"
    [item] = body["items"]
    assert item["metricName"] == "exporters_running"
    assert item["metricLabels"] == {}
    # two scrape jobs ("pods"), each exporter_build_info 1
    assert item["value"] == "2"
    stamp = calendar.timegm(time.strptime(item["timestamp"], "%Y-%m-%dT%H:%M:%SZ"))
    assert abs(time.time() - stamp) < 10
    assert "window" not in item
    # the selector reaches the query: no series has environment=production
    body = c.get(
        base + EXT + "/exporters_running", params={"labelSelector": "environment=production"}
    ).json()
    assert body["items"] == []


def test_external_promql_per_pod_series_and_window(stack):
    c, base = stack["client"], stack["base"]
    body = c.get(base + EXT + "/scrape_samples", params={"labelSelector": "app=exporter"}).json()
    [item] = body["items"]
    assert item["metricLabels"] == {"pod": "exporter-6f7c9-abcde"}
    assert parse_quantity(item["value"]) > 5  # the exporter exposes dozens of samples
    assert item["window"] == 60


def test_pods_metric_lists_selected_pods(stack):
    c, base = stack["client"], stack["base"]
    resp = c.get(
        base + CUS + "/pods/*/targets_up", params={"labelSelector": "app in (exporter,prometheus)"}
    )
    assert resp.status_code == 200, resp.text
    body = resp.json()
    assert (body["kind"], body["apiVersion"], body["metadata"]) == (
        "MetricValueList",
        "custom.metrics.k8s.io/v1beta2",
        {},
    )
    assert [i["describedObject"] for i in body["items"]] == [
        {
            "kind": "Pod",
            "namespace": "platform",
            "name": "exporter-6f7c9-abcde",
            "apiVersion": "v1",
        },
        {"kind": "Pod", "namespace": "platform", "name": "prometheus-0", "apiVersion": "v1"},
    ]
    for item in body["items"]:
        assert item["metric"] == {"name": "targets_up"}
        assert item["value"] == "1"
        assert "windowSeconds" not in item
    # the pod label selector filters pods
    body = c.get(
        base + CUS + "/pods/*/targets_up", params={"labelSelector": "app!=prometheus"}
    ).json()
    assert [i["describedObject"]["name"] for i in body["items"]] == ["exporter-6f7c9-abcde"]
    # a single named pod
    body = c.get(base + CUS + "/pods/prometheus-0/targets_up").json()
    [item] = body["items"]
    assert item["describedObject"]["name"] == "prometheus-0"
    resp = c.get(base + CUS + "/pods/no-such-pod/targets_up")
    assert resp.status_code == 404 and resp.json()["reason"] == "NotFound"


def test_namespace_metric_from_promql(stack):
    c, base = stack["client"], stack["base"]
    body = c.get(
        base + CUS + "/metrics/targets_up", params={"metricLabelSelector": "app=exporter"}
    ).json()
    [item] = body["items"]
    assert item["describedObject"] == {"kind": "Namespace", "name": "platform", "apiVersion": "v1"}
    assert item["metric"] == {
        "name": "targets_up",
        "selector": {"matchLabels": {"app": "exporter"}},
    }
    assert item["value"] == "1"


def test_frozen_prometheus_means_fallback_or_503_never_stale(stack):
    c, base, prom = stack["client"], stack["base"], stack["prom"]
    metrics_url = f"http://127.0.0.1:{stack['http']}/metrics"
    prom.pause()
    try:
        # the process's one provider answers a query from its last answer for up to one
        # collection interval (1 s here; at most one query per interval for all callers):
        # past that, a frozen Prometheus is a 503 or the fallback, never the old value
        time.sleep(1.0)
        # no fallback configured -> 503 within the 0.5 s query timeout
        started = time.monotonic()
        resp = c.get(base + EXT + "/exporters_running")
        assert resp.status_code == 503, resp.text
        assert resp.json()["reason"] == "ServiceUnavailable"
        assert "0.5s" in resp.json()["message"]
        assert time.monotonic() - started < 3
        # fallback configured -> the fallback value, flagged on /metrics
        body = c.get(
            base + EXT + "/scrape_samples", params={"labelSelector": "pod=exporter-6f7c9-abcde"}
        ).json()
        [item] = body["items"]
        assert item["value"] == "3"
        assert item["metricLabels"] == {"pod": "exporter-6f7c9-abcde"}
        text = httpx.get(metrics_url).text
        assert (
            sample_value(
                text, "metrics_api_fallback_active", api="external", metric="scrape_samples"
            )
            == 1
        )
        # custom: a named pod gets the fallback, the pod list cannot (503)
        body = c.get(base + CUS + "/pods/prometheus-0/scrape_seconds").json()
        assert body["items"][0]["value"] == "250m"
        assert c.get(base + CUS + "/pods/*/scrape_seconds").status_code == 503
    finally:
        prom.resume()
    wait_for(
        lambda: (
            c.get(base + EXT + "/scrape_samples", params={"labelSelector": "app=exporter"}).json()[
                "items"
            ][0]["value"]
            != "3"
        ),
        timeout=15,
        what="the real value back",
    )
    text = httpx.get(metrics_url).text
    assert (
        sample_value(text, "metrics_api_fallback_active", api="external", metric="scrape_samples")
        == 0
    )
