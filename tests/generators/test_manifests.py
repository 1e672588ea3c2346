"""k8s/: every object validates, nothing drifts, names agree across objects, HPAs per class."""

from __future__ import annotations

import base64
import shutil
import subprocess
import sys
from pathlib import Path

import jsonschema
import kubernetes_validate
import pytest
import yaml

from exporter.config import Config, ConfigError, load_config
from exporter.generators import alerts, k8s
from exporter.generators.k8s import monitoring, names, network, pod_config, workloads
from exporter.generators.k8s.autoscalers import horizontal_pod_autoscaler
from exporter.metrics_api.quantity import format_exact_quantity
from tests.support.crd_schemas import SCHEMAS
from tests.support.fake_kube import self_signed

REPO = Path(__file__).resolve().parents[2]
K8S = REPO / "k8s"
# The newest Kubernetes kubernetes-validate ships schemas for; asserted below so a stale
# validator cannot make this silently check against an old release.
K8S_VERSION = kubernetes_validate.utils.latest_version()


def load_dir(path: Path) -> dict[str, list[dict]]:
    return {p.name: list(yaml.safe_load_all(p.read_text())) for p in sorted(path.glob("*.yaml"))}


def by_kind(docs: dict[str, list[dict]]) -> dict[tuple[str, str], dict]:
    out = {}
    for objs in docs.values():
        for obj in objs:
            out[(obj["kind"], obj.get("metadata", {}).get("name", ""))] = obj
    return out


def validate(obj: dict) -> None:
    """kubernetes-validate (strict: unknown fields fail) for core kinds, our CRD schemas else."""
    schema = SCHEMAS.get((obj["apiVersion"], obj["kind"]))
    if schema is not None:
        jsonschema.Draft202012Validator(schema).validate(obj)
    else:
        kubernetes_validate.validate(obj, K8S_VERSION, strict=True)


def config_from(text: str) -> Config:
    return Config.model_validate(yaml.safe_load(text))


@pytest.fixture(scope="module")
def committed() -> dict[str, list[dict]]:
    return load_dir(K8S)


@pytest.fixture(scope="module")
def objects(committed) -> dict[tuple[str, str], dict]:
    return by_kind(committed)


def test_validator_is_current():
    major, minor = (int(x) for x in K8S_VERSION.split(".")[:2])
    assert (major, minor) >= (1, 33)


def test_every_committed_manifest_validates(committed):
    kinds = set()
    for name, objs in committed.items():
        assert objs, f"{name} is empty"
        for obj in objs:
            validate(obj)
            kinds.add(obj["kind"])
    assert kinds >= {
        "ServiceAccount", "ClusterRole", "ClusterRoleBinding", "RoleBinding", "ConfigMap",
        "Deployment", "Service", "APIService", "PodDisruptionBudget", "NetworkPolicy",
        "DaemonSet", "HorizontalPodAutoscaler", "ServiceMonitor", "PrometheusRule",
        "Kustomization", "PodMonitor",
    }  # fmt: skip


def test_validation_catches_mistakes(objects):
    """The checks above can fail: a typo'd field, a bad enum, a missing CRD field."""
    dep = yaml.safe_load(yaml.safe_dump(objects[("Deployment", "exporter")]))
    dep["spec"]["template"]["spec"]["containers"][0]["readOnlyRootFileSystem"] = True
    with pytest.raises(kubernetes_validate.ValidationError):
        validate(dep)
    hpa = yaml.safe_load(yaml.safe_dump(objects[("HorizontalPodAutoscaler", "component-cpu")]))
    hpa["spec"]["maxReplicas"] = "ten"
    with pytest.raises(kubernetes_validate.ValidationError):
        validate(hpa)
    sm = yaml.safe_load(yaml.safe_dump(objects[("ServiceMonitor", "exporter")]))
    sm["spec"]["endpoints"][0]["intervall"] = "30s"
    with pytest.raises(jsonschema.ValidationError):
        validate(sm)
    rule = yaml.safe_load(yaml.safe_dump(objects[("PrometheusRule", "exporter")]))
    rule["spec"]["groups"] = [{"name": "g", "rules": [{"alert": "A", "record": "b", "expr": "1"}]}]
    with pytest.raises(jsonschema.ValidationError):
        validate(rule)


