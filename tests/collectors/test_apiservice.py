"""Who owns the metrics groups: the APIService collector against the fake API server."""

from __future__ import annotations

import pytest

from exporter.collectors.apiservice import ApiServiceCollector
from exporter.generators.k8s.apiservice import api_services
from exporter.runtime import Runtime
from exporter.service import build_collectors
from exporter.snapshot import Snapshot
from tests.collectors.test_hpa import config_for
from tests.support.fake_kube import FakeKube

EXTERNAL = {"group": "external.metrics.k8s.io", "version": "v1beta1"}
CUSTOM = {"group": "custom.metrics.k8s.io", "version": "v1beta2"}

# What KEDA's Helm chart registers: the same APIService name, pointing at KEDA.
KEDA_APISERVICE = {
    "apiVersion": "apiregistration.k8s.io/v1",
    "kind": "APIService",
    "metadata": {"name": "v1beta1.external.metrics.k8s.io"},
    "spec": {
        "group": "external.metrics.k8s.io",
        "version": "v1beta1",
        "service": {"name": "keda-operator-metrics-apiserver", "namespace": "keda", "port": 443},
        "groupPriorityMinimum": 100,
        "versionPriority": 100,
    },
}


@pytest.fixture
def fake():
    with FakeKube() as server:
        yield server


def states(snapshot: Snapshot) -> dict[str, tuple[float | None, float | None]]:
    return {
        labels["group"]: (
            snapshot.value("exporter_apiservice_available", labels),
            snapshot.value("exporter_apiservice_owned", labels),
        )
        for labels in (EXTERNAL, CUSTOM)
    }


async def run(config) -> tuple[Snapshot, bool]:
    (collector,) = [c for c in build_collectors(config) if isinstance(c, ApiServiceCollector)]
    snapshot = Snapshot()
    ok = await Runtime(snapshot, [collector]).run_once(collector)
    await collector.close()
    return snapshot, ok


async def test_someone_else_owns_external_and_ours_is_unreachable(fake):
    config = config_for(fake)
    fake.set_apiservice(KEDA_APISERVICE, available=True)
    (_, custom) = api_services(config)  # our generated one
    fake.set_apiservice(custom, available=False, reason="FailedDiscoveryCheck")
    snapshot, ok = await run(config)
    assert ok
    assert states(snapshot) == {
        "external.metrics.k8s.io": (1.0, 0.0),  # KEDA's, and the aggregator reaches KEDA
        "custom.metrics.k8s.io": (0.0, 1.0),  # ours, and the aggregator cannot reach us
    }


async def test_ours_and_available(fake):
    config = config_for(fake)
    for obj in api_services(config):
        fake.set_apiservice(obj, available=True)
    snapshot, _ = await run(config)
    assert set(states(snapshot).values()) == {(1.0, 1.0)}


async def test_missing_apiservices_are_zero(fake):
    snapshot, ok = await run(config_for(fake))
    assert ok
    assert set(states(snapshot).values()) == {(0.0, 0.0)}
    assert ("GET", "/apis/apiregistration.k8s.io/v1/apiservices/v1beta2.custom.metrics.k8s.io") in [
        (m, p.split("?")[0]) for m, p in fake.requests
    ]


async def test_unreachable_api_server_fails_the_run(fake):
    config = config_for(fake)
    fake.set_apiservice(KEDA_APISERVICE, available=True)
    fake.hang()
    try:
        snapshot, ok = await run(config)
    finally:
        fake.release()
    assert not ok
    labels = {"collector": "apiservice", "target": "platform"}
    assert snapshot.value("exporter_collector_up", labels) == 0


def test_no_collector_without_kubernetes():
    from exporter.config import load_config

    config = load_config(None, environ={"EXPORTER_KUBERNETES__ENABLED": "off"})
    assert not [c for c in build_collectors(config) if isinstance(c, ApiServiceCollector)]
