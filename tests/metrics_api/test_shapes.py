"""Response bodies of the metrics API, field by field, against the k8s.io/metrics types.

external.metrics.k8s.io/v1beta1 ExternalMetricValueList{kind, apiVersion, metadata,
items[]{metricName, metricLabels, timestamp, window?, value}}; custom.metrics.k8s.io/v1beta2
MetricValueList{kind, apiVersion, metadata, items[]{describedObject{kind, namespace?, name,
apiVersion}, metric{name, selector?}, timestamp, windowSeconds?, value}}; discovery
APIGroupList/APIGroup/APIResourceList; errors as metav1.Status. Over real TLS.
"""

from __future__ import annotations

import re
import time

import pytest

from exporter import catalog
from exporter.snapshot import Sample
from tests.support.metrics_api_harness import build_config, client, make_pki, running_api
from tests.support.servers import free_port

EXT = "/apis/external.metrics.k8s.io/v1beta1"
CUS = "/apis/custom.metrics.k8s.io/v1beta2"
RFC3339 = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")


def ts(t: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(t))


def q(component_class: str, queue: str, value: float) -> Sample:
    return Sample(catalog.QUEUE_DEPTH, {"component_class": component_class, "queue": queue}, value)


@pytest.fixture
async def api(tmp_path):
    pki = make_pki(tmp_path)
    async with running_api(build_config(pki, free_port())) as running:
        now = time.time()
        running.snapshot.replace(
            "queues",
            [q("gpu", "jobs-gpu", 5), q("gpu", "jobs-gpu-batch", 1.5), q("cpu", "jobs-cpu", 2000)],
            now=now,
        )
        running.written_at = now  # type: ignore[attr-defined]
        async with client(pki, pki.proxy) as c:
            running.client = c  # type: ignore[attr-defined]
            yield running


def status(resp, code: int, reason: str) -> dict:
    assert resp.status_code == code, resp.text
    assert resp.headers["content-type"] == "application/json"
    body = resp.json()
    assert set(body) <= {
        "kind",
        "apiVersion",
        "metadata",
        "status",
        "message",
        "reason",
        "code",
        "details",
    }
    assert (body["kind"], body["apiVersion"], body["metadata"]) == ("Status", "v1", {})
    assert (body["status"], body["reason"], body["code"]) == ("Failure", reason, code)
    assert body["message"]
    return body


# --- discovery --------------------------------------------------------------------------------
async def test_discovery_documents(api):
    c = api.client
    groups = (await c.get(api.url + "/apis")).json()
    assert groups["kind"] == "APIGroupList" and groups["apiVersion"] == "v1"
    by_name = {g["name"]: g for g in groups["groups"]}
    assert set(by_name) == {"custom.metrics.k8s.io", "external.metrics.k8s.io"}
    ext = by_name["external.metrics.k8s.io"]
    assert ext["versions"] == [
        {"groupVersion": "external.metrics.k8s.io/v1beta1", "version": "v1beta1"}
    ]
    assert ext["preferredVersion"] == ext["versions"][0]
    assert by_name["custom.metrics.k8s.io"]["preferredVersion"] == {
        "groupVersion": "custom.metrics.k8s.io/v1beta2",
        "version": "v1beta2",
    }

    group = (await c.get(api.url + "/apis/external.metrics.k8s.io")).json()
    assert group == {
        "kind": "APIGroup",
        "apiVersion": "v1",
        "name": "external.metrics.k8s.io",
        "versions": [{"groupVersion": "external.metrics.k8s.io/v1beta1", "version": "v1beta1"}],
        "preferredVersion": {
            "groupVersion": "external.metrics.k8s.io/v1beta1",
            "version": "v1beta1",
        },
    }

    res = (await c.get(api.url + EXT)).json()
    assert (res["kind"], res["apiVersion"], res["groupVersion"]) == (
        "APIResourceList",
        "v1",
        "external.metrics.k8s.io/v1beta1",
    )
    assert [r["name"] for r in res["resources"]] == [
        "queue_depth",
        "queue_oldest_age_seconds",
        "gpu_utilization_ratio",
    ]
    for r in res["resources"]:
        assert r == {
            "name": r["name"],
            "singularName": "",
            "namespaced": True,
            "kind": "ExternalMetricValueList",
            "verbs": ["get"],
        }

    res = (await c.get(api.url + CUS)).json()
    assert res["groupVersion"] == "custom.metrics.k8s.io/v1beta2" and res["resources"]
    names = {r["name"]: r for r in res["resources"]}
    assert names["namespaces/queue_depth"]["namespaced"] is False
    assert names["deployments.apps/queue_depth"]["namespaced"] is True
    assert names["statefulsets.apps/queue_oldest_age_seconds"]["kind"] == "MetricValueList"
    assert "pods/queue_depth" not in names  # snapshot series carry no pod label
    assert all(r["verbs"] == ["get"] for r in res["resources"])