def test_committed_k8s_matches_the_generator(tmp_path):
    written = k8s.generate(load_config(None, environ={}), tmp_path)
    assert sorted(Path(p).name for p in written) == sorted(p.name for p in K8S.glob("*.y*ml"))
    for path in written:
        committed = (K8S / Path(path).name).read_text()
        assert Path(path).read_text() == committed, (
            f"k8s/{Path(path).name} drifted from the generator: run `make manifests`"
        )


def test_kustomization_lists_every_file(committed):
    (kust,) = committed["kustomization.yaml"]
    assert sorted(kust["resources"]) == sorted(n for n in committed if n != "kustomization.yaml")
    assert "namespace" not in kust  # it would move the kube-system RoleBinding


def test_cli_writes_the_same_files(tmp_path):
    out = subprocess.run(
        [sys.executable, "-m", "exporter", "generate", "manifests", "--out", str(tmp_path)],
        cwd=REPO, capture_output=True, text=True, check=True, env={"PATH": "/usr/bin:/bin"},
    )  # fmt: skip
    assert sorted(Path(line).name for line in out.stdout.split()) == sorted(
        p.name for p in K8S.glob("*.y*ml")
    )
    assert (tmp_path / "deployment.yaml").read_text() == (K8S / "deployment.yaml").read_text()


# --- HPAs ------------------------------------------------------------------------------------
DEFAULT_BEHAVIOR = {
    "scaleUp": {
        "stabilizationWindowSeconds": 0,
        "selectPolicy": "Max",
        "policies": [
            {"type": "Percent", "value": 100, "periodSeconds": 30},
            {"type": "Pods", "value": 4, "periodSeconds": 30},
        ],
    },
    "scaleDown": {
        "stabilizationWindowSeconds": 300,
        "selectPolicy": "Max",
        "policies": [{"type": "Percent", "value": 50, "periodSeconds": 60}],
    },
}


def _external(metric: str, cls: str, value: str) -> dict:
    return {
        "type": "External",
        "external": {
            "metric": {"name": metric, "selector": {"matchLabels": {"component_class": cls}}},
            "target": {"type": "AverageValue", "averageValue": value},
        },
    }


def _utilization(resource: str, pct: int) -> dict:
    return {
        "type": "Resource",
        "resource": {
            "name": resource,
            "target": {"type": "Utilization", "averageUtilization": pct},
        },
    }


@pytest.mark.parametrize(
    ("cls", "workload", "min_r", "max_r", "metrics"),
    [
        ("cpu", "component-cpu", 1, 10, [_external("queue_depth", "cpu", "10"), _utilization("cpu", 70)]),
        ("gpu", "component-gpu", 1, 8, [_external("queue_depth", "gpu", "2")]),
        ("memory", "component-memory", 1, 6, [_external("queue_depth", "memory", "5"), _utilization("memory", 80)]),
    ],
)  # fmt: skip
def test_one_hpa_per_class(committed, cls, workload, min_r, max_r, metrics):
    (hpa,) = committed[f"hpa-{cls}.yaml"]
    assert hpa["apiVersion"] == "autoscaling/v2"
    assert hpa["metadata"]["namespace"] == "platform"
    assert hpa["metadata"]["labels"]["component_class"] == cls
    spec = hpa["spec"]
    assert spec["scaleTargetRef"] == {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "name": workload,
    }
    assert (spec["minReplicas"], spec["maxReplicas"]) == (min_r, max_r)
    assert spec["metrics"] == metrics
    assert spec["behavior"] == DEFAULT_BEHAVIOR


def test_hpa_from_custom_class_config():
    config = config_from(
        """
namespace: shop
redis: [{name: main, url: "redis://r:6379/0"}]
metrics_api:
  external:
    - {name: queue_depth, source: snapshot}
    - {name: inflight, source: promql, query: "sum(x)"}
component_classes:
  - name: engine
    workload: {kind: StatefulSet, name: engine}
    min_replicas: 2
    max_replicas: 30
    scale_on:
      - {metric: queue_depth, target_average_value: 0.5}
      - {metric: inflight, target_average_value: 1.25}
    behavior:
      scale_up: {stabilization_window_seconds: 15, percent: null, pods: 2, period_seconds: 60, select_policy: Min}
      scale_down: {select_policy: Disabled}
  - name: ui
    workload: {name: ui}
"""
    )
    docs = k8s.documents(config)
    (engine,) = docs["hpa-engine.yaml"]
    spec = engine["spec"]
    assert spec["scaleTargetRef"]["kind"] == "StatefulSet"
    assert (spec["minReplicas"], spec["maxReplicas"]) == (2, 30)
    assert spec["metrics"] == [
        _external("queue_depth", "engine", "500m"),
        _external("inflight", "engine", "1250m"),
    ]
    assert spec["behavior"] == {
        "scaleUp": {
            "stabilizationWindowSeconds": 15,
            "selectPolicy": "Min",
            "policies": [{"type": "Pods", "value": 2, "periodSeconds": 60}],
        },
        "scaleDown": {**DEFAULT_BEHAVIOR["scaleDown"], "selectPolicy": "Disabled"},
    }
    (ui,) = docs["hpa-ui.yaml"]
    assert "metrics" not in ui["spec"]  # the controller's default: 80 % CPU
    for objs in docs.values():
        for obj in objs:
            validate(obj)


