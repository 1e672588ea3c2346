"""Scrape objects for the instrumented services: one PodMonitor per component class
(validated against the prometheus-operator CRD schema) and the plain `scrape_configs`
snippet, loaded by a real Prometheus that scrapes a real instrumented uvicorn app.

Debian's Prometheus is built without Kubernetes service discovery, so the snippet's
`kubernetes_sd_configs` is swapped for a `file_sd_configs` file holding what the pod role
discovers (the documented `__meta_kubernetes_*` labels); everything after discovery (the
relabeling, the path, the job) runs as generated.
"""

from __future__ import annotations

import json

import httpx
import jsonschema
import pytest
import yaml
from prometheus_client import CollectorRegistry
from starlette.applications import Starlette
from starlette.responses import PlainTextResponse
from starlette.routing import Route

from exporter.config import Config, load_config
from exporter.generators import k8s
from exporter.generators.k8s.scrape import SNIPPET, pod_monitors, scrape_configs
from exporter.instrument import instrument
from tests.support.crd_schemas import SCHEMAS
from tests.support.instrument_apps import serve_in_thread
from tests.support.servers import REPO, prometheus_process, prometheus_query, wait_for

SCHEMA = SCHEMAS[("monitoring.coreos.com/v1", "PodMonitor")]


def default_config() -> Config:
    return load_config(None, environ={})


def test_one_pod_monitor_per_class_validates():
    config = default_config()
    monitors = pod_monitors(config)
    assert [m["metadata"]["name"] for m in monitors] == [
        c.workload.name for c in config.component_classes
    ]
    for monitor, cls in zip(monitors, config.component_classes, strict=True):
        jsonschema.Draft202012Validator(SCHEMA).validate(monitor)
        spec = monitor["spec"]
        assert spec["selector"] == {"matchLabels": {"app.kubernetes.io/name": cls.workload.name}}
        assert spec["namespaceSelector"] == {"matchNames": [config.namespace]}
        (endpoint,) = spec["podMetricsEndpoints"]
        assert (endpoint["port"], endpoint["path"]) == ("http", "/metrics")
    committed = list(yaml.safe_load_all((REPO / "k8s" / "podmonitors.yaml").read_text()))
    assert committed == monitors


def test_pod_monitor_schema_catches_mistakes():
    (monitor, *_) = pod_monitors(default_config())
    bad = json.loads(json.dumps(monitor))
    bad["spec"]["podMetricsEndpoints"][0]["targetPort"] = "http"  # a ServiceMonitor field
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.Draft202012Validator(SCHEMA).validate(bad)
    del bad["spec"]["selector"]
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.Draft202012Validator(SCHEMA).validate(bad)


def custom_config() -> Config:
    data = default_config().model_dump()
    data["deployment"]["prometheus_operator_labels"] = {"release": "kps"}
    data["component_classes"][0]["metrics"] = {
        "port": "metrics",
        "path": "/internal/metrics",
        "pod_labels": {"app": "ui", "tier": "web"},
    }
    return Config.model_validate(data)


def test_class_metrics_endpoint_from_config():
    config = custom_config()
    monitor = pod_monitors(config)[0]
    jsonschema.Draft202012Validator(SCHEMA).validate(monitor)
    assert monitor["metadata"]["labels"]["release"] == "kps"
    assert monitor["spec"]["selector"]["matchLabels"] == {"app": "ui", "tier": "web"}
    assert monitor["spec"]["podMetricsEndpoints"][0]["port"] == "metrics"
    job = scrape_configs(config)["scrape_configs"][0]
    assert job["kubernetes_sd_configs"][0]["selectors"] == [
        {"role": "pod", "label": "app=ui,tier=web"}
    ]
    assert job["metrics_path"] == "/internal/metrics"


def test_no_scrape_objects_without_classes():
    data = default_config().model_dump()
    data["component_classes"] = []
    data["metrics_api"]["external"] = []
    files = k8s.render(Config.model_validate(data))
    assert "podmonitors.yaml" not in files and SNIPPET not in files


def discovered_pod(host: str, name: str, port_name: str, phase: str = "Running") -> dict:
    """One target as Prometheus's kubernetes_sd pod role describes it."""
    return {
        "targets": [host],
        "labels": {
            "__meta_kubernetes_namespace": "platform",
            "__meta_kubernetes_pod_name": name,
            "__meta_kubernetes_pod_phase": phase,
            "__meta_kubernetes_pod_container_name": "app",
            "__meta_kubernetes_pod_container_port_name": port_name,
            "__meta_kubernetes_pod_label_app_kubernetes_io_name": "component-gpu",
        },
    }


@pytest.mark.timeout(60)
def test_scrape_snippet_scrapes_an_instrumented_app(tmp_path):
    config = default_config()
    snippet = yaml.safe_load(k8s.render(config)[SNIPPET])
    committed = yaml.safe_load((REPO / "k8s" / SNIPPET).read_text())
    assert snippet == committed
    jobs = {j["job_name"]: j for j in snippet["scrape_configs"]}
    assert sorted(jobs) == [f"platform/component-{c}" for c in ("cpu", "gpu", "memory")]
    job = dict(jobs["platform/component-gpu"])
    (sd,) = job.pop("kubernetes_sd_configs")
    assert sd == {
        "role": "pod",
        "namespaces": {"names": ["platform"]},
        "selectors": [{"role": "pod", "label": "app.kubernetes.io/name=component-gpu"}],
    }

    async def ok(request):
        return PlainTextResponse("ok")

    app = instrument(Starlette(routes=[Route("/work", ok)]), "gpu", registry=CollectorRegistry())
    with serve_in_thread(app) as url:
        host = url.removeprefix("http://")
        httpx.get(url + "/work")
        pods = [
            discovered_pod(host, "component-gpu-1", "http"),
            discovered_pod("127.0.0.1:1", "component-gpu-1", "grpc"),  # another port: kept out
            discovered_pod("127.0.0.1:2", "component-gpu-old", "http", phase="Succeeded"),
        ]
        (tmp_path / "pods.json").write_text(json.dumps(pods))
        job["file_sd_configs"] = [{"files": [str(tmp_path / "pods.json")]}]
        job["scrape_interval"] = "1s"
        with prometheus_process([job], "1s") as prom:
            base = prom.extra["url"]
            result = wait_for(
                lambda: prometheus_query(base, 'http_requests_total{route="/work"}'),
                timeout=20,
                what="the app's request counter scraped through the snippet's job",
            )
            targets = httpx.get(f"{base}/api/v1/targets", timeout=5).json()["data"]
    (series,) = result
    labels = series["metric"]
    assert labels["job"] == "platform/component-gpu"
    assert (labels["namespace"], labels["pod"], labels["container"]) == (
        "platform",
        "component-gpu-1",
        "app",
    )
    assert labels["component_class"] == "gpu"  # the app's own label, not renamed
    (active,) = targets["activeTargets"]
    assert active["health"] == "up" and active["scrapeUrl"] == f"{url}/metrics"
    assert len(targets["droppedTargets"]) == 2
