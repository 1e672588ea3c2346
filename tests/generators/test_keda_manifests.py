"""autoscaling.engine keda: ScaledObjects that KEDA's own CRD schema accepts; metrics-API
ownership (metrics_api.register) and the KEDA + external collision warning."""

from __future__ import annotations

import copy
import subprocess
import sys

import jsonschema
import pytest

from exporter.config import load_config
from exporter.generators.k8s import documents, render
from exporter.generators.k8s.autoscalers import horizontal_pod_autoscaler
from tests.generators.test_manifests import REPO, validate

KEDA = {"EXPORTER_AUTOSCALING__ENGINE": "keda"}


def config(**env: str):
    return load_config(None, environ=env)


def test_keda_engine_writes_one_valid_scaled_object_per_class():
    cfg = config(**KEDA)
    docs = documents(cfg)
    assert not [name for name in docs if name.startswith("hpa-")]
    objs = {
        objs[0]["metadata"]["name"]: objs[0]
        for name, objs in docs.items()
        if name.startswith("scaledobject-")
    }
    assert set(objs) == {c.workload.name for c in cfg.component_classes}
    for obj in [*objs.values(), *docs["keda-triggerauthentication.yaml"]]:
        validate(obj)
    gpu = objs["component-gpu"]["spec"]
    assert gpu["minReplicaCount"] == 0  # the embedded default's GPU class scales to zero
    assert gpu["maxReplicaCount"] == 8
    assert gpu["cooldownPeriod"] == 300 and gpu["pollingInterval"] == 30
    assert gpu["fallback"] == {"failureThreshold": 3, "replicas": 1}
    (trigger,) = gpu["triggers"]
    assert trigger["type"] == "external-push" and trigger["metricType"] == "AverageValue"
    assert trigger["metadata"] == {
        "scalerAddress": "exporter.platform.svc:9465",
        "componentClass": "gpu",
        "metric": "queue_depth",
        "targetValue": "2",
        "activationThreshold": "0",
    }
    assert trigger["authenticationRef"] == {"name": "exporter-keda-scaler"}
    # the class's HPA behaviour, as the hpa engine would write it
    hpa = horizontal_pod_autoscaler(cfg, cfg.component_class("gpu"))
    advanced = gpu["advanced"]["horizontalPodAutoscalerConfig"]
    assert advanced["behavior"] == hpa["spec"]["behavior"]
    cpu = objs["component-cpu"]["spec"]
    assert cpu["minReplicaCount"] == 1
    assert {"type": "cpu", "metricType": "Utilization", "metadata": {"value": "70"}} in cpu[
        "triggers"
    ]
    memory = objs["component-memory"]["spec"]["triggers"]
    assert {"type": "memory", "metricType": "Utilization", "metadata": {"value": "80"}} in memory


def test_keda_crd_schema_catches_mistakes():
    (obj,) = documents(config(**KEDA))["scaledobject-gpu.yaml"]
    for mutate in (
        lambda o: o["spec"].update(minReplicaCount="0"),
        lambda o: o["spec"]["triggers"][0].pop("metadata"),
        lambda o: o["spec"]["fallback"].pop("replicas"),
        lambda o: o["spec"].update(cooldown=300),
    ):
        bad = copy.deepcopy(obj)
        mutate(bad)
        with pytest.raises(jsonschema.ValidationError):
            validate(bad)


def test_plaintext_scaler_has_no_trigger_authentication():
    docs = documents(config(**KEDA, EXPORTER_AUTOSCALING__KEDA__PLAINTEXT="true"))
    assert "keda-triggerauthentication.yaml" not in docs
    (obj,) = docs["scaledobject-gpu.yaml"]
    assert "authenticationRef" not in obj["spec"]["triggers"][0]


