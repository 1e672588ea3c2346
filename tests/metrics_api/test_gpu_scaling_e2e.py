"""End to end: two GPU agents (`exporter serve` with the NVML double, each with its own
kubelet pod-resources server built from the upstream proto, pod labels from the fake
Kubernetes API) scraped by a real Prometheus; the metrics API answers
`gpu_utilization_ratio{component_class}` with the embedded default's PromQL, as the average
of that class's pods, and 503 when the agents are stale (hung NVML) or gone."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
import yaml

from exporter.config import load_config
from exporter.generators.k8s.monitoring import gpu_service_monitor
from exporter.metrics_api.quantity import parse_quantity
from tests.support.fake_kube import FakeKube
from tests.support.fake_kubelet import FakeKubelet, container, pod
from tests.support.servers import (
    REPO,
    exporter_process,
    free_port,
    prometheus_process,
    prometheus_query,
    stop_process,
    wait_for,
)

EXT = "/apis/external.metrics.k8s.io/v1beta1/namespaces/platform/gpu_utilization_ratio"
CLASS = "app.kubernetes.io/component"
STALE_AFTER = 4  # the default query's 60 s freshness bound, shortened for the test
# node -> GPUs (uuid, busy percent) and which pod (namespace platform) holds which GPU
NODES = {
    "node-a": ([("GPU-a0", 80), ("GPU-a1", 30), ("GPU-a2", 99)],  # GPU-a2: held by no pod
               [("gpu-worker-1", "gpu", ["GPU-a0"]), ("cpu-helper", "cpu", ["GPU-a1"])]),
    "node-b": ([("GPU-b0", 40), ("GPU-b1", 20), ("GPU-b2", 60)],
               [("gpu-worker-2", "gpu", ["GPU-b0"]), ("gpu-worker-3", "gpu", ["GPU-b1", "GPU-b2"])]),
}  # fmt: skip
# class gpu: pods at 80 %, 40 %, and (20 + 60) / 2 = 40 % -> 160 / 3 %
EXPECTED = {"gpu": (0.80 + 0.40 + 0.40) / 3, "cpu": 0.30}


def gpu_metric_config() -> dict:
    """The embedded default's gpu_utilization_ratio, freshness bound shortened."""
    metric = next(
        m for m in load_config().metrics_api.external if m.name == "gpu_utilization_ratio"
    )
    assert metric.source == "promql" and metric.require_series and "< 60)" in metric.query
    data = metric.model_dump(exclude_none=True)
    data["query"] = metric.query.replace("< 60)", f"< {STALE_AFTER})")
    return data


class Agent:
    def __init__(self, node: str, workdir: Path, kube: FakeKube) -> None:
        self.node, self.port = node, free_port()
        gpus, pods = NODES[node]
        (workdir / node).mkdir()
        self.kubelet = FakeKubelet(workdir / node)
        self.kubelet.set_pods(
            [pod("platform", name, container("main", devices)) for name, _, devices in pods]
        )
        for name, cls, _ in pods:
            kube.set_pod("platform", name, node, {CLASS: cls})
        self.state = workdir / node / "nvml.json"
        self.write_state(
            {"gpus": [{"uuid": u, "utilization_percent": p} for u, p in gpus], "hang": False}
        )
        config = {
            "listen": {"http": f"127.0.0.1:{self.port}", "https": f"127.0.0.1:{free_port()}"},
            "collection": {"interval_seconds": 0.5, "timeout_seconds": 0.4},
            "metrics_api": {"enabled": False},
            "gpu": "on",
            "kubernetes": {"enabled": "on", "kubeconfig": kube.kubeconfig()},
            "gpu_attribution": {"pod_resources_socket": self.kubelet.socket},
        }
        (workdir / node / "agent.yaml").write_text(yaml.safe_dump(config))
        self.log = open(workdir / node / "log", "w")
        self.kubelet.start()
        self.proc = subprocess.Popen(
            [sys.executable, str(REPO / "tests" / "support" / "gpu_agent.py"), str(self.state),
             "serve", "--config", str(workdir / node / "agent.yaml")],
            cwd=REPO, stdout=self.log, stderr=subprocess.STDOUT,
            env={**os.environ, "NODE_NAME": node, "PYTHONPATH": str(REPO)},
        )  # fmt: skip

    def write_state(self, state: dict) -> None:
        tmp = self.state.with_suffix(".tmp")
        tmp.write_text(json.dumps(state))
        os.replace(tmp, self.state)

    def hang_nvml(self) -> None:
        state = json.loads(self.state.read_text())
        self.write_state({**state, "hang": True})

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGCONT)
            stop_process(self.proc, grace=3)
        self.kubelet.stop()
        self.log.close()