def test_behavior_needs_a_policy():
    with pytest.raises(ValueError, match="percent and/or pods"):
        config_from(
            "component_classes: [{name: a, workload: {name: a}, "
            "behavior: {scale_up: {percent: null, pods: null}}}]"
        )


def test_partial_behavior_keeps_the_other_defaults():
    config = config_from(
        "component_classes: [{name: a, workload: {name: a}, "
        "behavior: {scale_down: {stabilization_window_seconds: 600}}}]"
    )
    behavior = horizontal_pod_autoscaler(config, config.component_classes[0])["spec"]["behavior"]
    assert behavior["scaleDown"] == {
        **DEFAULT_BEHAVIOR["scaleDown"],
        "stabilizationWindowSeconds": 600,
    }
    assert behavior["scaleUp"] == DEFAULT_BEHAVIOR["scaleUp"]


@pytest.mark.parametrize(
    ("value", "text"), [(10, "10"), (2.0, "2"), (0.5, "500m"), (1.25, "1250m"), (0.0005, "0.0005")]
)
def test_quantity(value, text):
    assert format_exact_quantity(value) == text


# --- the exporter's own objects --------------------------------------------------------------
def test_deployment_is_locked_down(objects):
    dep = objects[("Deployment", "exporter")]
    assert dep["spec"]["replicas"] == 2
    pod = dep["spec"]["template"]["spec"]
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["runAsUser"] == 1000
    assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    (c,) = pod["containers"]
    assert c["securityContext"] == {
        "allowPrivilegeEscalation": False,
        "readOnlyRootFilesystem": True,
        "capabilities": {"drop": ["ALL"]},
    }
    assert {p["name"]: p["containerPort"] for p in c["ports"]} == {
        "http": 9464,
        "https": 6443,
    }  # no grpc: the embedded default's engine is hpa (tests/generators/test_keda_manifests.py)
    assert c["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "http"}
    assert c["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "http"}
    assert set(c["resources"]) == {"requests", "limits"}
    mounts = {m["mountPath"]: m["name"] for m in c["volumeMounts"]}
    volumes = {v["name"]: v for v in pod["volumes"]}
    assert "emptyDir" in volumes[mounts["/tmp"]]
    assert volumes[mounts[names.TLS_DIR]]["secret"]["secretName"] == "exporter-serving-cert"
    cm_name = volumes[mounts[names.CONFIG_DIR]]["configMap"]["name"]
    assert ("ConfigMap", cm_name) in objects
    assert c["args"][-1] == f"{names.CONFIG_DIR}/{names.CONFIG_KEY}"


def test_names_agree_across_objects(objects):
    """Every reference points at an object the generator wrote (no name typed twice)."""
    dep = objects[("Deployment", "exporter")]
    pod = dep["spec"]["template"]
    sa = pod["spec"]["serviceAccountName"]
    assert ("ServiceAccount", sa) in objects
    svc = objects[("Service", "exporter")]
    pod_labels = pod["metadata"]["labels"]
    assert svc["spec"]["selector"].items() <= pod_labels.items()
    assert dep["spec"]["selector"]["matchLabels"].items() <= pod_labels.items()
    assert objects[("PodDisruptionBudget", "exporter")]["spec"]["selector"]["matchLabels"].items() <= pod_labels.items()  # fmt: skip
    assert {(p["name"], p["port"], p["targetPort"]) for p in svc["spec"]["ports"]} == {
        ("http", 9464, "http"),
        ("https", 443, "https"),
    }  # no KEDA scaler port under engine hpa
    for api in ("v1beta1.external.metrics.k8s.io", "v1beta2.custom.metrics.k8s.io"):
        spec = objects[("APIService", api)]["spec"]
        assert spec["service"] == {"name": "exporter", "namespace": "platform", "port": 443}
        assert api == f"{spec['version']}.{spec['group']}"
        inject = objects[("APIService", api)]["metadata"]["annotations"][
            "cert-manager.io/inject-ca-from"
        ]
        ns, cert = inject.split("/")
        assert ns == "platform" and ("Certificate", cert) in objects
        assert objects[("Certificate", cert)]["spec"]["secretName"] == "exporter-serving-cert"
        assert "exporter.platform.svc" in objects[("Certificate", cert)]["spec"]["dnsNames"]
    for kind, name in objects:
        if kind in ("ClusterRoleBinding", "RoleBinding"):
            binding = objects[(kind, name)]
            ref = binding["roleRef"]
            if not ref["name"].startswith(("system:", "extension-apiserver")):
                assert (ref["kind"], ref["name"]) in objects
    for monitor, service in (("exporter", "exporter"), ("exporter-gpu", "exporter-gpu")):
        sm = objects[("ServiceMonitor", monitor)]
        selected = [
            o for (k, _), o in objects.items()
            if k == "Service" and sm["spec"]["selector"]["matchLabels"].items() <= o["metadata"]["labels"].items()
        ]  # fmt: skip
        assert [s["metadata"]["name"] for s in selected] == [service]
        assert any(p["name"] == "http" for p in selected[0]["spec"]["ports"])


def test_rbac(objects):
    sa = {"kind": "ServiceAccount", "name": "exporter", "namespace": "platform"}
    delegator = objects[("ClusterRoleBinding", "exporter:system:auth-delegator")]
    assert delegator["roleRef"]["name"] == "system:auth-delegator"
    assert delegator["subjects"] == [sa]
    reader = objects[("RoleBinding", "exporter-auth-reader")]
    assert reader["metadata"]["namespace"] == "kube-system"
    assert reader["roleRef"] == {
        "apiGroup": "rbac.authorization.k8s.io",
        "kind": "Role",
        "name": "extension-apiserver-authentication-reader",
    }
    assert reader["subjects"] == [sa]
    rules = objects[("ClusterRole", "exporter-reader")]["rules"]
    assert {(r["apiGroups"][0], r["resources"][0]) for r in rules} == {
        ("", "pods"),
        ("autoscaling", "horizontalpodautoscalers"),
        ("apiregistration.k8s.io", "apiservices"),
    }
    assert objects[("ClusterRoleBinding", "exporter-reader")]["subjects"] == [sa]
    (metrics_rule,) = objects[("ClusterRole", "exporter-metrics-reader")]["rules"]
    assert set(metrics_rule["apiGroups"]) == {"external.metrics.k8s.io", "custom.metrics.k8s.io"}
    hpa_binding = objects[("ClusterRoleBinding", "exporter-hpa-metrics-reader")]
    assert hpa_binding["subjects"] == [
        {"kind": "ServiceAccount", "name": "horizontal-pod-autoscaler", "namespace": "kube-system"}
    ]


def test_network_policy(objects):
    spec = objects[("NetworkPolicy", "exporter")]["spec"]
    # no KEDA scaler rule under engine hpa (tests/generators/test_keda_manifests.py has it)
    monitoring, api_server = spec["ingress"]
    assert monitoring["ports"] == [{"protocol": "TCP", "port": 9464}]
    assert monitoring["from"] == [
        {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "monitoring"}}}
    ]
    assert api_server == {"ports": [{"protocol": "TCP", "port": 6443}]}