def test_scaler_port_on_service_deployment_and_network_policy():
    docs = documents(config(**KEDA))
    (svc,) = docs["service.yaml"][:1]
    assert {"name": "grpc", "port": 9465, "targetPort": "grpc", "protocol": "TCP"} in svc["spec"][
        "ports"
    ]
    (container,) = docs["deployment.yaml"][0]["spec"]["template"]["spec"]["containers"]
    assert {"name": "grpc", "containerPort": 9465, "protocol": "TCP"} in container["ports"]
    ingress = docs["networkpolicy.yaml"][0]["spec"]["ingress"]
    (scaler,) = [rule for rule in ingress if rule["ports"] == [{"protocol": "TCP", "port": 9465}]]
    assert scaler["from"] == [  # only KEDA's operator pods reach the scaler
        {
            "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "keda"}},
            "podSelector": {"matchLabels": {"app": "keda-operator"}},
        }
    ]
    for off in (config(), config(**KEDA, EXPORTER_LISTEN__GRPC="null")):  # engine hpa; null
        assert all(p["name"] != "grpc" for p in documents(off)["service.yaml"][0]["spec"]["ports"])
        rules = documents(off)["networkpolicy.yaml"][0]["spec"]["ingress"]
        assert all(r["ports"] != [{"protocol": "TCP", "port": 9465}] for r in rules)


@pytest.mark.parametrize(
    ("env", "groups"),
    [
        ({}, ["external.metrics.k8s.io", "custom.metrics.k8s.io"]),
        ({"EXPORTER_METRICS_API__REGISTER": "[custom]"}, ["custom.metrics.k8s.io"]),
        ({"EXPORTER_METRICS_API__REGISTER": "[]"}, []),
        ({"EXPORTER_METRICS_API__ENABLED": "false"}, []),
    ],
)
def test_apiservices_only_for_registered_groups(env, groups):
    docs = documents(config(**env))
    found = [obj["spec"]["group"] for obj in docs.get("apiservice.yaml", [])]
    assert found == groups
    assert ("apiservice.yaml" in render(config(**env))) == bool(groups)


def test_register_rejects_unknown_groups():
    with pytest.raises(Exception, match=r"metrics_api\.register"):
        config(EXPORTER_METRICS_API__REGISTER="[external, metrics]")


def _cli(*args: str, **env: str) -> subprocess.CompletedProcess:
    import os

    return subprocess.run(
        [sys.executable, "-m", "exporter", *args],
        capture_output=True, text=True, cwd=REPO, env={**os.environ, **env},
    )  # fmt: skip


@pytest.mark.parametrize("command", [("check-config",), ("generate", "manifests")])
def test_keda_with_external_registered_warns_in_one_line(command, tmp_path):
    args = [*command, *(["--out", str(tmp_path)] if "generate" in command else [])]
    both = _cli(*args, **KEDA)
    assert both.returncode == 0
    warnings = [line for line in both.stderr.splitlines() if "warning" in line]
    assert len(warnings) == 1
    assert "v1beta1.external.metrics.k8s.io" in warnings[0] and "KEDA" in warnings[0]
    for env in (
        {**KEDA, "EXPORTER_METRICS_API__REGISTER": "[custom]"},
        {"EXPORTER_AUTOSCALING__ENGINE": "hpa"},
        {**KEDA, "EXPORTER_METRICS_API__ENABLED": "false"},
    ):
        quiet = _cli(*args, **env)
        assert quiet.returncode == 0 and "warning" not in quiet.stderr, env


def test_min_replicas_zero_needs_keda(tmp_path):
    env = {"EXPORTER_COMPONENT_CLASSES__1__MIN_REPLICAS": "0"}
    bad = _cli("check-config", **env)
    assert bad.returncode == 2
    assert "component_classes[1].min_replicas" in bad.stderr
    assert len(bad.stderr.strip().splitlines()) == 1
    ok = config(**env, **KEDA)
    (obj,) = documents(ok)["scaledobject-gpu.yaml"]
    assert obj["spec"]["minReplicaCount"] == 0


def test_ownership_alerts_select_only_registered_groups():
    from exporter.generators.alerts.apiservices import apiservice_alerts

    names = [a.name for a in apiservice_alerts(config())]
    assert names == ["MetricsApiServiceNotOurs", "MetricsApiServiceUnavailable"]
    (not_ours, _) = apiservice_alerts(config(EXPORTER_METRICS_API__REGISTER="[custom]"))
    assert "custom\\\\.metrics" in not_ours.expr and "external" not in not_ours.expr
    assert apiservice_alerts(config(EXPORTER_METRICS_API__REGISTER="[]")) == []
    assert apiservice_alerts(config(EXPORTER_METRICS_API__ENABLED="false")) == []