def agent_scrape_config(targets: list[str]) -> dict:
    """The generated agents' ServiceMonitor endpoint as Prometheus config; the targets carry
    the agent pod's namespace/pod/container, as prometheus-operator's relabelling adds them."""
    (endpoint,) = gpu_service_monitor(load_config())["spec"]["endpoints"]
    return {
        "job_name": "gpu-agents",
        "honor_labels": endpoint["honorLabels"],
        "relabel_configs": [
            {"action": r["action"], "regex": r["regex"]} for r in endpoint["relabelings"]
        ],
        "static_configs": [
            {
                "targets": targets,
                "labels": {"namespace": "platform", "pod": "exporter-gpu-x7k2p",
                           "container": "exporter"},
            }
        ],
    }  # fmt: skip


@pytest.fixture
def stack(tmp_path):
    with FakeKube() as kube:
        agents = [Agent(node, tmp_path, kube) for node in NODES]
        try:
            scrape = [agent_scrape_config([f"127.0.0.1:{a.port}" for a in agents])]
            with prometheus_process(scrape) as prom:
                http, https = free_port(), free_port()
                api_config = {
                    "namespace": "platform",
                    "listen": {"http": f"127.0.0.1:{http}", "https": f"127.0.0.1:{https}"},
                    "collection": {"interval_seconds": 1, "timeout_seconds": 0.5},
                    "gpu": "off",
                    "prometheus": {"url": prom.extra["url"], "timeout_seconds": 2},
                    "metrics_api": {"external": [gpu_metric_config()]},
                }
                with exporter_process(yaml.safe_dump(api_config)) as api:
                    client = httpx.Client(
                        base_url=f"https://127.0.0.1:{https}", verify=False, timeout=5
                    )
                    yield {"agents": agents, "client": client, "api": api, "prom": prom}
                    client.close()
        finally:
            for agent in agents:
                agent.stop()


def ask(client: httpx.Client, cls: str) -> httpx.Response:
    return client.get(EXT, params={"labelSelector": f"component_class={cls}"})


def value(client: httpx.Client, cls: str) -> float | None:
    resp = ask(client, cls)
    if resp.status_code != 200 or len(resp.json()["items"]) != 1:
        return None
    return parse_quantity(resp.json()["items"][0]["value"])


def test_gpu_class_scales_on_its_pods_average_and_never_on_stale_values(stack):
    client, agents = stack["client"], stack["agents"]

    def settled() -> bool:
        v = value(client, "gpu")
        return v is not None and abs(v - EXPECTED["gpu"]) < 0.005

    try:
        wait_for(settled, timeout=60, interval=0.5, what="gpu_utilization_ratio for class gpu")
    except TimeoutError:
        logs = "\n".join(a.log.name + ":\n" + Path(a.log.name).read_text()[-1500:] for a in agents)
        raise AssertionError(f"{ask(client, 'gpu').text}\n{logs}") from None
    # The GPU no pod holds keeps no pod labels: not the agent pod's (target labels dropped).
    [free] = prometheus_query(stack["prom"].extra["url"], 'gpu_utilization_ratio{uuid="GPU-a2"}')
    assert {"namespace", "pod", "container", "component_class"}.isdisjoint(free["metric"])
    [held] = prometheus_query(stack["prom"].extra["url"], 'gpu_utilization_ratio{uuid="GPU-a0"}')
    assert (held["metric"]["namespace"], held["metric"]["pod"]) == ("platform", "gpu-worker-1")
    body = ask(client, "gpu").json()
    [item] = body["items"]
    assert item["metricName"] == "gpu_utilization_ratio" and item["metricLabels"] == {}
    assert value(client, "cpu") == pytest.approx(EXPECTED["cpu"], abs=0.005)
    # A class without GPU pods has no value: unavailable, not 0.
    assert ask(client, "memory").status_code == 503

    # One agent's NVML hangs: its series stop being fresh; the class's answer is not served
    # from the other node alone but withheld as a whole.
    agents[1].hang_nvml()
    wait_for(lambda: ask(client, "gpu").status_code == 503, timeout=STALE_AFTER + 15,
             interval=0.5, what="503 once node-b's GPU values are stale")  # fmt: skip
    resp = ask(client, "gpu")
    assert resp.json()["kind"] == "Status" and resp.json()["code"] == 503
    assert "no series" in resp.json()["message"]
    # node-a is still fresh: its cpu class (all on node-a) is still served.
    assert value(client, "cpu") == pytest.approx(EXPECTED["cpu"], abs=0.005)

    # Both agents gone (Prometheus marks their series stale at the first failed scrape).
    for agent in agents:
        agent.stop()
    wait_for(lambda: ask(client, "cpu").status_code == 503, timeout=15, interval=0.5,
             what="503 once the agents are gone")  # fmt: skip
    assert ask(client, "gpu").status_code == 503