def test_network_policy_keda_operator_is_configurable():
    config = config_from(
        "listen: {grpc: '0.0.0.0:9465'}\n"
        "autoscaling: {keda: {operator_namespace: autoscalers,"
        " operator_pod_labels: {app.kubernetes.io/name: keda-operator}}}"
    )
    policy = network.network_policy(config)
    kubernetes_validate.validate(policy, K8S_VERSION, strict=True)
    (peer,) = policy["spec"]["ingress"][2]["from"]
    assert peer == {
        "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "autoscalers"}},
        "podSelector": {"matchLabels": {"app.kubernetes.io/name": "keda-operator"}},
    }


def test_network_policy_api_server_cidrs():
    config = config_from("deployment: {api_server_cidrs: ['10.0.0.0/24']}")
    spec = network.network_policy(config)["spec"]
    assert spec["ingress"][1]["from"] == [{"ipBlock": {"cidr": "10.0.0.0/24"}}]
    with pytest.raises(ValueError, match="not a CIDR"):
        config_from("deployment: {api_server_cidrs: ['10.0.0.300/24']}")


def test_network_policy_https_allowed_cidrs():
    """listen.https_allowed_cidrs narrows :6443 to those sources (merged with
    deployment.api_server_cidrs); the monitoring and KEDA rules are left as they are."""
    default = network.network_policy(config_from("{}"))
    config = config_from(
        "listen: {https_allowed_cidrs: ['172.20.0.10/32', '10.0.0.0/24']}\n"
        "deployment: {api_server_cidrs: ['10.0.0.0/24']}"
    )
    policy = network.network_policy(config)
    kubernetes_validate.validate(policy, K8S_VERSION, strict=True)
    monitoring_rule, api_server, *rest = policy["spec"]["ingress"]
    assert api_server == {
        "ports": [{"protocol": "TCP", "port": 6443}],
        "from": [{"ipBlock": {"cidr": "10.0.0.0/24"}}, {"ipBlock": {"cidr": "172.20.0.10/32"}}],
    }
    assert [monitoring_rule, *rest] == [
        default["spec"]["ingress"][0],
        *default["spec"]["ingress"][2:],
    ]
    with pytest.raises(ValueError, match="https_allowed_cidrs"):
        config_from("listen: {https_allowed_cidrs: ['not-a-network']}")


