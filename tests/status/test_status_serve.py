"""`/`, `/status.json` and `exporter explain` against a real `exporter serve` and real Redis.

gpu reads queue_depth from the snapshot, with a live HPA on a fake Kubernetes API (current 3);
cpu reads a PromQL metric whose Prometheus is down, so its configured fallback is served.
Pausing Redis then makes gpu's value stale: the sentence must say why it is unavailable.
"""

from __future__ import annotations

import subprocess
import sys

import httpx
import pytest
import redis as redis_lib

from tests.support.fake_kube import FakeKube, hpa_status
from tests.support.servers import REPO, exporter_process, free_port, wait_for

INTERVAL = 0.5


def _config(http: int, redis_url: str, kubeconfig: str) -> str:
    return f"""
environment: dev
listen: {{http: "127.0.0.1:{http}", https: "127.0.0.1:{free_port()}"}}
collection: {{interval_seconds: {INTERVAL}, timeout_seconds: 0.4}}
postgres: []
redis: [{{name: main, url: "{redis_url}"}}]
gpu: "off"
kubernetes: {{kubeconfig: {kubeconfig}}}
prometheus: {{url: "http://127.0.0.1:{free_port()}", timeout_seconds: 0.3}}
metrics_api:
  external:
    - {{name: queue_depth, source: snapshot}}
    - {{name: backlog_promql, source: promql, query: "sum(queue_depth{{{{selector}}}})", fallback: 3}}
component_classes:
  - name: gpu
    workload: {{name: component-gpu}}
    min_replicas: 1
    max_replicas: 8
    queues: [{{name: "jobs:gpu", kind: redis_list, target: main, key: "status:jobs:gpu"}}]
    scale_on: [{{metric: queue_depth, target_average_value: 2}}]
  - name: cpu
    workload: {{name: component-cpu}}
    max_replicas: 10
    scale_on: [{{metric: backlog_promql, target_average_value: 1}}]
    cpu_utilization: 70
"""


def _hpa(name: str, workload: str) -> dict:
    return {
        "apiVersion": "autoscaling/v2",
        "kind": "HorizontalPodAutoscaler",
        "metadata": {"name": name, "namespace": "platform"},
        "spec": {
            "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": workload},
            "minReplicas": 1,
            "maxReplicas": 8,
            "metrics": [],
        },
    }


def _explain(url: str, *extra: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "exporter", "explain", "--url", url, *extra],
        cwd=REPO, capture_output=True, text=True, timeout=30,
    )  # fmt: skip


def _class(doc: dict, name: str) -> dict:
    return next(c for c in doc["classes"] if c["name"] == name)


@pytest.fixture
def fake():
    with FakeKube() as server:
        yield server


