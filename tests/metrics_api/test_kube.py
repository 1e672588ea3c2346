"""exporter.kube against the fake API server, through the official client over HTTPS."""

from __future__ import annotations

import json

import pytest
from kubernetes import client

from exporter import kube
from exporter.config import KubernetesAccess, load_config
from exporter.generators.k8s.autoscalers import horizontal_pod_autoscaler
from tests.support.fake_kube import FakeKube, auth_configmap_data, hpa_status, self_signed

NS, NAME = kube.AUTH_CONFIGMAP


@pytest.fixture
def fake():
    with FakeKube() as server:
        yield server


@pytest.fixture
def core(fake):
    api = kube.api_client(KubernetesAccess(kubeconfig=fake.kubeconfig()))
    yield client.CoreV1Api(api)
    api.close()


@pytest.fixture
def ca_pem() -> str:
    return self_signed("front-proxy-ca", ip=False)[0].decode()


def test_read_front_proxy_auth(fake, core, ca_pem):
    fake.set_configmap(
        NS,
        NAME,
        auth_configmap_data(
            ca_pem,
            allowed_names=["front-proxy-client", "aggregator"],
            username_headers=["X-Remote-User"],
            group_headers=["X-Remote-Group", "X-Other-Group"],
        ),
    )
    ca, names, users, groups = kube.read_front_proxy_auth(core, timeout=5)
    assert ca == ca_pem
    assert names == ["front-proxy-client", "aggregator"]
    assert users == ["X-Remote-User"]
    assert groups == ["X-Remote-Group", "X-Other-Group"]
    assert ("GET", f"/api/v1/namespaces/{NS}/configmaps/{NAME}") in fake.requests


def test_empty_allowed_names_means_any_cn(fake, core, ca_pem):
    fake.set_configmap(NS, NAME, auth_configmap_data(ca_pem, allowed_names=[]))
    assert kube.read_front_proxy_auth(core)[1] == []


def test_missing_request_header_ca_is_a_clear_error(fake, core, ca_pem):
    data = auth_configmap_data(ca_pem)
    del data["requestheader-client-ca-file"]
    fake.set_configmap(NS, NAME, data)
    with pytest.raises(kube.KubeError, match="requestheader-client-ca-file"):
        kube.read_front_proxy_auth(core)


@pytest.mark.parametrize(
    ("value", "reason"), [("front-proxy-client", "not JSON"), (json.dumps({"a": 1}), "JSON list")]
)
def test_malformed_allowed_names(fake, core, ca_pem, value, reason):
    data = auth_configmap_data(ca_pem)
    data["requestheader-allowed-names"] = value
    fake.set_configmap(NS, NAME, data)
    with pytest.raises(kube.KubeError, match=reason):
        kube.read_front_proxy_auth(core)


def test_ca_that_is_not_pem(fake, core):
    fake.set_configmap(NS, NAME, auth_configmap_data("garbage"))
    with pytest.raises(kube.KubeError, match="no PEM certificate"):
        kube.read_front_proxy_auth(core)


def test_missing_configmap_is_404(core):
    with pytest.raises(kube.KubeError, match="HTTP 404"):
        kube.read_front_proxy_auth(core)


def test_wrong_token_is_401(fake, ca_pem):
    fake.set_configmap(NS, NAME, auth_configmap_data(ca_pem))
    api = kube.api_client(KubernetesAccess(kubeconfig=fake.kubeconfig(token="wrong")))
    with pytest.raises(kube.KubeError, match="HTTP 401") as err:
        kube.read_front_proxy_auth(client.CoreV1Api(api))
    assert "wrong" not in str(err.value)
    api.close()


def test_unreachable_api_server_is_a_kube_error(fake, ca_pem):
    path = fake.kubeconfig()
    fake.stop()
    api = kube.api_client(KubernetesAccess(kubeconfig=path))
    with pytest.raises(kube.KubeError, match="cannot read configmap"):
        kube.read_front_proxy_auth(client.CoreV1Api(api), timeout=2)
    api.close()


def test_bad_kubeconfig_path(tmp_path):
    with pytest.raises(kube.KubeError, match="cannot load Kubernetes credentials"):
        kube.api_client(KubernetesAccess(kubeconfig=str(tmp_path / "missing")))


def test_enabled(monkeypatch, tmp_path):
    monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)
    assert not kube.in_cluster()
    assert kube.enabled(KubernetesAccess()) is False
    assert kube.enabled(KubernetesAccess(kubeconfig="/x")) is True
    assert kube.enabled(KubernetesAccess(enabled="on")) is True
    assert kube.enabled(KubernetesAccess(enabled="off")) is False
    with pytest.raises(ValueError, match="enabled is off"):
        KubernetesAccess(enabled="off", kubeconfig="/x")


def test_fake_serves_hpas_the_official_client_can_read(fake):
    """The fake's shapes deserialize into the client's typed models, list, get and 404."""
    config = load_config(None, environ={})
    hpa = horizontal_pod_autoscaler(config, config.component_classes[0])
    fake.set_hpa(hpa, hpa_status(current=3, desired=5))
    api = kube.api_client(KubernetesAccess(kubeconfig=fake.kubeconfig()))
    autoscaling = client.AutoscalingV2Api(api)
    listed = autoscaling.list_namespaced_horizontal_pod_autoscaler("platform")
    assert [h.metadata.name for h in listed.items] == ["component-cpu"]
    one = autoscaling.read_namespaced_horizontal_pod_autoscaler("component-cpu", "platform")
    assert one.kind == "HorizontalPodAutoscaler" and one.api_version == "autoscaling/v2"
    assert (one.status.current_replicas, one.status.desired_replicas) == (3, 5)
    assert one.spec.behavior.scale_up.policies[1].value == 4
    assert one.spec.metrics[0].external.target.average_value == "10"
    with pytest.raises(client.ApiException) as err:
        autoscaling.read_namespaced_horizontal_pod_autoscaler("nope", "platform")
    assert err.value.status == 404
    body = json.loads(err.value.body)
    assert body["kind"] == "Status" and body["reason"] == "NotFound" and body["code"] == 404
    assert body["details"] == {
        "name": "nope",
        "group": "autoscaling",
        "kind": "horizontalpodautoscalers",
    }
    assert autoscaling.list_namespaced_horizontal_pod_autoscaler("other").items == []
    api.close()


def test_bare_yaml_on_off_are_accepted(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("kubernetes: {enabled: off}\n")
    assert load_config(path, environ={}).kubernetes.enabled == "off"
    path.write_text("kubernetes: {enabled: on}\n")
    assert load_config(path, environ={}).kubernetes.enabled == "on"


def test_raw_configmap_data_and_default_client(fake, ca_pem, monkeypatch):
    """With no api given, the default kubeconfig (KUBECONFIG) is used, outside a cluster."""
    data = auth_configmap_data(ca_pem)
    fake.set_configmap(NS, NAME, data)
    monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)
    monkeypatch.setenv("KUBECONFIG", fake.kubeconfig())
    assert kube.front_proxy_configmap_data() == data
    assert kube.read_front_proxy_auth()[0] == ca_pem
