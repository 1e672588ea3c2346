"""One HPA model, one provider: a real `exporter serve` on a class with two signals.

The class `engine` scales on an External snapshot signal (`queue_depth`: a real Redis list)
and on a Pods PromQL signal (`sse_streams_active`: in-flight SSE streams of three real
instrumented services, scraped by a real Prometheus with the labels kubernetes_sd gives pods,
served on `custom.metrics.k8s.io` from `source: promql`). The live HPA on the fake Kubernetes
API is the generated one (current 3 replicas, the three pods). `/status.json`, `explain`, the
external and custom metrics APIs and `simulate` must agree on each signal's value, source and
proposal, and on the desired replicas; the Pods proposal must be the one the ported upstream
replica calculator gives for the per-pod values the custom metrics API serves.
"""

from __future__ import annotations

import csv
import subprocess
import sys

import httpx
import pytest
import redis as redis_lib
import yaml

from exporter.autoscaling.replicas import PodSample, propose
from exporter.autoscaling.spec import MetricSpec
from exporter.config import Config
from exporter.generators.k8s.autoscalers import horizontal_pod_autoscaler
from exporter.metrics_api.quantity import parse_quantity
from tests.support.fake_kube import FakeKube, hpa_status
from tests.support.instrument_apps import Gate, build_streams_app, hold_streams, serve_in_thread
from tests.support.servers import (
    REPO,
    exporter_process,
    free_port,
    prometheus_process,
    sample_value,
    wait_for,
)

STREAMS = {"engine-0": 4, "engine-1": 2, "engine-2": 3}  # 9 streams: 3 per pod
JOBS = 20
QUEUE_TARGET, STREAM_TARGET = 5, 2
QUERY = 'sum by (pod) (sse_streams_active{namespace="{namespace}",{selector}})'
EXT = "/apis/external.metrics.k8s.io/v1beta1/namespaces/platform/queue_depth"
CUS = "/apis/custom.metrics.k8s.io/v1beta2/namespaces/platform/pods/*/sse_streams_active"


def config_dict(ports: dict[str, int], redis_url: str, prom_url: str, kubeconfig: str) -> dict:
    return {
        "environment": "dev",
        "namespace": "platform",
        "listen": {"http": f"127.0.0.1:{ports['http']}", "https": f"127.0.0.1:{ports['https']}"},
        "collection": {"interval_seconds": 1, "timeout_seconds": 0.5},
        "postgres": [],
        "redis": [{"name": "main", "url": redis_url}],
        "gpu": "off",
        "kubernetes": {"kubeconfig": kubeconfig},
        "prometheus": {"url": prom_url, "timeout_seconds": 2},
        "metrics_api": {
            "external": [{"name": "queue_depth", "source": "snapshot"}],
            "custom": [{"name": "sse_streams_active", "source": "promql", "query": QUERY}],
        },
        "component_classes": [
            {
                "name": "engine",
                "workload": {"name": "engine"},
                "metrics": {"pod_labels": {"app": "engine"}},
                "min_replicas": 3,
                "max_replicas": 10,
                "queues": [
                    {
                        "name": "jobs:engine",
                        "kind": "redis_list",
                        "target": "main",
                        "key": "jobs:engine",
                    }
                ],
                "scale_on": [
                    {"metric": "queue_depth", "target_average_value": QUEUE_TARGET},
                    {
                        "metric": "sse_streams_active",
                        "type": "pods",
                        "target_average_value": STREAM_TARGET,
                    },
                ],
            }
        ],
    }


def _signal(row: dict, metric: str) -> dict:
    return next(s for s in row["signals"] if s["metric"] == metric)


def _run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "exporter", *args],
        cwd=REPO, capture_output=True, text=True, timeout=120,
    )  # fmt: skip


