"""The HPA status collector against the fake API server (real HTTPS, official client)."""

from __future__ import annotations

import pytest

from exporter.collectors.hpa import HpaCollector
from exporter.config import Config, load_config
from exporter.generators.k8s.autoscalers import horizontal_pod_autoscaler
from exporter.runtime import Runtime
from exporter.service import build_collectors
from exporter.snapshot import Snapshot
from tests.support.fake_kube import FakeKube, hpa_status
from tests.support.servers import exporter_process, free_port, sample_value, scrape, wait_for

HPA_METRICS = (
    "hpa_current_replicas",
    "hpa_desired_replicas",
    "hpa_min_replicas",
    "hpa_max_replicas",
    "hpa_able_to_scale",
    "hpa_scaling_active",
)


@pytest.fixture
def fake():
    with FakeKube() as server:
        yield server


def config_for(fake: FakeKube, **env: str) -> Config:
    return load_config(
        None,
        environ={
            "EXPORTER_KUBERNETES__KUBECONFIG": fake.kubeconfig(),
            "EXPORTER_COLLECTION__INTERVAL_SECONDS": "1",
            "EXPORTER_COLLECTION__TIMEOUT_SECONDS": "0.5",
            **env,
        },
    )


def hpa_of(config: Config, cls: str) -> dict:
    return horizontal_pod_autoscaler(config, config.component_class(cls))


def values(snapshot: Snapshot, cls: str, hpa: str) -> dict[str, float | None]:
    labels = {"component_class": cls, "hpa": hpa}
    return {name: snapshot.value(name, labels) for name in HPA_METRICS}


def collector_of(config: Config) -> HpaCollector:
    (collector,) = [c for c in build_collectors(config) if isinstance(c, HpaCollector)]
    return collector


async def test_hpa_status_per_class(fake):
    config = config_for(fake)
    fake.set_hpa(hpa_of(config, "cpu"), hpa_status(current=3, desired=5))
    # currentReplicas 0 is omitted from the JSON; the controller could not read the scale.
    fake.set_hpa(hpa_of(config, "gpu"), hpa_status(current=0, desired=1, able_to_scale=False))
    fake.set_hpa(hpa_of(config, "memory"), hpa_status(current=2, desired=2, scaling_active=False))
    # Not ours: another namespace, and a workload no class owns.
    elsewhere = hpa_of(config, "cpu")
    elsewhere["metadata"]["namespace"] = "other"
    fake.set_hpa(elsewhere, hpa_status(current=9, desired=9))
    stranger = hpa_of(config, "cpu")
    stranger["metadata"]["name"] = "web"
    stranger["spec"]["scaleTargetRef"]["name"] = "web"
    fake.set_hpa(stranger, hpa_status(current=7, desired=7))

    collector = collector_of(config)
    snapshot = Snapshot()
    runtime = Runtime(snapshot, [collector])
    assert await runtime.run_once(collector)

    assert values(snapshot, "cpu", "component-cpu") == {
        "hpa_current_replicas": 3,
        "hpa_desired_replicas": 5,
        "hpa_min_replicas": 1,
        "hpa_max_replicas": 10,
        "hpa_able_to_scale": 1,
        "hpa_scaling_active": 1,
    }
    assert values(snapshot, "gpu", "component-gpu") == {
        "hpa_current_replicas": 0,
        "hpa_desired_replicas": 1,
        "hpa_min_replicas": 1,
        "hpa_max_replicas": 8,
        "hpa_able_to_scale": 0,
        "hpa_scaling_active": 1,
    }
    assert values(snapshot, "memory", "component-memory")["hpa_scaling_active"] == 0
    assert values(snapshot, "memory", "component-memory")["hpa_max_replicas"] == 6
    assert len(snapshot.series("hpa_current_replicas")) == 3
    assert (
        "GET",
        "/apis/autoscaling/v2/namespaces/platform/horizontalpodautoscalers",
    ) in fake.requests