def test_gpu_daemon_set(objects):
    ds = objects[("DaemonSet", "exporter-gpu")]
    pod = ds["spec"]["template"]["spec"]
    (c,) = pod["containers"]
    env = {e["name"]: e for e in c["env"]}
    assert env["NODE_NAME"]["valueFrom"] == {"fieldRef": {"fieldPath": "spec.nodeName"}}
    assert pod["nodeSelector"] == {"nvidia.com/gpu.present": "true"}
    assert pod["tolerations"] == [
        {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}
    ]
    assert c["securityContext"]["readOnlyRootFilesystem"] is True
    cm_name = next(v for v in pod["volumes"] if v["name"] == "config")["configMap"]["name"]
    gpu_config = Config.model_validate(
        yaml.safe_load(objects[("ConfigMap", cm_name)]["data"]["config.yaml"])
    )
    assert gpu_config.gpu == "on"
    assert not gpu_config.postgres and not gpu_config.redis and not gpu_config.component_classes
    assert gpu_config.metrics_api.enabled is False
    # Pod attribution: in-cluster Kubernetes access (pod labels), the kubelet's socket and the
    # host's /proc mounted read-only where the agent's config looks for them.
    assert gpu_config.kubernetes.enabled == "auto" and not gpu_config.kubernetes.kubeconfig
    attribution = gpu_config.gpu_attribution
    mounts = {m["mountPath"]: m for m in c["volumeMounts"]}
    sources = {v["name"]: v.get("hostPath") for v in pod["volumes"]}
    socket_dir = str(Path(attribution.pod_resources_socket).parent)
    assert mounts[socket_dir]["readOnly"] is True
    assert sources[mounts[socket_dir]["name"]] == {"path": socket_dir, "type": "Directory"}
    assert mounts[attribution.proc_root]["readOnly"] is True
    assert sources[mounts[attribution.proc_root]["name"]] == {"path": "/proc", "type": "Directory"}
    assert all(m.get("readOnly") for m in c["volumeMounts"] if sources.get(m["name"]))
    assert c["securityContext"]["capabilities"] == {"drop": ["ALL"]}
    assert c["securityContext"]["allowPrivilegeEscalation"] is False
    # Its own service account, token mounted, allowed to read pods and nothing else.
    assert pod["serviceAccountName"] == "exporter-gpu" and pod["automountServiceAccountToken"]
    assert ("ServiceAccount", "exporter-gpu") in objects
    binding = objects[("ClusterRoleBinding", "exporter-gpu-pod-reader")]
    assert binding["subjects"] == [
        {"kind": "ServiceAccount", "name": "exporter-gpu", "namespace": "platform"}
    ]
    role = objects[("ClusterRole", binding["roleRef"]["name"])]
    assert role["rules"] == [{"apiGroups": [""], "resources": ["pods"], "verbs": ["get", "list"]}]
    # Its scrape keeps the GPU holder's namespace/pod/container, never the agent pod's.
    (endpoint,) = objects[("ServiceMonitor", "exporter-gpu")]["spec"]["endpoints"]
    assert endpoint["honorLabels"] is True
    assert endpoint["relabelings"] == [{"action": "labeldrop", "regex": "namespace|pod|container"}]