def test_status_explain_apis_and_simulate_agree(own_redis, tmp_path):
    gate = Gate()
    r = redis_lib.Redis.from_url(own_redis.extra["url"])
    r.lpush("jobs:engine", *[f"job-{i}" for i in range(JOBS)])
    with FakeKube() as kube, serve_in_thread(build_streams_app("engine", gate)) as p0, \
            serve_in_thread(build_streams_app("engine", gate)) as p1, \
            serve_in_thread(build_streams_app("engine", gate)) as p2:  # fmt: skip
        pods = dict(zip(STREAMS, (p0, p1, p2), strict=True))
        held = [s for name, url in pods.items() for s in hold_streams(url, STREAMS[name])]
        scrape_configs = [
            {
                "job_name": name,
                "static_configs": [
                    {
                        "targets": [url.removeprefix("http://")],
                        "labels": {"namespace": "platform", "pod": name, "app": "engine"},
                    }
                ],
            }
            for name, url in pods.items()
        ]
        try:
            with prometheus_process(scrape_configs) as prom:
                ports = {"http": free_port(), "https": free_port()}
                data = config_dict(
                    ports, own_redis.extra["url"], prom.extra["url"], kube.kubeconfig()
                )
                config = Config.model_validate(data)
                generated = horizontal_pod_autoscaler(config, config.component_class("engine"))
                kube.set_hpa(generated, hpa_status(current=3, desired=3))
                config_file = tmp_path / "config.yaml"
                config_file.write_text(yaml.safe_dump(data))
                with exporter_process(config_file.read_text()) as proc:
                    _check(ports, proc, config_file, tmp_path)
                    _check_pods_read_failing(ports, prom, r)
        finally:
            gate.open.set()
            for sock in held:
                sock.close()


def _check(ports: dict[str, int], proc, config_file, tmp_path) -> None:
    url = f"http://127.0.0.1:{ports['http']}"
    api = f"https://127.0.0.1:{ports['https']}"

    def settled():
        try:
            doc = httpx.get(f"{url}/status.json", timeout=2).json()
        except (httpx.HTTPError, ValueError):
            return None
        row = next(c for c in doc["classes"] if c["name"] == "engine")
        if not row.get("signals") or not row.get("live"):
            return None
        q, s = _signal(row, "queue_depth"), _signal(row, "sse_streams_active")
        if q["value"] != JOBS or s["series"] != len(STREAMS) or s["value"] != 3:
            return None
        return doc

    doc = wait_for(settled, timeout=60, what=f"both signals on the board (log {proc.extra['log']})")
    row = next(c for c in doc["classes"] if c["name"] == "engine")
    queue, streams = _signal(row, "queue_depth"), _signal(row, "sse_streams_active")
    decision = row["decision"]

    # the board evaluates the generated HPA's metrics, kinds and all
    assert (queue["kind"], queue["source"], queue["fresh"]) == ("External", "snapshot", True)
    assert (streams["kind"], streams["source"], streams["fresh"]) == ("Pods", "promql", True)
    assert streams["target_type"] == "AverageValue" and streams["target"] == STREAM_TARGET
    assert dict(map(tuple, streams["pods"])) == STREAMS
    assert row["other_metrics"] == []
    # External AverageValue at 3 replicas: ceil(20 / 5) = 4; Pods: 9 streams / 3 pods = 3
    # per pod against 2 -> ceil(1.5 x 3) = 5; the larger wins, within the policies from 3
    assert (queue["proposal"], streams["proposal"]) == (4, 5)
    assert streams["per_replica"] == 3
    assert decision["current"] == 3 and decision["current_source"] == "live HPA engine"
    assert (decision["desired"], decision["metric"]) == (5, "sse_streams_active")
    assert decision["reason"] == "DesiredWithinRange"

    # the metrics APIs serve exactly what the board read
    ext = httpx.get(
        api + EXT, params={"labelSelector": "component_class=engine"}, verify=False, timeout=5
    )
    assert ext.status_code == 200, ext.text
    assert sum(parse_quantity(i["value"]) for i in ext.json()["items"]) == queue["value"]
    cus = httpx.get(api + CUS, params={"labelSelector": "app=engine"}, verify=False, timeout=5)
    assert cus.status_code == 200, cus.text
    per_pod = {
        i["describedObject"]["name"]: parse_quantity(i["value"]) for i in cus.json()["items"]
    }
    assert per_pod == STREAMS
    # ... and the ported upstream replica calculator on those values gives the board's proposal
    spec = MetricSpec("Pods", "sse_streams_active", "AverageValue", STREAM_TARGET)
    samples = tuple(PodSample(v) for v in per_pod.values())
    assert propose(spec, samples, 3, 3, 3, 0.1).replicas == streams["proposal"]

    page = httpx.get(url + "/", timeout=5).text
    assert 'data-metric="sse_streams_active"' in page and "3 <small>per pod, 3 pods</small>" in page

    # explain says the same, in words
    out = _run("explain", "--url", url)
    assert out.returncode == 0, out.stderr
    text = out.stdout
    assert (
        "engine: queue_depth 20 (fresh " in text and ", snapshot) / target 5 -> 4 replicas" in text
    )
    assert "sse_streams_active 3 per pod over 3 pods (fresh " in text
    assert ", promql) / target 2 -> 5 replicas" in text
    assert "largest proposal 5 from sse_streams_active; current 3" in text
    assert "min 3 max 10 -> desired 5 (DesiredWithinRange)" in text
    assert "unavailable" not in text and "not served" not in text

    # simulate on the values the board read decides the same at its first sync
    trace = tmp_path / "trace.csv"
    trace.write_text(
        "seconds,component_class,metric,value\n"
        f"0,engine,queue_depth,{queue['value']}\n"
        f"0,engine,sse_streams_active,{streams['value']}\n"
    )
    sim = _run("simulate", "--config", str(config_file), "--trace", str(trace), "--out",
               str(tmp_path / "sim"))  # fmt: skip
    assert sim.returncode == 0, sim.stderr
    with open(tmp_path / "sim" / "replicas.csv", newline="") as f:
        first = list(csv.DictReader(f))[0]
    assert (first["seconds"], first["component_class"]) == ("0", "engine")
    assert (int(first["desired_replicas"]), first["reason"]) == (
        decision["desired"],
        decision["reason"],
    )

    metrics = httpx.get(f"{url}/metrics", timeout=5).text
    flag = sample_value(metrics, "metrics_api_fallback_active", metric="sse_streams_active")
    assert flag == 0


