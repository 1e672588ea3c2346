"""The metrics providers called directly, as a non-HTTP caller (the KEDA scaler) would:
the snapshot provider on a real `Snapshot`, the PromQL provider against a real Prometheus
(instant queries on `vector()`, so no scrape needs to happen first) and a closed port."""

from __future__ import annotations

import pytest

from exporter import catalog
from exporter.metrics_api.providers import (
    BadRequest,
    MetricInfo,
    NotFound,
    Unavailable,
    build_provider,
)
from exporter.metrics_api.selectors import parse
from exporter.snapshot import Sample, Snapshot
from tests.support.metrics_api_harness import BASE_CONFIG, build_config
from tests.support.servers import free_port, prometheus_process

NOW = 1_800_000_000.0


def _depth(component_class: str, value: float) -> Sample:
    return Sample(catalog.QUEUE_DEPTH, {"component_class": component_class, "queue": "q"}, value)


def _fallback_flag(snapshot: Snapshot, api: str, metric: str) -> float | None:
    return snapshot.value("metrics_api_fallback_active", {"api": api, "metric": metric})


@pytest.fixture
def snapshot_provider():
    snapshot = Snapshot()
    snapshot.update("queues", [_depth("cpu", 4), _depth("gpu", 2), _depth("memory", 1)], now=NOW)
    provider = build_provider(build_config(None, free_port()), snapshot, lambda: True, lambda: NOW)
    return provider, snapshot


async def test_snapshot_external_selects_fresh_series(snapshot_provider):
    provider, _ = snapshot_provider
    values = await provider.external_metric("platform", "queue_depth", parse("component_class=gpu"))
    assert [(dict(v.labels), v.value, v.timestamp) for v in values] == [
        ({"component_class": "gpu", "queue": "q"}, 2.0, NOW)
    ]
    everything = await provider.external_metric("platform", "queue_depth", parse(""))
    assert sorted(v.value for v in everything) == [1.0, 2.0, 4.0]


async def test_snapshot_serves_its_namespace_and_no_pods(snapshot_provider):
    provider, _ = snapshot_provider
    with pytest.raises(NotFound, match='served for namespace "platform" only'):
        await provider.external_metric("other", "queue_depth", parse(""))
    with pytest.raises(NotFound, match="carry no pod label"):
        await provider.pods_metric("platform", None, "queue_depth", parse(""), parse(""))
    with pytest.raises(NotFound, match='could not find the metric "nope"') as err:
        await provider.namespace_metric("platform", "nope", parse(""))
    assert err.value.details == {
        "name": "nope",
        "group": "custom.metrics.k8s.io",
        "kind": "namespaces",
    }


async def test_snapshot_object_and_namespace_values_are_summed(snapshot_provider):
    provider, _ = snapshot_provider
    gpu = await provider.object_metric(
        "platform", "deployments.apps", "component-gpu", "queue_depth", parse("")
    )
    assert (gpu.value, dict(gpu.labels)) == (2.0, {})
    whole = await provider.namespace_metric("platform", "queue_depth", parse(""))
    assert whole.value == 7.0
    with pytest.raises(NotFound, match="no component class"):
        await provider.object_metric(
            "platform", "deployments.apps", "web", "queue_depth", parse("")
        )


async def test_snapshot_stale_series_is_fallback_or_unavailable():
    snapshot = Snapshot()
    snapshot.update("queues", [_depth("gpu", 2)], now=NOW - 10)  # interval 1 s: stale after 3
    snapshot.update(
        "ages", [Sample(catalog.QUEUE_OLDEST_AGE, {"component_class": "gpu", "queue": "q"}, 9)],
        now=NOW - 10,
    )  # fmt: skip
    provider = build_provider(build_config(None, free_port()), snapshot, lambda: True, lambda: NOW)
    with pytest.raises(Unavailable, match="last collected 10s ago"):
        await provider.external_metric("platform", "queue_depth", parse(""))
    assert _fallback_flag(snapshot, "external", "queue_depth") == 0
    [value] = await provider.external_metric(
        "platform", "queue_oldest_age_seconds", parse("component_class=gpu")
    )
    assert (value.value, dict(value.labels)) == (0.0, {"component_class": "gpu"})  # fallback: 0
    assert _fallback_flag(snapshot, "external", "queue_oldest_age_seconds") == 1


async def test_snapshot_before_first_collection_is_unavailable():
    snapshot = Snapshot()
    provider = build_provider(build_config(None, free_port()), snapshot, lambda: False)
    with pytest.raises(Unavailable, match="first collection"):
        await provider.external_metric("platform", "queue_depth", parse(""))


