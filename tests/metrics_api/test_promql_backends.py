"""The PromQL source against the backends users grow into: a real Prometheus and a real
VictoriaMetrics (basic auth) scraping a real exporter, and a loopback stand-in that records
what a Thanos/Mimir gateway would receive (path prefix, headers, client certificate)."""

from __future__ import annotations

import base64
import contextlib
import json
import ssl
from collections.abc import Iterator

import pytest

from exporter.config import Config
from exporter.metrics_api.providers.base import Unavailable
from exporter.metrics_api.providers.routing import build_provider
from exporter.metrics_api.selectors import parse
from exporter.snapshot import Snapshot
from tests.support.pki import CA
from tests.support.servers import exporter_process, free_port, prometheus_process
from tests.support.stub_http import StubServer
from tests.support.victoria import victoria_metrics

METRICS = {
    "external": [
        {
            "name": "exporters_running",
            "source": "promql",
            "query": 'sum(exporter_build_info{namespace="{namespace}",{selector}})',
        }
    ],
    "custom": [
        {
            "name": "targets_up",
            "source": "promql",
            "query": 'sum by (pod) (up{namespace="{namespace}",{selector}})',
        }
    ],
}


def source_config(prometheus: dict) -> Config:
    return Config.model_validate(
        {
            "namespace": "platform",
            "prometheus": {"timeout_seconds": 2, **prometheus},
            "metrics_api": METRICS,
        }
    )


@contextlib.contextmanager
def scraped_exporter() -> Iterator[list[dict]]:
    """A real exporter and the scrape config that gives it kubernetes_sd-like labels."""
    http = free_port()
    config = f'listen: {{http: "127.0.0.1:{http}", https: "127.0.0.1:{free_port()}", grpc: null}}\n'
    config += "gpu: off\nmetrics_api: {enabled: false}\nkubernetes: {enabled: off}\n"
    with exporter_process(config):
        yield [
            {
                "job_name": "exporter",
                "static_configs": [
                    {
                        "targets": [f"127.0.0.1:{http}"],
                        "labels": {"namespace": "platform", "pod": "exporter-0"},
                    }
                ],
            }
        ]


async def answers(config: Config) -> tuple[float, list[tuple[str, float]]]:
    provider = build_provider(config, Snapshot(), lambda: True)
    try:
        [running] = await provider.external_metric("platform", "exporters_running", parse(""))
        pods = await provider.pods_metric("platform", None, "targets_up", parse(""), parse(""))
        return running.value, [(p.labels["pod"], p.value) for p in pods]
    finally:
        await provider.aclose()


async def wait_answers(config: Config) -> tuple[float, list[tuple[str, float]]]:
    import asyncio
    import time

    deadline = time.monotonic() + 30
    while True:
        try:
            return await answers(config)
        except (Unavailable, ValueError):  # no scrape yet: an empty vector
            if time.monotonic() > deadline:
                raise
            await asyncio.sleep(0.5)


async def test_prometheus_backend():
    with scraped_exporter() as scrape_configs, prometheus_process(scrape_configs) as prom:
        got = await wait_answers(source_config({"url": prom.extra["url"]}))
    assert got == (1.0, [("exporter-0", 1.0)])


async def test_victoria_metrics_backend_with_basic_auth(tmp_path):
    secret = tmp_path / "vm-password"
    secret.write_text("s3cret-vm\n")
    with (
        scraped_exporter() as scrape_configs,
        victoria_metrics(scrape_configs, "reader", "s3cret-vm") as vm,
    ):
        auth = {"username": "reader", "password_file": str(secret)}
        got = await wait_answers(source_config({"url": vm.extra["url"], "basic_auth": auth}))
        assert got == (1.0, [("exporter-0", 1.0)])
        wrong = tmp_path / "wrong"
        wrong.write_text("guess")
        for prometheus in (
            {"url": vm.extra["url"]},
            {"url": vm.extra["url"], "basic_auth": {**auth, "password_file": str(wrong)}},
        ):
            with pytest.raises(Unavailable, match="answered 401") as err:
                await answers(source_config(prometheus))
            assert "s3cret" not in str(err.value) and "guess" not in str(err.value)