def test_status_and_explain_fresh_fallback_and_stale(own_redis, fake):
    fake.set_hpa(_hpa("component-gpu", "component-gpu"), hpa_status(current=3, desired=4))
    r = redis_lib.Redis.from_url(own_redis.extra["url"])
    r.lpush("status:jobs:gpu", *[f"job-{i}" for i in range(40)])
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    with exporter_process(_config(port, own_redis.extra["url"], fake.kubeconfig())) as proc:

        def gpu_synced():
            doc = httpx.get(f"{url}/status.json", timeout=2).json()
            gpu = _class(doc, "gpu")
            ok = gpu.get("signals") and gpu["signals"][0]["value"] == 40 and gpu["live"]
            return doc if ok else None

        doc = wait_for(gpu_synced, timeout=20, what=f"gpu synced (log {proc.extra['log']})")
        gpu, cpu = _class(doc, "gpu"), _class(doc, "cpu")
        (sig,) = gpu["signals"]
        assert (sig["source"], sig["fresh"], sig["fallback"]) == ("snapshot", True, False)
        assert 0 <= sig["age_seconds"] < 3 * INTERVAL + 1
        assert (sig["target"], sig["proposal"]) == (2, 20)
        assert sig["per_replica"] == pytest.approx(40 / 3, rel=1e-3)
        d = gpu["decision"]
        # live current 3: Percent 100 % allows 6, Pods 4 allows 7; selectPolicy Max -> 7
        assert (d["current"], d["proposal"], d["desired"]) == (3, 20, 7)
        assert d["current_source"] == "live HPA component-gpu"
        assert d["reason"] == "ScaleUpLimit"
        assert d["limited_by"] == "scale-up policy Pods 4 pods per 30s allows 7"
        assert gpu["live"][0]["current_replicas"] == 3
        assert gpu["live"][0]["desired_replicas"] == 4
        assert gpu["live"][0]["scaling_active"] is True

        (fb,) = cpu["signals"]
        assert (fb["source"], fb["value"], fb["fallback"], fb["fresh"]) == (
            "promql",
            3,
            True,
            False,
        )
        # nothing listens at the Prometheus URL: refused, or (on a loaded machine) the 0.3 s
        # timeout first; either is the source failing, which is what the page must say
        reason = fb["fallback_reason"]
        assert "Prometheus query failed" in reason or "did not answer within" in reason, reason
        assert cpu["decision"]["desired"] == 3  # simulated current 1, proposal 3 within policy
        assert cpu["other_metrics"] == ["cpu Utilization 70%"]

        redis_row = next(t for t in doc["targets"] if t["collector"] == "redis")
        assert redis_row["up"] is True and redis_row["last_success_age_seconds"] < 5

        page = httpx.get(url + "/", timeout=2)
        assert page.headers["content-type"].startswith("text/html")
        assert '<meta http-equiv="refresh"' in page.text and "<script" not in page.text
        assert 'data-class="gpu"' in page.text and "<svg" in page.text

        out = _explain(url)
        assert out.returncode == 0, out.stderr
        assert "gpu: queue_depth 40 (fresh " in out.stdout
        assert "/ target 2 -> 20 replicas; current 3; scale-up policy Pods 4 pods per 30s " \
            "allows 7; min 1 max 8 -> desired 7 (ScaleUpLimit)" in out.stdout  # fmt: skip
        assert "live HPA component-gpu: current 3, desired 4" in out.stdout
        assert "cpu: backlog_promql 3 (FALLBACK value: promql failed: Prometheus " in out.stdout

        # Redis hangs: the queue collector times out and says so (queue_up 0), so the value
        # is unavailable at once, before its series would age past 3 intervals.
        own_redis.pause()
        try:

            def gpu_stale():
                doc = httpx.get(f"{url}/status.json", timeout=2).json()
                return doc if _class(doc, "gpu")["signals"][0]["value"] is None else None

            doc = wait_for(gpu_stale, timeout=20, what="gpu signal stale")
            sig = _class(doc, "gpu")["signals"][0]
            assert "jobs:gpu" in sig["unavailable"]
            assert "could not be read (queue_up 0)" in sig["unavailable"]
            assert _class(doc, "gpu")["decision"]["reason"] == "FailedGetExternalMetric"
            redis_row = next(t for t in doc["targets"] if t["collector"] == "redis")
            assert redis_row["up"] is False
            assert redis_row["last_error"] == "timed out after 0.4s"
            out = _explain(url, "--class", "gpu")
            assert out.returncode == 0, out.stderr
            assert out.stdout.startswith("gpu: queue_depth unavailable (snapshot: ")
            assert "(queue_up 0)" in out.stdout and "holds at 3" in out.stdout, out.stdout
            assert "cpu:" not in out.stdout
            assert "targets down: redis/main: timed out after 0.4s" in out.stdout
        finally:
            own_redis.resume()

        bad = _explain(url, "--class", "nope")
        assert bad.returncode == 2 and "no class 'nope' (classes: gpu, cpu)" in bad.stderr
    down = _explain(url)
    assert down.returncode == 1 and "cannot read" in down.stderr