def test_gpu_agent_without_attribution_never_calls_the_api_server():
    docs = k8s.documents(config_from("gpu_attribution: {enabled: false}"))
    (ds,) = docs["daemonset-gpu.yaml"]
    pod = ds["spec"]["template"]["spec"]
    assert pod["automountServiceAccountToken"] is False
    assert {v["name"] for v in pod["volumes"]} == {"config", "tmp"}
    assert pod["containers"][0]["securityContext"].get("runAsUser") is None  # pod's: non-root
    agent = yaml.safe_load(docs["configmap.yaml"][1]["data"]["config.yaml"])
    assert agent["kubernetes"] == {"enabled": "off"}


def test_no_gpu_agent_when_gpu_off():
    docs = k8s.documents(config_from("gpu: 'off'"))
    assert "daemonset-gpu.yaml" not in docs
    assert [s["metadata"]["name"] for s in docs["service.yaml"]] == ["exporter"]
    assert len(docs["configmap.yaml"]) == 1


def test_config_map_holds_a_loadable_cluster_config(objects):
    source = load_config(None, environ={})
    text = objects[("ConfigMap", "exporter-config")]["data"]["config.yaml"]
    cluster = Config.model_validate(yaml.safe_load(text))
    assert cluster.component_classes == source.component_classes
    assert cluster.redis == source.redis
    assert cluster.metrics_api.tls.cert_file == f"{names.TLS_DIR}/tls.crt"
    assert cluster.metrics_api.authentication.from_cluster is True
    assert "deployment" not in yaml.safe_load(text)
    # A config change changes the pod template, so the pods roll.
    checksum = objects[("Deployment", "exporter")]["spec"]["template"]["metadata"]["annotations"]
    assert checksum["checksum/config"] == workloads._checksum(
        objects[("ConfigMap", "exporter-config")]
    )


def test_renamed_deployment_renames_everything():
    config = config_from("namespace: shop\ndeployment: {name: obs, serving_cert_secret: obs-tls}")
    objs = by_kind(k8s.documents(config))
    assert ("Deployment", "obs") in objs and ("ServiceAccount", "obs") in objs
    assert (
        objs[("APIService", "v1beta1.external.metrics.k8s.io")]["spec"]["service"]["name"] == "obs"
    )
    assert objs[("RoleBinding", "obs-auth-reader")]["subjects"][0] == {
        "kind": "ServiceAccount", "name": "obs", "namespace": "shop",
    }  # fmt: skip
    assert not any(name.startswith("exporter") for _, name in objs)
    for (kind, _), obj in objs.items():
        if kind not in ("ClusterRole", "ClusterRoleBinding", "APIService", "RoleBinding"):
            assert obj["metadata"]["namespace"] == "shop"


def test_ca_bundle_from_file(tmp_path):
    pem, _ = self_signed("exporter-ca")
    ca = tmp_path / "ca.crt"
    ca.write_bytes(pem)
    config = config_from(f"deployment: {{ca_bundle_file: {ca}}}")
    docs = k8s.documents(config)
    assert "certificate.yaml" not in docs
    for api in docs["apiservice.yaml"]:
        assert base64.b64decode(api["spec"]["caBundle"]) == pem
        assert "annotations" not in api["metadata"]
        validate(api)
    bad = tmp_path / "bad.crt"
    bad.write_text("not a certificate")
    with pytest.raises(ValueError, match="no PEM X.509 certificate"):
        config_from(f"deployment: {{ca_bundle_file: {bad}}}")


