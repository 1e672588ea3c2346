"""KEDA's external scaler end to end: a client compiled from KEDA's own proto (vendored
verbatim in tests/reference/) against a real `exporter serve` over TLS and a real Redis."""

from __future__ import annotations

import time

import grpc
import pytest
import redis as redis_lib

from tests.support.keda_client import message, ref
from tests.support.keda_harness import INTERVAL, scaler_process
from tests.support.servers import REPO, sample_value, wait_for

GPU = {"componentClass": "gpu", "metric": "queue_depth"}
PUSH_BOUND = INTERVAL + 0.5  # the acceptance bound for a pushed activation change


@pytest.fixture(scope="module")
def scaler(redis):
    with scaler_process(redis.extra["url"]) as server:
        yield server


@pytest.fixture
def queue(redis):
    r = redis_lib.Redis.from_url(redis.extra["url"])
    r.delete("keda:jobs:gpu", "keda:jobs:cpu")
    yield r
    r.delete("keda:jobs:gpu", "keda:jobs:cpu")
    r.close()


def wait_total(client, meta: dict, want: float) -> None:
    def total():
        req = message("GetMetricsRequest", scaledObjectRef=ref(**meta), metricName="queue_depth")
        return client.GetMetrics(req, timeout=5).metricValues[0].metricValueFloat == want

    wait_for(total, timeout=10, what=f"GetMetrics == {want}")


def test_every_rpc_answers_from_the_upstream_proto(scaler, queue):
    client = scaler.client()
    assert client.methods == [
        "IsActive", "StreamIsActive", "GetMetricSpec", "GetMetrics", "StreamMetricSpec"
    ]  # fmt: skip
    wait_total(client, GPU, 0)
    assert client.IsActive(ref(**GPU), timeout=5).result is False
    spec = client.GetMetricSpec(ref(**GPU), timeout=5).metricSpecs
    assert [(s.metricName, s.targetSizeFloat, s.targetSize) for s in spec] == [
        ("queue_depth", 2.0, 2)
    ]
    queue.lpush("keda:jobs:gpu", *[f"job{i}" for i in range(3)])
    wait_total(client, GPU, 3)
    assert client.IsActive(ref(**GPU), timeout=5).result is True
    req = message("GetMetricsRequest", scaledObjectRef=ref(**GPU), metricName="queue_depth")
    (value,) = client.GetMetrics(req, timeout=5).metricValues
    assert (value.metricName, value.metricValue, value.metricValueFloat) == ("queue_depth", 3, 3.0)
    stream = client.StreamIsActive(ref(**GPU), timeout=5)
    assert next(stream).result is True
    stream.cancel()
    with pytest.raises(grpc.RpcError) as err:
        next(client.StreamMetricSpec(ref(**GPU), timeout=5))
    assert err.value.code() == grpc.StatusCode.UNIMPLEMENTED
    # metadata overrides the class config: a threshold of 3 makes 3 jobs inactive
    assert client.IsActive(ref(**GPU, activationThreshold="3"), timeout=5).result is False
    spec = client.GetMetricSpec(ref(**GPU, targetValue="0.5"), timeout=5).metricSpecs[0]
    assert spec.targetSizeFloat == 0.5
    client.close()


def test_stream_pushes_activation_both_ways_within_one_interval(scaler, queue):
    client = scaler.client()
    wait_total(client, GPU, 0)
    stream = client.StreamIsActive(ref(**GPU))
    assert next(stream).result is False
    pushed = time.monotonic()
    queue.lpush("keda:jobs:gpu", "job")
    assert next(stream).result is True
    up = time.monotonic() - pushed
    drained = time.monotonic()
    queue.delete("keda:jobs:gpu")
    assert next(stream).result is False
    down = time.monotonic() - drained
    stream.cancel()
    client.close()
    assert up <= PUSH_BOUND, f"activation pushed after {up:.2f}s"
    assert down <= PUSH_BOUND, f"deactivation pushed after {down:.2f}s"