def test_list_metrics_in_configuration_order(snapshot_provider):
    provider, _ = snapshot_provider
    workloads = ("namespaces", "deployments.apps", "statefulsets.apps")
    assert provider.list_metrics() == [
        MetricInfo("external", "queue_depth"),
        MetricInfo("external", "queue_oldest_age_seconds"),
        MetricInfo("external", "gpu_utilization_ratio"),
        MetricInfo("custom", "queue_depth", workloads),
        MetricInfo("custom", "queue_oldest_age_seconds", workloads),
    ]


def _promql_config(url: str):
    return build_config(
        None,
        free_port(),
        **{
            "prometheus": {"url": url, "timeout_seconds": 2},
            "metrics_api.external": [
                *BASE_CONFIG["metrics_api"]["external"],
                {
                    "name": "pinned",
                    "source": "promql",
                    "query": 'label_replace(vector(4), "ns", "{namespace}", "", "")',
                    "window_seconds": 60,
                },
                {"name": "with_fallback", "source": "promql", "query": "vector(1)", "fallback": 3},
            ],
            "metrics_api.custom": [
                {
                    "name": "per_pod",
                    "source": "promql",
                    "query": 'label_replace(vector(2), "pod", "web-1", "", "") '
                    'or label_replace(vector(5), "pod", "web-2", "", "")',
                }
            ],
        },
    )


async def test_promql_provider_against_real_prometheus():
    with prometheus_process([]) as prom:
        snapshot = Snapshot()
        provider = build_provider(_promql_config(prom.extra["url"]), snapshot, lambda: True)
        try:
            [pinned] = await provider.external_metric("platform", "pinned", parse(""))
            assert (dict(pinned.labels), pinned.value, pinned.window_seconds) == (
                {"ns": "platform"},
                4.0,
                60,
            )
            pods = await provider.pods_metric("platform", None, "per_pod", parse(""), parse(""))
            assert [(v.labels["pod"], v.value) for v in pods] == [("web-1", 2.0), ("web-2", 5.0)]
            [one] = await provider.pods_metric("platform", "web-2", "per_pod", parse(""), parse(""))
            assert one.value == 5.0
            with pytest.raises(NotFound, match='for pods "web-3"'):
                await provider.pods_metric("platform", "web-3", "per_pod", parse(""), parse(""))
            with pytest.raises(BadRequest, match="PromQL label matcher"):
                await provider.external_metric("platform", "pinned", parse("replicas>2"))
            assert "pods" in provider.list_metrics()[-1].resources
        finally:
            await provider.aclose()


async def test_promql_provider_with_prometheus_down_falls_back_or_is_unavailable():
    snapshot = Snapshot()
    provider = build_provider(
        _promql_config(f"http://127.0.0.1:{free_port()}"), snapshot, lambda: True
    )
    try:
        with pytest.raises(Unavailable, match='metric "pinned" is unavailable: Prometheus'):
            await provider.external_metric("platform", "pinned", parse(""))
        [value] = await provider.external_metric("platform", "with_fallback", parse("app=web"))
        assert (value.value, dict(value.labels)) == (3.0, {"app": "web"})
        assert _fallback_flag(snapshot, "external", "with_fallback") == 1
        with pytest.raises(Unavailable):  # a list of pods has no single series to stand for
            await provider.pods_metric("platform", None, "per_pod", parse(""), parse(""))
    finally:
        await provider.aclose()


async def test_require_series_makes_an_empty_answer_unavailable():
    """`require_series`: no series is a 503 (or the fallback), not an empty list the HPA
    would read as 'nothing to scale on' (gpu_utilization_ratio when the agents are stale)."""
    snapshot = Snapshot()
    snapshot.update("queues", [_depth("gpu", 2)], now=NOW)
    external = [
        {"name": "queue_depth", "source": "snapshot"},
        {"name": "queue_oldest_age_seconds", "source": "snapshot", "require_series": True},
        {"name": "queue_up", "source": "snapshot", "require_series": True, "fallback": 0},
    ]
    config = build_config(None, free_port(), **{"metrics_api.external": external})
    provider = build_provider(config, snapshot, lambda: True, lambda: NOW)
    nothing = parse("component_class=none")
    assert await provider.external_metric("platform", "queue_depth", nothing) == []
    with pytest.raises(Unavailable, match="no series"):
        await provider.external_metric("platform", "queue_oldest_age_seconds", nothing)
    [value] = await provider.external_metric("platform", "queue_up", nothing)
    assert value.value == 0 and _fallback_flag(snapshot, "external", "queue_up") == 1