async def test_discovery_is_never_empty(tmp_path):
    pki = make_pki(tmp_path)
    config = build_config(
        pki,
        free_port(),
        **{"metrics_api.external": [], "metrics_api.custom": [], "component_classes": []},
    )
    async with running_api(config) as running, client(pki, pki.proxy) as c:
        for path in (EXT, CUS):
            body = (await c.get(running.url + path)).json()
            assert len(body["resources"]) == 1, body


# --- external metrics -------------------------------------------------------------------------
async def test_external_metric_value_list(api):
    resp = await api.client.get(
        api.url + EXT + "/namespaces/platform/queue_depth",
        params={"labelSelector": "component_class=gpu"},
    )
    assert resp.status_code == 200 and resp.headers["content-type"] == "application/json"
    body = resp.json()
    assert set(body) == {"kind", "apiVersion", "metadata", "items"}
    assert body["kind"] == "ExternalMetricValueList"
    assert body["apiVersion"] == "external.metrics.k8s.io/v1beta1"
    assert body["metadata"] == {}
    items = sorted(body["items"], key=lambda i: i["metricLabels"]["queue"])
    assert items == [
        {
            "metricName": "queue_depth",
            "metricLabels": {"component_class": "gpu", "queue": "jobs-gpu"},
            "timestamp": ts(api.written_at),
            "value": "5",
        },
        {
            "metricName": "queue_depth",
            "metricLabels": {"component_class": "gpu", "queue": "jobs-gpu-batch"},
            "timestamp": ts(api.written_at),
            "value": "1500m",
        },
    ]
    assert RFC3339.match(items[0]["timestamp"])


@pytest.mark.parametrize(
    "selector, queues",
    [
        ("", ["jobs-cpu", "jobs-gpu", "jobs-gpu-batch"]),
        ("component_class==cpu", ["jobs-cpu"]),
        ("component_class!=gpu", ["jobs-cpu"]),
        ("component_class in (cpu,memory)", ["jobs-cpu"]),
        ("component_class notin (cpu)", ["jobs-gpu", "jobs-gpu-batch"]),
        ("queue", ["jobs-cpu", "jobs-gpu", "jobs-gpu-batch"]),
        ("!queue", []),
        ("component_class=gpu,queue notin (jobs-gpu)", ["jobs-gpu-batch"]),
        ("component_class=memory", []),
    ],
)
async def test_external_label_selector_semantics(api, selector, queues):
    resp = await api.client.get(
        api.url + EXT + "/namespaces/platform/queue_depth", params={"labelSelector": selector}
    )
    assert resp.status_code == 200, resp.text
    assert sorted(i["metricLabels"]["queue"] for i in resp.json()["items"]) == queues


async def test_external_large_values_and_clamped_negatives(api):
    api.snapshot.update("queues", [q("cpu", "jobs-cpu", 2000), q("memory", "jobs-mem", -3)])
    body = (
        await api.client.get(
            api.url + EXT + "/namespaces/platform/queue_depth",
            params={"labelSelector": "component_class in (cpu,memory)"},
        )
    ).json()
    values = {i["metricLabels"]["component_class"]: i["value"] for i in body["items"]}
    assert values == {"cpu": "2k", "memory": "0"}