def test_activation_threshold_from_class_config(scaler, queue):
    client = scaler.client()
    cpu = {"componentClass": "cpu", "metric": "queue_depth"}  # activation_threshold: 5
    queue.lpush("keda:jobs:cpu", *range(5))
    wait_total(client, cpu, 5)
    assert client.IsActive(ref(**cpu), timeout=5).result is False
    queue.lpush("keda:jobs:cpu", 5)
    wait_total(client, cpu, 6)
    assert client.IsActive(ref(**cpu), timeout=5).result is True
    client.close()


def test_get_metrics_equals_the_external_metrics_api(scaler, queue):
    client = scaler.client()
    queue.lpush("keda:jobs:gpu", *range(7))
    wait_total(client, GPU, 7)
    req = message("GetMetricsRequest", scaledObjectRef=ref(**GPU), metricName="queue_depth")
    ours = client.GetMetrics(req, timeout=5).metricValues[0].metricValueFloat
    assert ours == scaler.external_total("queue_depth", "gpu") == 7
    client.close()


@pytest.mark.parametrize(
    ("metadata", "code"),
    [
        ({"metric": "queue_depth"}, grpc.StatusCode.INVALID_ARGUMENT),
        ({"componentClass": "gpu"}, grpc.StatusCode.INVALID_ARGUMENT),
        ({**GPU, "activationThreshold": "lots"}, grpc.StatusCode.INVALID_ARGUMENT),
        ({**GPU, "targetValue": "0"}, grpc.StatusCode.INVALID_ARGUMENT),
        ({**GPU, "metric": "queue_oldest_age_seconds"}, grpc.StatusCode.INVALID_ARGUMENT),
        ({"componentClass": "tpu", "metric": "queue_depth"}, grpc.StatusCode.NOT_FOUND),
        ({"componentClass": "gpu", "metric": "no_such_metric"}, grpc.StatusCode.NOT_FOUND),
    ],
)
def test_bad_metadata_gets_the_right_code(scaler, metadata, code):
    client = scaler.client()
    calls = {
        "IsActive": lambda: client.IsActive(ref(**metadata), timeout=5),
        "GetMetricSpec": lambda: client.GetMetricSpec(ref(**metadata), timeout=5),
        "GetMetrics": lambda: client.GetMetrics(
            message("GetMetricsRequest", scaledObjectRef=ref(**metadata)), timeout=5
        ),
        "StreamIsActive": lambda: next(client.StreamIsActive(ref(**metadata), timeout=5)),
    }
    for name, call in calls.items():
        with pytest.raises(grpc.RpcError) as err:
            call()
        assert err.value.code() == code, name
    client.close()


def test_other_namespace_is_not_found(scaler):
    client = scaler.client()
    with pytest.raises(grpc.RpcError) as err:
        client.IsActive(ref(namespace="elsewhere", **GPU), timeout=5)
    assert err.value.code() == grpc.StatusCode.NOT_FOUND
    client.close()


def test_200_streams_are_served_and_cleaned_up(scaler, queue):
    clients = [scaler.client() for _ in range(4)]  # several connections, 50 streams each
    wait_total(clients[0], GPU, 0)
    streams = [clients[i % 4].StreamIsActive(ref(**GPU)) for i in range(200)]
    assert all(next(s).result is False for s in streams)
    wait_for(
        lambda: sample_value(scaler.metrics(), "keda_scaler_streams_active") == 200,
        what="200 open streams",
    )
    queue.lpush("keda:jobs:gpu", "job")
    assert all(next(s).result is True for s in streams)
    for s in streams:
        s.cancel()
    for c in clients:
        c.close()
    wait_for(
        lambda: sample_value(scaler.metrics(), "keda_scaler_streams_active") == 0,
        what="streams cleaned up",
    )
    # the server still serves after the crowd left
    fresh = scaler.client()
    assert fresh.IsActive(ref(**GPU), timeout=5).result is True
    fresh.close()