def test_bad_deployment_settings_are_clear_errors(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("deployment: {resources: {requests: {cpu: lots, memory: 1Gi}}}")
    with pytest.raises(ConfigError, match=r"deployment\.resources\.requests\.cpu"):
        load_config(path, environ={})
    path.write_text("deployment: {replicas: 0}")
    with pytest.raises(ConfigError, match=r"deployment\.replicas"):
        load_config(path, environ={})


def test_inline_secrets_never_reach_the_config_map(tmp_path):
    config = config_from("postgres: [{name: main, dsn: 'postgresql://u:hunter2@db:5432/app'}]")
    with pytest.raises(k8s.ManifestError, match=r"postgres\[0\]") as err:
        k8s.documents(config)
    assert "hunter2" not in str(err.value)
    env_config = Config.model_validate(
        yaml.safe_load("redis: [{name: main, url: 'redis://r:6379', password_env: RPW}]"),
        context={"environ": {"RPW": "x"}},
    )
    with pytest.raises(k8s.ManifestError, match=r"redis\[0\]\.password_env"):
        k8s.documents(env_config)
    secret = tmp_path / "pg" / "password"
    secret.parent.mkdir()
    secret.write_text("hunter2")
    text = f"postgres: [{{name: main, dsn: 'postgresql://u@db/app', password_file: {secret}}}]"
    with pytest.raises(k8s.ManifestError, match="under no deployment.secrets"):
        k8s.documents(config_from(text))
    ok = config_from(
        text + f"\ndeployment: {{secrets: [{{secret: pg-auth, mount_path: {secret.parent}}}]}}"
    )
    rendered = k8s.render(ok)
    assert "hunter2" not in "".join(rendered.values())
    dep = yaml.safe_load(rendered["deployment.yaml"].split("---\n")[-1])
    pod = dep["spec"]["template"]["spec"]
    assert {"name": "secret-pg-auth", "secret": {"secretName": "pg-auth"}} in pod["volumes"]
    assert any(m["mountPath"] == str(secret.parent) for m in pod["containers"][0]["volumeMounts"])


def test_stale_generated_files_are_removed(tmp_path):
    k8s.generate(load_config(None, environ={}), tmp_path)
    (tmp_path / "mine.yaml").write_text("kind: Mine\n")
    fewer = config_from("component_classes: [{name: cpu, workload: {name: component-cpu}}]")
    k8s.generate(fewer, tmp_path)
    assert not (tmp_path / "hpa-memory.yaml").exists()
    assert (tmp_path / "hpa-cpu.yaml").exists()
    assert (tmp_path / "mine.yaml").read_text() == "kind: Mine\n"


def test_prometheus_rule_embeds_the_alert_groups():
    config = load_config(None, environ={})
    rule = monitoring.prometheus_rule(config)
    groups = rule["spec"]["groups"]
    assert groups == alerts.rule_groups(config)
    assert {g["name"] for g in groups} >= {"exporter.recording", "exporter.http"}
    validate(rule)


def test_operator_labels_reach_service_monitor_and_rule():
    config = config_from("deployment: {prometheus_operator_labels: {release: kube-prometheus}}")
    for obj in (monitoring.service_monitor(config), monitoring.prometheus_rule(config)):
        assert obj["metadata"]["labels"]["release"] == "kube-prometheus"


@pytest.mark.skipif(
    shutil.which("kubectl") is None, reason="kubectl (its built-in kustomize) is not installed"
)
def test_kustomize_builds_every_object(objects):
    out = subprocess.run(
        ["kubectl", "kustomize", str(K8S)], capture_output=True, text=True, check=True
    ).stdout
    built = {(o["kind"], o["metadata"]["name"]) for o in yaml.safe_load_all(out)}
    assert built == {key for key in objects if key[0] != "Kustomization"}
    # kustomize must not have moved anything: the kube-system RoleBinding stays there.
    for o in yaml.safe_load_all(out):
        if o["kind"] == "RoleBinding":
            assert o["metadata"]["namespace"] == "kube-system"


def test_cluster_config_replaces_local_paths(tmp_path):
    ca = tmp_path / "front-proxy-ca.crt"
    ca.write_bytes(self_signed("front-proxy-ca")[0])
    config = config_from(
        f"""
kubernetes: {{kubeconfig: {tmp_path / "kubeconfig"}}}
metrics_api:
  tls: {{cert_file: {tmp_path / "tls.crt"}, key_file: {tmp_path / "tls.key"}}}
  authentication: {{requestheader_client_ca_file: {ca}}}
"""
    )
    data = pod_config.cluster_config(config)
    assert str(tmp_path) not in yaml.safe_dump(data)
    assert data["metrics_api"]["authentication"] == {"from_cluster": True}
    assert "kubernetes" not in data
    Config.model_validate(data)