async def test_external_nan_is_never_served(api):
    # a NaN never enters the snapshot (exporter.values), and it removes the last good value
    api.snapshot.update("queues", [q("memory", "jobs-mem", 3)])
    api.snapshot.update("queues", [q("memory", "jobs-mem", float("nan"))])
    resp = await api.client.get(
        api.url + EXT + "/namespaces/platform/queue_depth",
        params={"labelSelector": "component_class=memory"},
    )
    assert resp.status_code == 200 and resp.json()["items"] == []


async def test_external_window_is_served_when_configured(tmp_path):
    pki = make_pki(tmp_path)
    config = build_config(
        pki,
        free_port(),
        **{
            "metrics_api.external": [
                {"name": "queue_depth", "source": "snapshot", "window_seconds": 30}
            ]
        },
    )
    async with running_api(config) as running, client(pki, pki.proxy) as c:
        running.snapshot.update("queues", [q("gpu", "jobs-gpu", 1)])
        body = (await c.get(running.url + EXT + "/namespaces/platform/queue_depth")).json()
        assert body["items"][0]["window"] == 30


# --- custom metrics: objects and namespaces ----------------------------------------------------
async def test_object_metric_for_a_component_class_workload(api):
    resp = await api.client.get(
        api.url + CUS + "/namespaces/platform/deployments.apps/component-gpu/queue_depth"
    )
    assert resp.status_code == 200, resp.text
    body = resp.json()
    assert set(body) == {"kind", "apiVersion", "metadata", "items"}
    assert (body["kind"], body["apiVersion"], body["metadata"]) == (
        "MetricValueList",
        "custom.metrics.k8s.io/v1beta2",
        {},
    )
    assert body["items"] == [
        {
            "describedObject": {
                "kind": "Deployment",
                "namespace": "platform",
                "name": "component-gpu",
                "apiVersion": "apps/v1",
            },
            "metric": {"name": "queue_depth"},
            "timestamp": ts(api.written_at),
            "value": "6500m",  # 5 + 1.5 over the class's two queues
        }
    ]


async def test_object_metric_with_metric_label_selector(api):
    resp = await api.client.get(
        api.url + CUS + "/namespaces/platform/deployments/component-gpu/queue_depth",
        params={"metricLabelSelector": "queue in (jobs-gpu-batch),queue!=x,!pod,queue"},
    )
    body = resp.json()
    [item] = body["items"]
    assert item["value"] == "1500m"
    assert item["metric"] == {
        "name": "queue_depth",
        "selector": {
            "matchExpressions": [
                {"key": "pod", "operator": "DoesNotExist"},
                {"key": "queue", "operator": "In", "values": ["jobs-gpu-batch"]},
                {"key": "queue", "operator": "NotIn", "values": ["x"]},
                {"key": "queue", "operator": "Exists"},
            ]
        },
    }
    resp = await api.client.get(
        api.url + CUS + "/namespaces/platform/deployments/component-gpu/queue_depth",
        params={"metricLabelSelector": "queue=jobs-gpu"},
    )
    assert resp.json()["items"][0]["metric"]["selector"] == {"matchLabels": {"queue": "jobs-gpu"}}


async def test_namespace_metric(api):
    resp = await api.client.get(api.url + CUS + "/namespaces/platform/metrics/queue_depth")
    assert resp.status_code == 200, resp.text
    assert resp.json()["items"] == [
        {
            "describedObject": {"kind": "Namespace", "name": "platform", "apiVersion": "v1"},
            "metric": {"name": "queue_depth"},
            "timestamp": ts(api.written_at),
            "value": "2006500m",  # 2000 + 5 + 1.5
        }
    ]


