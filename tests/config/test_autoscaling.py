"""The config fields of issue 11: autoscaling engine, KEDA scaler, metrics_api.register,
listen.grpc, per-pod scale_on, scale to zero. Bad values exit 2 naming the field."""

from __future__ import annotations

import subprocess
import sys

import pytest

from exporter.config import load_config
from tests.support.servers import REPO


def test_defaults():
    config = load_config(None, environ={})
    assert config.listen.grpc is None  # engine hpa: no KEDA scaler, gRPC never loads
    assert config.metrics_api.register == ["external", "custom"]
    assert config.autoscaling.engine == "hpa"
    keda = config.autoscaling.keda
    assert (keda.polling_interval_seconds, keda.cooldown_period_seconds) == (30, 300)
    assert (keda.fallback_failure_threshold, keda.fallback_replicas) == (3, None)
    assert (keda.client_ca_file, keda.plaintext, keda.scaler_address) == (None, False, None)
    gpu = config.component_class("gpu")
    assert gpu.scale_to_zero and gpu.min_replicas == 1
    assert [(s.type, s.activation_threshold) for s in gpu.scale_on] == [("external", 0.0)]
    assert config.prometheus.headers == {} and config.prometheus.path_prefix == ""


def test_keda_engine_serves_the_scaler_on_the_default_address_unless_told_otherwise():
    keda = {"EXPORTER_AUTOSCALING__ENGINE": "keda"}
    assert load_config(None, environ=keda).listen.grpc == "0.0.0.0:9465"
    moved = {**keda, "EXPORTER_LISTEN__GRPC": "127.0.0.1:7000"}
    assert load_config(None, environ=moved).listen.grpc == "127.0.0.1:7000"
    # null: the scaler runs elsewhere (autoscaling.keda.scaler_address), none here
    assert load_config(None, environ={**keda, "EXPORTER_LISTEN__GRPC": "null"}).listen.grpc is None
    # set explicitly under hpa: served anyway
    assert load_config(None, environ={"EXPORTER_LISTEN__GRPC": ":9465"}).listen.grpc == ":9465"


@pytest.mark.parametrize(
    ("env", "field"),
    [
        ({"EXPORTER_LISTEN__GRPC": "nowhere"}, "listen.grpc"),
        ({"EXPORTER_AUTOSCALING__ENGINE": "argo"}, "autoscaling.engine"),
        ({"EXPORTER_AUTOSCALING__KEDA__CLIENT_CA_FILE": "/etc/hostname"}, "client_ca_file"),
        ({"EXPORTER_AUTOSCALING__KEDA__COOLDOWN_PERIOD_SECONDS": "-1"}, "cooldown_period"),
        ({"EXPORTER_METRICS_API__REGISTER": "[external, resource]"}, "metrics_api.register"),
        ({"EXPORTER_COMPONENT_CLASSES__0__MIN_REPLICAS": "0"}, "component_classes[0].min_replicas"),
        (
            {"EXPORTER_COMPONENT_CLASSES__0__SCALE_ON__0__TYPE": "pods"},
            "component_classes[0].scale_on[0].metric",
        ),
        (
            {"EXPORTER_COMPONENT_CLASSES__0__SCALE_ON__0__ACTIVATION_THRESHOLD": "-1"},
            "activation_threshold",
        ),
        ({"EXPORTER_PROMETHEUS__HEADERS": "{'Bad Header': x}"}, "prometheus.headers"),
        (
            {"EXPORTER_PROMETHEUS__BASIC_AUTH": "{username: u, password_env: NOPE_NOT_SET}"},
            "prometheus.basic_auth",
        ),
    ],
)
def test_bad_values_exit_2_naming_the_field(env, field):
    import os

    out = subprocess.run(
        [sys.executable, "-m", "exporter", "check-config"],
        capture_output=True, text=True, cwd=REPO, env={**os.environ, **env},
    )  # fmt: skip
    assert out.returncode == 2, out.stderr
    assert field in out.stderr
    assert len(out.stderr.strip().splitlines()) == 1


def test_basic_auth_password_never_in_check_config(tmp_path):
    import os

    secret = tmp_path / "pw"
    secret.write_text("hunter2-secret")
    out = subprocess.run(
        [sys.executable, "-m", "exporter", "check-config"],
        capture_output=True, text=True, cwd=REPO,
        env={**os.environ, "EXPORTER_PROMETHEUS__BASIC_AUTH":
             f"{{username: reader, password_file: {secret}}}"},
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    assert "reader" in out.stdout and "hunter2" not in out.stdout + out.stderr