async def test_deleted_hpa_disappears(fake):
    config = config_for(fake)
    for cls in ("cpu", "gpu"):
        fake.set_hpa(hpa_of(config, cls), hpa_status(current=1, desired=1))
    collector = collector_of(config)
    snapshot = Snapshot()
    runtime = Runtime(snapshot, [collector])
    assert await runtime.run_once(collector)
    assert values(snapshot, "gpu", "component-gpu")["hpa_desired_replicas"] == 1
    fake.delete_hpa("platform", "component-gpu")
    fake.set_hpa(hpa_of(config, "cpu"), hpa_status(current=1, desired=4))
    assert await runtime.run_once(collector)
    assert values(snapshot, "gpu", "component-gpu")["hpa_desired_replicas"] is None
    assert values(snapshot, "cpu", "component-cpu")["hpa_desired_replicas"] == 4


async def test_hung_api_server_gives_up_and_keeps_stale_values(fake):
    config = config_for(fake)
    fake.set_hpa(hpa_of(config, "cpu"), hpa_status(current=2, desired=3))
    collector = collector_of(config)
    snapshot = Snapshot()
    runtime = Runtime(snapshot, [collector])
    assert await runtime.run_once(collector)
    up = {"collector": "hpa", "target": "platform"}
    fake.hang()
    try:
        assert not await runtime.run_once(collector)
        assert snapshot.value("exporter_collector_up", up) == 0
        assert snapshot.value("exporter_collector_errors_total", up) == 1
        assert values(snapshot, "cpu", "component-cpu")["hpa_desired_replicas"] == 3  # stale
    finally:
        fake.release()
    fake.set_hpa(hpa_of(config, "cpu"), hpa_status(current=3, desired=3))
    assert await runtime.run_once(collector)
    assert snapshot.value("exporter_collector_up", up) == 1
    assert values(snapshot, "cpu", "component-cpu")["hpa_current_replicas"] == 3


async def test_rejected_token_is_a_failed_run(fake):
    config = load_config(
        None, environ={"EXPORTER_KUBERNETES__KUBECONFIG": fake.kubeconfig(token="expired")}
    )
    collector = collector_of(config)
    with pytest.raises(Exception, match="HTTP 401") as err:
        await collector.collect()
    assert "expired" not in str(err.value)
    await collector.close()


def test_enabled_only_with_kubernetes(fake, monkeypatch):
    monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)
    assert not any(
        isinstance(c, HpaCollector) for c in build_collectors(load_config(None, environ={}))
    )
    off = load_config(None, environ={"EXPORTER_KUBERNETES__ENABLED": "off"})
    assert not any(isinstance(c, HpaCollector) for c in build_collectors(off))
    collector = collector_of(config_for(fake))
    assert (collector.target, [c.name for c in collector.classes]) == (
        "platform",
        ["cpu", "gpu", "memory"],
    )
    assert collector.timeout == 0.5


def test_served_on_metrics(fake):
    """`exporter serve` with a kubeconfig puts HPA status on /metrics."""
    config = config_for(fake)
    fake.set_hpa(hpa_of(config, "cpu"), hpa_status(current=2, desired=6))
    port = free_port()
    text = f"""
listen: {{http: "127.0.0.1:{port}", https: "127.0.0.1:{free_port()}"}}
collection: {{interval_seconds: 0.5, timeout_seconds: 0.5}}
gpu: "off"
kubernetes: {{kubeconfig: {fake.kubeconfig()}}}
component_classes:
  - {{name: cpu, workload: {{name: component-cpu}}}}
"""
    with exporter_process(text) as proc:
        body = wait_for(
            lambda: (
                (t := scrape(f"http://127.0.0.1:{port}/metrics"))
                and "hpa_desired_replicas{" in t
                and t
            ),
            what=f"hpa metrics (log: {proc.extra['log']})",
        )
        assert (
            sample_value(body, "hpa_desired_replicas", component_class="cpu", hpa="component-cpu")
            == 6
        )
        assert (
            sample_value(body, "hpa_max_replicas", component_class="cpu", hpa="component-cpu") == 10
        )
        assert sample_value(body, "exporter_collector_up", collector="hpa", target="platform") == 1