async def test_custom_fallback_is_served_and_flagged(api):
    # queue_oldest_age_seconds has fallback 7.5 in the custom API; nothing collected it yet
    # for... a stale series: written long ago
    api.snapshot.replace(
        "ages",
        [Sample(catalog.QUEUE_OLDEST_AGE, {"component_class": "gpu", "queue": "q"}, 42)],
        now=time.time() - 60,
    )
    resp = await api.client.get(
        api.url
        + CUS
        + "/namespaces/platform/deployments.apps/component-gpu/queue_oldest_age_seconds"
    )
    assert resp.status_code == 200, resp.text
    assert resp.json()["items"][0]["value"] == "7500m"
    assert (
        api.snapshot.value(
            "metrics_api_fallback_active", {"api": "custom", "metric": "queue_oldest_age_seconds"}
        )
        == 1
    )
    # fresh again: the real value, and the flag drops
    api.snapshot.replace(
        "ages", [Sample(catalog.QUEUE_OLDEST_AGE, {"component_class": "gpu", "queue": "q"}, 42)]
    )
    resp = await api.client.get(
        api.url
        + CUS
        + "/namespaces/platform/deployments.apps/component-gpu/queue_oldest_age_seconds"
    )
    assert resp.json()["items"][0]["value"] == "42"
    assert (
        api.snapshot.value(
            "metrics_api_fallback_active", {"api": "custom", "metric": "queue_oldest_age_seconds"}
        )
        == 0
    )


async def test_external_fallback_carries_the_selector_labels(api):
    api.snapshot.replace(
        "ages",
        [Sample(catalog.QUEUE_OLDEST_AGE, {"component_class": "gpu", "queue": "q"}, 42)],
        now=time.time() - 60,
    )
    body = (
        await api.client.get(
            api.url + EXT + "/namespaces/platform/queue_oldest_age_seconds",
            params={"labelSelector": "component_class=gpu,queue!=x"},
        )
    ).json()
    [item] = body["items"]
    assert item["metricLabels"] == {"component_class": "gpu"}
    assert item["value"] == "0"
    assert RFC3339.match(item["timestamp"])
    assert (
        api.snapshot.value(
            "metrics_api_fallback_active", {"api": "external", "metric": "queue_oldest_age_seconds"}
        )
        == 1
    )


# --- errors -----------------------------------------------------------------------------------
async def test_unknown_metric_is_404(api):
    body = status(
        await api.client.get(api.url + EXT + "/namespaces/platform/no_such_metric"), 404, "NotFound"
    )
    assert body["details"]["name"] == "no_such_metric"
    status(
        await api.client.get(api.url + CUS + "/namespaces/platform/metrics/no_such_metric"),
        404,
        "NotFound",
    )
    status(
        await api.client.get(
            api.url + CUS + "/namespaces/platform/deployments.apps/component-gpu/nope"
        ),
        404,
        "NotFound",
    )


async def test_unknown_object_resource_or_path_is_404(api):
    for path in (
        CUS + "/namespaces/platform/deployments.apps/not-a-class/queue_depth",
        CUS + "/namespaces/platform/services/web/queue_depth",
        CUS + "/namespaces/platform/pods/*/queue_depth",  # snapshot metric: no pods
        "/apis/foo.example.com/v1",
        EXT + "/queue_depth",
        "/",
    ):
        status(await api.client.get(api.url + path), 404, "NotFound")


async def test_snapshot_metric_in_another_namespace_is_404(api):
    body = status(
        await api.client.get(api.url + EXT + "/namespaces/elsewhere/queue_depth"), 404, "NotFound"
    )
    assert "platform" in body["message"]


@pytest.mark.parametrize(
    "selector", ["a==b=c", "in (x)", "a in (b", "A_/x=1", "a=" + "v" * 64, "a,", "a=b c", "!a=b"]
)
async def test_malformed_selector_is_400(api, selector):
    body = status(
        await api.client.get(
            api.url + EXT + "/namespaces/platform/queue_depth", params={"labelSelector": selector}
        ),
        400,
        "BadRequest",
    )
    assert "labelSelector" in body["message"]
    status(
        await api.client.get(
            api.url + CUS + "/namespaces/platform/metrics/queue_depth",
            params={"metricLabelSelector": selector},
        ),
        400,
        "BadRequest",
    )


async def test_invalid_namespace_name_is_400(api):
    status(
        await api.client.get(api.url + EXT + "/namespaces/Not_Valid/queue_depth"), 400, "BadRequest"
    )