def test_redis_down_is_unavailable(own_redis):
    with scaler_process(own_redis.extra["url"]) as scaler:
        client = scaler.client()
        wait_total(client, GPU, 0)
        stream = client.StreamIsActive(ref(**GPU))
        assert next(stream).result is False
        own_redis.proc.kill()
        own_redis.proc.wait()

        def unavailable():
            try:
                client.IsActive(ref(**GPU), timeout=5)
            except grpc.RpcError as exc:
                return exc.code() == grpc.StatusCode.UNAVAILABLE
            return False

        wait_for(unavailable, timeout=15, what="IsActive UNAVAILABLE with Redis down")
        req = message("GetMetricsRequest", scaledObjectRef=ref(**GPU))
        with pytest.raises(grpc.RpcError) as err:
            client.GetMetrics(req, timeout=5)
        assert err.value.code() == grpc.StatusCode.UNAVAILABLE
        with pytest.raises(grpc.RpcError) as err:  # the open stream ends the same way
            next(stream)
        assert err.value.code() == grpc.StatusCode.UNAVAILABLE
        client.close()


def test_client_certificate_check(redis, tmp_path):
    from tests.support.pki import CA

    clients_ca = CA("keda-clients", tmp_path)
    keda = clients_ca.issue("keda-operator", client=True)
    stranger = CA("strangers", tmp_path).issue("someone", client=True)
    extra = f'autoscaling: {{keda: {{client_ca_file: "{clients_ca.path}"}}}}\n'
    with scaler_process(redis.extra["url"], extra=extra) as scaler:
        for cert in (None, stranger):
            client = scaler.client(cert)
            with pytest.raises(grpc.RpcError) as err:
                client.IsActive(ref(**GPU), timeout=5)
            assert err.value.code() == grpc.StatusCode.UNAVAILABLE  # handshake refused
            client.close()
        client = scaler.client(keda)
        client.GetMetricSpec(ref(**GPU), timeout=5)
        client.close()


def test_plaintext_only_outside_production(redis):
    from tests.support.servers import exporter_process, free_port

    base = f"""
listen: {{http: "127.0.0.1:{free_port()}", grpc: "127.0.0.1:{free_port()}"}}
metrics_api: {{enabled: false}}
gpu: off
kubernetes: {{enabled: off}}
autoscaling: {{keda: {{plaintext: true}}}}
"""
    with exporter_process("environment: production\n" + base) as proc:
        assert proc.proc.wait(timeout=30) == 1
        assert "refusing to serve the KEDA scaler in plaintext in production" in (
            proc.extra["log"].read_text()
        )
    with exporter_process("environment: dev\n" + base) as proc:
        wait_for(
            lambda: "PLAINTEXT and UNAUTHENTICATED" in proc.extra["log"].read_text(),
            what="the loud warning",
        )
        assert proc.proc.poll() is None


def test_streams_of_a_killed_client_are_cleaned_up(scaler, queue):
    """A KEDA operator that dies (no goodbye, the kernel resets its connections)."""
    import subprocess
    import sys

    script = f"""
import sys
from tests.support.keda_client import connect, ref
ca = open({str(scaler.ca.path)!r}, "rb").read()
client = connect({scaler.grpc!r}, ca)
streams = [client.StreamIsActive(ref(componentClass="gpu", metric="queue_depth")) for _ in range(50)]
for s in streams:
    next(s)
print("open", flush=True)
sys.stdin.read()
"""
    proc = subprocess.Popen(
        [sys.executable, "-c", script],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, cwd=REPO,
    )  # fmt: skip
    try:
        assert proc.stdout.readline().strip() == "open"
        wait_for(
            lambda: sample_value(scaler.metrics(), "keda_scaler_streams_active") == 50,
            what="50 open streams",
        )
        proc.kill()
        proc.wait()
        wait_for(
            lambda: sample_value(scaler.metrics(), "keda_scaler_streams_active") == 0,
            what="streams of the dead client cleaned up",
        )
    finally:
        if proc.poll() is None:
            proc.kill()