@pytest.fixture(autouse=True)
def _quiet_httpx():
    import logging

    logging.getLogger("httpx").setLevel(logging.WARNING)


def _check_pods_read_failing(ports: dict[str, int], prom, r) -> None:
    """Prometheus hangs and the queue empties: the Pods read fails (the custom API says 503)
    and the queue alone would scale down, so the controller holds at the current size with
    the failed metric's reason, FailedGetPodsMetric (upstream's rule for a partial failure)."""
    url = f"http://127.0.0.1:{ports['http']}"
    prom.pause()
    r.delete("jobs:engine")
    try:

        def holding():
            doc = httpx.get(f"{url}/status.json", timeout=5).json()
            row = next(c for c in doc["classes"] if c["name"] == "engine")
            q, s = _signal(row, "queue_depth"), _signal(row, "sse_streams_active")
            return row if q["value"] == 0 and s["value"] is None else None

        row = wait_for(holding, timeout=30, what="pods read failing, queue empty")
        streams = _signal(row, "sse_streams_active")
        assert "did not answer within 2s" in streams["unavailable"]
        assert streams["proposal"] is None
        assert _signal(row, "queue_depth")["proposal"] == 0
        d = row["decision"]
        assert (d["current"], d["desired"], d["reason"]) == (3, 3, "FailedGetPodsMetric")
        out = _run("explain", "--url", url)
        assert out.returncode == 0, out.stderr
        assert "sse_streams_active unavailable (promql: " in out.stdout
        assert "holds at 3 (FailedGetPodsMetric: the HPA does not scale without it)" in out.stdout
    finally:
        prom.resume()
