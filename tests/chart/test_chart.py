"""The Helm chart renders, with real Helm, the objects `exporter generate manifests` writes
for the same config, object by object; each validates (kubernetes-validate strict 1.33, the
CRD schemas); bad values fail the render naming the field."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import jsonschema
import kubernetes_validate
import pytest
import yaml

from exporter.config import Config, ConfigError, load_config
from exporter.generators import k8s
from tests.chart.helm import (
    CHART,
    config_maps,
    helm,
    key,
    normalized,
    template,
    values_file,
)
from tests.support.crd_schemas import SCHEMAS
from tests.support.fake_kube import self_signed

K8S_VERSION = "1.33"


def validate(obj: dict[str, Any]) -> None:
    """kubernetes-validate (strict: unknown fields fail) for core kinds, the CRD schemas else."""
    schema = SCHEMAS.get((obj["apiVersion"], obj["kind"]))
    if schema is not None:
        jsonschema.Draft202012Validator(schema).validate(obj)
    else:
        kubernetes_validate.validate(obj, K8S_VERSION, strict=True)


def _keda() -> dict[str, Any]:
    """KEDA engine; class `batch` scales to zero (min_replicas 0), another keeps one pod."""
    return {
        "namespace": "jobs",
        "listen": {"grpc": "0.0.0.0:9465"},
        "redis": [{"name": "main", "url": "redis://redis.jobs.svc:6379/0"}],
        "gpu": "off",
        "autoscaling": {"engine": "keda", "keda": {"polling_interval_seconds": 15}},
        "metrics_api": {
            "register": ["custom"],
            "external": [{"name": "queue_depth", "source": "snapshot"}],
        },
        "component_classes": [
            {
                "name": "batch",
                "workload": {"kind": "Deployment", "name": "batch-worker"},
                "min_replicas": 0,
                "max_replicas": 20,
                "scale_to_zero": True,
                "queues": [{"name": "jobs", "kind": "redis_list", "target": "main", "key": "q"}],
                "scale_on": [
                    {
                        "metric": "queue_depth",
                        "target_average_value": 0.5,
                        "activation_threshold": 1,
                    },
                ],  # fmt: skip
            },
            {
                "name": "api",
                "workload": {"kind": "StatefulSet", "name": "api"},
                "scale_on": [{"metric": "queue_depth", "target_average_value": 25}],
                "cpu_utilization": 60,
            },
        ],
    }


def _production(tmp: Path) -> dict[str, Any]:
    """Production: a front-proxy CA (local path, dropped for the cluster's), cert-manager,
    a password from a mounted Secret, API-server CIDRs, operator labels, three replicas."""
    ca = tmp / "front-proxy-ca.crt"
    ca.write_bytes(self_signed("front-proxy-ca")[0])
    secrets = tmp / "secrets"
    secrets.mkdir()
    (secrets / "pg-password").write_text("s3cret\n")
    return {
        "environment": "production",
        "namespace": "observability",
        "listen": {"http": "0.0.0.0:9400", "https": "0.0.0.0:8443"},
        "postgres": [
            {
                "name": "orders",
                "dsn": "postgresql://exporter@pg.db.svc:5432/orders",
                "password_file": str(secrets / "pg-password"),
            },
        ],  # fmt: skip
        "gpu": "off",
        "metrics_api": {
            "authentication": {
                "requestheader_client_ca_file": str(ca),
                "requestheader_allowed_names": ["front-proxy-client"],
            }
        },
        "alerting": {"grafana_url": "https://grafana.example.com", "exporter_job": "platform"},
        "deployment": {
            "name": "platform-exporter",
            "image": "registry.example.com/exporter:1.2.3",
            "replicas": 3,
            "resources": {
                "requests": {"cpu": "200m", "memory": "256Mi"},
                "limits": {"cpu": "2", "memory": "512Mi"},
            },
            "serving_cert_secret": "platform-exporter-tls",
            "monitoring_namespace": "prometheus",
            "api_server_cidrs": ["10.0.0.0/24", "10.0.1.0/24"],
            "prometheus_operator_labels": {"release": "kube-prometheus-stack"},
            "scrape_interval": "15s",
            "secrets": [{"secret": "pg-auth", "mount_path": str(secrets)}],
        },
    }


def _pods_signal() -> dict[str, Any]:
    """A class scaling on a Pods (custom.metrics) PromQL signal, with a partial behavior."""
    return {
        "namespace": "web",
        "gpu": "off",
        "metrics_api": {
            "external": [],
            "custom": [
                {
                    "name": "sse_streams_in_flight",
                    "source": "promql",
                    "query": 'sum by (pod) (sse_streams_in_flight{namespace="{namespace}"})',
                },
            ],  # fmt: skip
        },
        "component_classes": [
            {
                "name": "stream",
                "workload": {"kind": "Deployment", "name": "stream-api"},
                "metrics": {"port": "metrics", "path": "/prom", "pod_labels": {"app": "stream"}},
                "min_replicas": 2,
                "max_replicas": 30,
                "scale_on": [
                    {
                        "metric": "sse_streams_in_flight",
                        "type": "pods",
                        "target_average_value": 150,
                    },
                ],  # fmt: skip
                "memory_utilization": 75,
                "behavior": {"scale_down": {"stabilization_window_seconds": 600}},
            }
        ],
    }


def _gpu_attribution() -> dict[str, Any]:
    """The GPU agent DaemonSet with attribution on, its own tolerations and runtime class."""
    return {
        "namespace": "gpu-platform",
        "gpu": "on",
        "gpu_attribution": {
            "enabled": True,
            "pod_resources_socket": "/var/lib/kubelet/pod-resources/kubelet.sock",
            "class_label": "platform.example.com/class",
        },
        # one shared interval, health on its own schedule (queues take the shared one)
        "collection": {
            "interval_seconds": 10,
            "health": {"interval_seconds": 30, "timeout_seconds": 10},
        },
        "deployment": {
            "gpu_agent": {
                "node_selector": {"accelerator": "nvidia-h100"},
                "tolerations": [
                    {
                        "key": "nvidia.com/gpu",
                        "operator": "Equal",
                        "value": "present",
                        "effect": "NoSchedule",
                    },
                    {"key": "dedicated"},
                ],  # fmt: skip
                "runtime_class_name": "nvidia",
            }
        },
    }


def _keda_plaintext() -> dict[str, Any]:
    """KEDA without TLS (no TriggerAuthentication), an explicit scaler address and fallback,
    quantities that are not whole numbers, a StatefulSet."""
    data = _keda()
    data["autoscaling"]["keda"] = {
        "plaintext": True,
        "scaler_address": "scaler.example:9465",
        "fallback_replicas": 3,
        "cooldown_period_seconds": 60,
    }
    data["component_classes"][0]["scale_on"] = [
        {"metric": "queue_depth", "target_average_value": 0.0005, "activation_threshold": 1.25},
    ]  # fmt: skip
    data["component_classes"][1]["scale_on"] = [
        {"metric": "queue_depth", "target_average_value": 2000},
    ]  # fmt: skip
    data["component_classes"][1]["memory_utilization"] = 90
    return data


def _api_off() -> dict[str, Any]:
    """No metrics API (no APIServices), no gRPC listener, restricted HTTPS sources."""
    return {
        "namespace": "plain",
        "gpu": "off",
        "listen": {"https_allowed_cidrs": ["192.168.0.0/16"]},
        "metrics_api": {"enabled": False},
        "deployment": {"api_server_cidrs": ["192.168.0.0/16", "10.1.0.0/16"]},
    }


def _thresholds() -> dict[str, Any]:
    """Every alert threshold changed: the chart's PrometheusRule computes them as the
    alert generator does."""
    return {
        "environment": "staging",
        "namespace": "stage",
        "gpu": "off",
        "alerting": {
            "runbook_base_url": "https://runbooks.example.com/exporter",
            "ingress_controller": "nginx",
            "thresholds": {
                "error_rate_ratio": 0.02, "latency_p95_seconds": 0.75, "memory_ratio": 0.85,
                "cpu_ratio": 0.95, "slo_availability": 0.9995, "pg_connections_ratio": 0.7,
                "redis_memory_ratio": 0.8, "queue_oldest_age_seconds": 120,
                "gpu_temperature_celsius": 80.5, "queue_backlog_depth": 500,
                "pod_restarts_per_hour": 5, "pg_slot_retained_wal_bytes": 2147483648,
                "pg_standby_lag_seconds": 30, "metrics_api_error_ratio": 0.01,
                "metrics_api_fallback_for": "15m", "ingress_5xx_ratio": 0.1,
                "ingress_4xx_ratio": 0.3,
            },
        },
    }  # fmt: skip


QUANTITIES = [10, 0.5, 0.0005, 2000, 1.25, 0.001, 0.00001, 0.000025, 2.5e-7, 1e-7, 12.5,
              0.0105, 1234567.125, 0.3, 7e15]  # fmt: skip


def _quantities() -> dict[str, Any]:
    """HPA targets written as exact Quantities (500m, 0.0005, 0.00000025...), one per class."""
    data = _one_class()
    (cls,) = data["component_classes"]
    data["component_classes"] = [
        {**cls, "name": f"c{i}", "workload": {"name": f"c{i}"},
         "scale_on": [{"metric": "queue_depth", "target_average_value": v}]}
        for i, v in enumerate(QUANTITIES)
    ]  # fmt: skip
    return {**data, "gpu": "off"}


def _namespaces() -> dict[str, Any]:
    """Classes in several namespaces under KEDA: ScaledObjects and PodMonitors beside their
    workloads, a TriggerAuthentication per namespace, pod alerts over every namespace."""
    data = _keda()
    data["component_classes"][0]["namespace"] = "batch"
    extra = {**data["component_classes"][1], "name": "web", "namespace": "frontend"}
    data["component_classes"].append(extra)  # same workload name, another namespace
    return data


def _keda_default_grpc() -> dict[str, Any]:
    """KEDA with listen.grpc left out: the scaler runs on its default address."""
    data = _keda()
    del data["listen"]
    return data


CONFIGS = [
    "default", "keda", "production", "pods", "gpu", "keda-plaintext", "api-off", "thresholds",
    "quantities", "namespaces", "keda-default-grpc",
]  # fmt: skip


def config_data(name: str, tmp: Path) -> dict[str, Any] | None:
    """The config as data; None: the embedded default (values.config left at `{}`)."""
    if name == "default":
        return None
    builders = {
        "keda": _keda,
        "pods": _pods_signal,
        "gpu": _gpu_attribution,
        "keda-plaintext": _keda_plaintext,
        "api-off": _api_off,
        "thresholds": _thresholds,
        "quantities": _quantities,
        "namespaces": _namespaces,
        "keda-default-grpc": _keda_default_grpc,
    }
    return _production(tmp) if name == "production" else builders[name]()


def generated(data: dict[str, Any] | None, tmp: Path) -> list[dict[str, Any]]:
    """What `exporter generate manifests` writes for the config (read back from its files)."""
    if data is None:
        config = load_config(None, environ={})
    else:
        path = tmp / "config.yaml"
        path.write_text(yaml.safe_dump(data, sort_keys=False))
        config = load_config(path, environ={})
    out = tmp / "k8s"
    k8s.generate(config, out)
    return [
        doc
        for p in sorted(out.glob("*.yaml"))
        if p.name != "kustomization.yaml"
        for doc in yaml.safe_load_all(p.read_text())
    ]


@pytest.fixture(params=CONFIGS)
def case(request, tmp_path) -> tuple[str, dict[str, Any] | None, Path]:
    return request.param, config_data(request.param, tmp_path), tmp_path


def _namespace(data: dict[str, Any] | None) -> str:
    return (data or {}).get("namespace", "platform")


def test_helm_renders_what_generate_manifests_writes(case):
    name, data, tmp = case
    want = generated(data, tmp)
    got = template(_namespace(data), "-f", str(values_file(tmp, data)))
    want_by, got_by = {key(o): o for o in want}, {key(o): o for o in got}
    assert len(want_by) == len(want) and len(got_by) == len(got), "duplicate objects"
    assert sorted(got_by) == sorted(want_by)
    want_cms, got_cms = config_maps(want), config_maps(got)
    for k, obj in want_by.items():
        assert normalized(got_by[k], True, got_cms) == normalized(obj, False, want_cms), k
    kinds = {k[0] for k in want_by}
    expected = {
        "default": {"HorizontalPodAutoscaler", "DaemonSet", "Certificate", "APIService"},
        "keda": {"ScaledObject", "TriggerAuthentication"},
        "production": {"Certificate", "Issuer", "APIService", "PrometheusRule"},
        "pods": {"HorizontalPodAutoscaler", "PodMonitor"},
        "gpu": {"DaemonSet", "ServiceMonitor"},
        "keda-plaintext": {"ScaledObject"},
        "api-off": {"NetworkPolicy"},
        "thresholds": {"PrometheusRule"},
        "quantities": {"HorizontalPodAutoscaler"},
        "namespaces": {"ScaledObject", "TriggerAuthentication", "PodMonitor"},
        "keda-default-grpc": {"ScaledObject", "TriggerAuthentication"},
    }[name]
    if name == "namespaces":
        spaces = {k[1] for k in want_by if k[0] in ("ScaledObject", "TriggerAuthentication")}
        assert spaces == {"jobs", "batch", "frontend"}
    if name == "keda-plaintext":
        assert "TriggerAuthentication" not in kinds
    if name == "api-off":
        assert "APIService" not in kinds
    assert expected <= kinds, (name, kinds)


def test_every_rendered_object_validates(case):
    _name, data, tmp = case
    objs = template(_namespace(data), "-f", str(values_file(tmp, data)))
    assert objs
    for obj in objs:
        validate(obj)


def test_validation_catches_a_mistake(tmp_path):
    """The check above can fail: a typo'd field in a rendered Deployment and ScaledObject."""
    data = _keda()
    objs = {o["kind"]: o for o in template("jobs", "-f", str(values_file(tmp_path, data)))}
    objs["Deployment"]["spec"]["template"]["spec"]["containers"][0]["imagePullPolcy"] = "x"
    with pytest.raises(kubernetes_validate.ValidationError):
        validate(objs["Deployment"])
    objs["ScaledObject"]["spec"]["minReplicas"] = 0
    with pytest.raises(jsonschema.ValidationError):
        validate(objs["ScaledObject"])


def test_the_comparison_sees_a_difference(tmp_path):
    """The object-by-object comparison can fail: a chart value the generator does not know."""
    got = template("platform", "--set", "replicas=5")
    want = generated(None, tmp_path)
    dep = next(o for o in got if o["kind"] == "Deployment")
    gen = next(o for o in want if o["kind"] == "Deployment")
    assert normalized(dep, True, config_maps(got)) != normalized(gen, False, config_maps(want))


@pytest.mark.parametrize("name", CONFIGS)
def test_helm_lint_passes(name, tmp_path):
    data = config_data(name, tmp_path)
    out = helm("lint", "--strict", str(CHART), "-f", str(values_file(tmp_path, data)))
    assert out.returncode == 0, out.stdout + out.stderr


def _fails(tmp: Path, data: dict[str, Any] | None, **values: Any) -> str:
    out = helm("template", "exporter", str(CHART), "-f", str(values_file(tmp, data, **values)))
    assert out.returncode != 0, out.stdout[:500]
    return out.stderr


def _one_class(**fields: Any) -> dict[str, Any]:
    return {
        "metrics_api": {"external": [{"name": "queue_depth", "source": "snapshot"}]},
        "component_classes": [
            {
                "name": "web",
                "workload": {"name": "web"},
                "scale_on": [{"metric": "queue_depth", "target_average_value": 5}],
                **fields,
            }
        ],
    }


def test_a_string_for_max_replicas_fails_naming_it(tmp_path):
    err = _fails(tmp_path, _one_class(max_replicas="ten"))
    assert "/config/component_classes/0/max_replicas" in err, err


def test_an_unknown_key_under_config_fails_naming_it(tmp_path):
    err = _fails(tmp_path, {"namespace": "x", "colection": {"interval_seconds": 5}})
    assert "colection" in err and "/config" in err, err


def test_an_out_of_range_value_fails_naming_it(tmp_path):
    err = _fails(tmp_path, {"deployment": {"replicas": 99}})
    assert "/config/deployment/replicas" in err, err


def test_min_replicas_zero_with_hpa_fails_naming_it(tmp_path):
    err = _fails(tmp_path, _one_class(min_replicas=0))
    assert "config.component_classes[0].min_replicas: 0 needs autoscaling.engine keda" in err
    keda = {**_one_class(min_replicas=0), "autoscaling": {"engine": "keda"}}
    assert helm("template", "x", str(CHART), "-f", str(values_file(tmp_path, keda))).returncode == 0


def test_an_inline_password_in_a_dsn_fails_naming_it(tmp_path):
    dsn = "postgresql://app:hunter2@db:5432/app"
    err = _fails(tmp_path, {"postgres": [{"name": "main", "dsn": dsn}]})
    assert "config.postgres[0]: the URL holds a password" in err, err
    assert "hunter2" not in err  # never echoed
    for dsn in ("postgresql://db/app?password=x", "postgresql://db/app?sslmode=require"):
        data = {"postgres": [{"name": "main", "dsn": dsn}]}
        failed = helm("template", "x", str(CHART), "-f", str(values_file(tmp_path, data)))
        assert (failed.returncode != 0) == ("password" in dsn), failed.stderr


def test_a_password_env_fails_naming_it(tmp_path):
    data = {"redis": [{"name": "main", "url": "redis://r:6379/0", "password_env": "REDIS_PW"}]}
    assert "config.redis[0].password_env: pods read secrets from files" in _fails(tmp_path, data)


def test_other_burn_rates_need_their_rules(tmp_path):
    """The chart's rules hold the default burn-rate windows (they shape the rule set): others
    fail, naming the field, until the rules of `generate alerts
    --config` come as prometheusRule.groups."""
    window = {"long": "2h", "short": "10m", "factor": 10, "severity": "warning",
              "for_duration": "5m", "pace": "fast"}  # fmt: skip
    data = {"alerting": {"burn_rates": [window]}}
    err = _fails(tmp_path, data)
    assert "config.alerting.burn_rates" in err, err
    groups = [{"name": "mine", "rules": [{"alert": "A", "expr": "up == 0"}]}]
    objs = template("platform", "-f", str(values_file(tmp_path, data, prometheusRule={
        "enabled": True, "groups": groups})))  # fmt: skip
    rule = next(o for o in objs if o["kind"] == "PrometheusRule")
    assert rule["spec"]["groups"] == groups


def test_chart_values_override_config_deployment(tmp_path):
    """The deployment's values (image, replicas, pod placement, switches) reach the objects."""
    objs = template(
        "platform",
        "-f",
        str(
            values_file(
                tmp_path,
                None,
                image="registry.example.com/exporter:9",
                replicas=4,
                nodeSelector={"pool": "system"},
                tolerations=[{"key": "system", "operator": "Exists"}],
                affinity={"nodeAffinity": {}},
                podAnnotations={"team": "platform"},
                podLabels={"tier": "observability"},
                gpuAgent={"enabled": False},
                serviceMonitor={"enabled": False},
                podMonitors={"enabled": False},
                prometheusRule={"enabled": False},
                metricsApi={"register": ["custom"]},
                prometheusOperator={"labels": {"release": "kps"}},
            )
        ),
    )
    kinds = [o["kind"] for o in objs]
    assert "DaemonSet" not in kinds and "ServiceMonitor" not in kinds
    assert "PodMonitor" not in kinds and "PrometheusRule" not in kinds
    assert [o["metadata"]["name"] for o in objs if o["kind"] == "APIService"] == [
        "v1beta2.custom.metrics.k8s.io"
    ]
    dep = next(o for o in objs if o["kind"] == "Deployment")
    pod = dep["spec"]["template"]
    assert dep["spec"]["replicas"] == 4
    assert pod["spec"]["containers"][0]["image"] == "registry.example.com/exporter:9"
    assert pod["spec"]["nodeSelector"] == {"pool": "system"}
    assert pod["spec"]["tolerations"] == [{"key": "system", "operator": "Exists"}]
    assert pod["metadata"]["annotations"]["team"] == "platform"
    assert pod["metadata"]["labels"]["tier"] == "observability"
    cm = next(o for o in objs if o["kind"] == "ConfigMap")
    assert yaml.safe_load(cm["data"]["config.yaml"])["metrics_api"]["register"] == ["custom"]
    for obj in objs:
        validate(obj)


def test_a_secret_with_ca_bundle_replaces_cert_manager(tmp_path):
    """servingCertificate.caBundle (--set-file) is what deployment.ca_bundle_file gives the
    generator: APIServices carry it, no cert-manager objects."""
    ca = tmp_path / "ca.pem"
    ca.write_bytes(self_signed("serving-ca")[0])
    data = {"gpu": "off", "deployment": {"ca_bundle_file": str(ca)}}
    assert "servingCertificate.caBundle" in _fails(tmp_path, data)
    want = generated(data, tmp_path)
    got = template(
        "platform",
        "-f",
        str(values_file(tmp_path, data, servingCertificate={"source": "secret"})),
        "--set-file",
        f"servingCertificate.caBundle={ca}",
    )
    assert sorted(map(key, got)) == sorted(map(key, want))
    assert not any(o["kind"] in ("Certificate", "Issuer") for o in got)
    got_api = {key(o): normalized(o, True, {}) for o in got if o["kind"] == "APIService"}
    want_api = {key(o): normalized(o, False, {}) for o in want if o["kind"] == "APIService"}
    assert got_api == want_api and len(got_api) == 2


def test_the_config_map_is_a_config_the_exporter_loads(tmp_path):
    """Both ConfigMaps hold configs the exporter's own loader accepts."""
    for obj in template("platform"):
        if obj["kind"] == "ConfigMap":
            path = tmp_path / f"{obj['metadata']['name']}.yaml"
            path.write_text(obj["data"]["config.yaml"])
            assert isinstance(load_config(path, environ={}), Config)


def test_helm_install_dry_run_takes_the_defaults_and_rejects_a_bad_value(tmp_path):
    """`helm install` (client-side dry run: no cluster here) validates values the same way."""
    ok = helm("install", "exporter", str(CHART), "--dry-run=client", "-n", "platform")
    assert ok.returncode == 0, ok.stderr
    bad = values_file(tmp_path, _one_class(max_replicas="ten"))
    out = helm("install", "exporter", str(CHART), "--dry-run=client", "-n", "platform", "-f",
               str(bad))  # fmt: skip
    assert out.returncode != 0 and "max_replicas" in out.stderr


_Q = {"name": "q", "kind": "redis_list", "key": "q"}
CROSS_FIELD = [
    ({"listen": {"http": "0.0.0.0"}}, "listen.http"),
    ({"listen": {"grpc": "0.0.0.0:99999"}}, "listen.grpc"),
    ({"collection": {"interval_seconds": 1, "timeout_seconds": 2}}, "collection"),
    ({"redis": [{"name": "a", "url": "redis://r/0"}, {"name": "a", "url": "redis://s/0"}]},
     "redis"),
    ({"redis": [{"name": "a", "url": "redis://r/0", "password_file": "/s/p",
                 "password_env": "P"}]}, "redis[0]"),
    ({**_one_class(queues=[_Q])}, "component_classes[0].queues[0].target"),
    ({"redis": [{"name": "main", "url": "redis://r/0"}], **_one_class(queues=[_Q, _Q])},
     "component_classes[0]"),
    ({**_one_class(min_replicas=5, max_replicas=2)}, "component_classes[0]"),
    ({**_one_class(behavior={"scale_up": {"percent": None, "pods": None}})},
     "component_classes[0].behavior.scale_up"),
    ({**_one_class(scale_on=[{"metric": "nope", "target_average_value": 1}])},
     "component_classes[0].scale_on[0].metric"),
    ({"deployment": {"gpu_agent": {"tolerations": [{"key": "k", "operator": "Equal"}]}}},
     "deployment.gpu_agent.tolerations[0]"),
    ({"deployment": {"api_server_cidrs": ["10.0.0.0/8", "ten/8"]}},
     "deployment.api_server_cidrs"),
]  # fmt: skip


@pytest.mark.parametrize(("data", "field"), CROSS_FIELD)
def test_cross_field_rules_fail_in_both(data, field, tmp_path):
    """A rule the models check beyond the schema fails `check-config` and the render alike,
    both naming the field."""
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(data))
    with pytest.raises(ConfigError) as err:
        load_config(path, environ={})
    assert field.split("[")[0].split(".")[0] in str(err.value)
    assert f"config.{field}" in _fails(tmp_path, data)


def test_the_packaged_chart_renders_the_same(tmp_path):
    """`helm package` (what a chart repository serves) keeps the generated files."""
    out = helm("package", str(CHART), "--destination", str(tmp_path))
    assert out.returncode == 0, out.stderr
    (tgz,) = tmp_path.glob("exporter-*.tgz")
    packaged = helm("template", "exporter", str(tgz), "--namespace", "platform")
    assert packaged.returncode == 0, packaged.stderr
    assert [d for d in yaml.safe_load_all(packaged.stdout) if d] == template("platform")