class Recorder(StubServer):
    """An HTTPS stand-in for a Thanos/Mimir query gateway: it requires a client certificate
    from `clients` and records each request's path, headers and the client's CN."""

    def __init__(self, server_ca: CA, clients: CA) -> None:
        self.requests: list[dict] = []
        self.server_ca, self.clients = server_ca, clients
        tls = server_ca.issue("gateway", client=False, hosts=("127.0.0.1",))
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(str(tls.cert_path), str(tls.key_path))
        context.load_verify_locations(cafile=str(clients.path))
        context.verify_mode = ssl.CERT_REQUIRED
        super().__init__(self.answer, context)

    def answer(self, request) -> tuple[str, bytes]:
        peer = request.connection.getpeercert()
        cn = dict(x[0] for x in peer["subject"])["commonName"]
        self.requests.append({"path": request.path, "headers": dict(request.headers), "cn": cn})
        result = [{"metric": {"pod": "p-1"}, "value": [1.0, "6"]}]
        body = {"status": "success", "data": {"resultType": "vector", "result": result}}
        return "application/json", json.dumps(body).encode()


@pytest.fixture
def gateway(tmp_path):
    server_ca, clients = CA("gateway-ca", tmp_path), CA("client-ca", tmp_path)
    recorder = Recorder(server_ca, clients)
    yield recorder
    recorder.close()


async def test_tls_client_cert_headers_prefix_and_token(gateway, tmp_path):
    client = gateway.clients.issue("exporter-client", client=True)
    token = tmp_path / "token"
    token.write_text("tok-123")
    config = source_config(
        {
            "url": gateway.url + "/",
            "path_prefix": "/prometheus",
            "headers": {"X-Scope-OrgID": "tenant-a"},
            "bearer_token_file": str(token),
            "ca_file": str(gateway.server_ca.path),
            "cert_file": str(client.cert_path),
            "key_file": str(client.key_path),
        }
    )
    assert await answers(config) == (6.0, [("p-1", 6.0)])
    first = gateway.requests[0]
    assert first["path"].startswith("/prometheus/api/v1/query?query=")
    assert first["headers"]["X-Scope-OrgID"] == "tenant-a"
    assert first["headers"]["Authorization"] == "Bearer tok-123"
    assert first["cn"] == "exporter-client"


async def test_basic_auth_is_sent_and_a_wrong_ca_is_unavailable(gateway, tmp_path):
    client = gateway.clients.issue("exporter-client", client=True)
    secret = tmp_path / "pw"
    secret.write_text("pa55")
    tls = {"cert_file": str(client.cert_path), "key_file": str(client.key_path)}
    auth = {"basic_auth": {"username": "mimir", "password_file": str(secret)}}
    await answers(
        source_config({"url": gateway.url, "ca_file": str(gateway.server_ca.path), **tls, **auth})
    )
    sent = gateway.requests[-1]["headers"]["Authorization"]
    assert base64.b64decode(sent.removeprefix("Basic ")) == b"mimir:pa55"
    count = len(gateway.requests)
    with pytest.raises(Unavailable, match="Prometheus query failed"):  # our CA is not theirs
        await answers(
            source_config({"url": gateway.url, "ca_file": str(gateway.clients.path), **tls})
        )
    with pytest.raises(Unavailable):  # no client certificate: the gateway refuses the handshake
        await answers(source_config({"url": gateway.url, "ca_file": str(gateway.server_ca.path)}))
    assert len(gateway.requests) == count


@pytest.mark.parametrize(
    ("prometheus", "field"),
    [
        ({"cert_file": "/etc/hostname"}, "cert_file and key_file"),
        ({"headers": {"Authorization": "Bearer x"}}, "Authorization"),
        ({"ca_file": "/nonexistent/ca.pem"}, "ca_file"),
        ({"path_prefix": "prometheus"}, "path_prefix"),
        ({"basic_auth": {"username": "u", "password_file": "/nonexistent"}}, "basic_auth"),
    ],
)
def test_bad_source_settings_name_the_field(prometheus, field):
    from exporter.config import ConfigError, load_config

    path = f"/tmp/exporter-test-{free_port()}.yaml"
    with open(path, "w") as f:
        json.dump({"prometheus": prometheus}, f)
    with pytest.raises(ConfigError, match=field):
        load_config(path, environ={})