async def test_stale_snapshot_without_fallback_is_503(api):
    api.snapshot.replace("queues", [q("gpu", "jobs-gpu", 5)], now=time.time() - 3.5)
    body = status(
        await api.client.get(
            api.url + EXT + "/namespaces/platform/queue_depth",
            params={"labelSelector": "component_class=gpu"},
        ),
        503,
        "ServiceUnavailable",
    )
    assert "last collected" in body["message"]
    assert (
        api.snapshot.value(
            "metrics_api_fallback_active", {"api": "external", "metric": "queue_depth"}
        )
        == 0
    )


async def test_before_the_first_collection_is_503(tmp_path):
    from exporter.runtime import Collector, Runtime
    from exporter.snapshot import Snapshot

    class Never(Collector):
        name, target = "never", "x"

        async def collect(self):
            raise AssertionError("not started in this test")

    pki = make_pki(tmp_path)
    snapshot = Snapshot()
    runtime = Runtime(snapshot, [Never(1, 1)])  # never started: not ready
    async with running_api(build_config(pki, free_port()), snapshot, runtime) as running:
        async with client(pki, pki.proxy) as c:
            body = status(
                await c.get(running.url + EXT + "/namespaces/platform/queue_depth"),
                503,
                "ServiceUnavailable",
            )
            assert "first collection" in body["message"]


async def test_write_methods_are_405(api):
    for method in ("POST", "PUT", "DELETE", "PATCH"):
        resp = await api.client.request(method, api.url + EXT + "/namespaces/platform/queue_depth")
        status(resp, 405, "MethodNotAllowed")


@pytest.mark.parametrize(
    "accept",
    [
        "*/*",
        "application/json",
        "application/json;as=Table;v=v1;g=meta.k8s.io,application/json",
        "application/vnd.kubernetes.protobuf,application/json",
        "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList,application/json",
        "text/html, application/*;q=0.5",
        "",
    ],
)
async def test_json_is_served_for_any_accept_that_admits_it(api, accept):
    for path in ("/apis", EXT + "/namespaces/platform/queue_depth"):
        resp = await api.client.get(api.url + path, headers={"Accept": accept})
        assert resp.status_code == 200, (accept, resp.text)
        assert resp.headers["content-type"] == "application/json"
        resp.json()


@pytest.mark.parametrize(
    "accept", ["application/vnd.kubernetes.protobuf", "text/plain", "application/json;q=0, */*"]
)
async def test_accept_without_json_is_406(api, accept):
    resp = await api.client.get(
        api.url + EXT + "/namespaces/platform/queue_depth", headers={"Accept": accept}
    )
    status(resp, 406, "NotAcceptable")


async def test_requests_are_counted_by_api_and_code(api):
    await api.client.get(api.url + EXT + "/namespaces/platform/queue_depth")
    await api.client.get(api.url + EXT + "/namespaces/platform/nope")
    await api.client.get(api.url + "/apis")
    value = api.snapshot.value
    assert (
        value("metrics_api_requests_total", {"api": "external.metrics.k8s.io", "code": "200"}) == 1
    )
    assert (
        value("metrics_api_requests_total", {"api": "external.metrics.k8s.io", "code": "404"}) == 1
    )
    assert value("metrics_api_requests_total", {"api": "discovery", "code": "200"}) == 1


async def test_two_replicas_give_the_same_answers(tmp_path):
    """Replicas share nothing but what they measure: the same series give the same bodies."""
    pki = make_pki(tmp_path)
    now = time.time()
    samples = [q("gpu", "jobs-gpu", 5), q("cpu", "jobs-cpu", 3)]
    bodies = []
    for _ in range(2):
        async with running_api(build_config(pki, free_port())) as running:
            running.snapshot.replace("queues", samples, now=now)
            async with client(pki, pki.proxy) as c:
                bodies.append(
                    [
                        (await c.get(running.url + path)).json()
                        for path in (
                            EXT + "/namespaces/platform/queue_depth",
                            CUS + "/namespaces/platform/deployments.apps/component-gpu/queue_depth",
                            CUS + "/namespaces/platform/metrics/queue_depth",
                            CUS,
                        )
                    ]
                )
    assert bodies[0] == bodies[1]
