"""Authentication of the metrics API over real TLS with client certificates."""

from __future__ import annotations

import asyncio
import logging
import ssl

import httpx
import pytest

from exporter import catalog
from exporter.metrics_api.listener import MetricsApiStartupError, resolve_auth
from exporter.runtime import Runtime
from exporter.snapshot import Sample, Snapshot
from tests.support.fake_kube import FakeKube, auth_configmap_data
from tests.support.metrics_api_harness import build_config, client, make_pki, running_api
from tests.support.servers import exporter_process, free_port

EXTERNAL = "/apis/external.metrics.k8s.io/v1beta1/namespaces/platform/queue_depth"


@pytest.fixture
def pki(tmp_path):
    return make_pki(tmp_path)


def _status(resp: httpx.Response, code: int, reason: str) -> dict:
    assert resp.status_code == code, resp.text
    assert resp.headers["content-type"] == "application/json"
    body = resp.json()
    assert body["kind"] == "Status"
    assert body["apiVersion"] == "v1"
    assert body["metadata"] == {}
    assert body["status"] == "Failure"
    assert body["reason"] == reason
    assert body["code"] == code
    assert isinstance(body["message"], str) and body["message"]
    return body


async def test_valid_front_proxy_certificate_is_served(pki):
    async with running_api(build_config(pki, free_port())) as api:
        api.snapshot.update(
            "queues", [Sample(catalog.QUEUE_DEPTH, {"component_class": "gpu", "queue": "q"}, 3)]
        )
        async with client(pki, pki.proxy) as c:
            resp = await c.get(api.url + EXTERNAL)
            assert resp.status_code == 200, resp.text
            assert resp.json()["items"][0]["value"] == "3"
            # discovery is authenticated the same way
            assert (await c.get(api.url + "/apis")).status_code == 200


async def test_no_client_certificate_is_401(pki):
    async with running_api(build_config(pki, free_port())) as api:
        async with client(pki, None) as c:
            body = _status(await c.get(api.url + EXTERNAL), 401, "Unauthorized")
            assert "certificate" in body["message"]
            _status(await c.get(api.url + "/apis"), 401, "Unauthorized")


async def test_certificate_from_another_ca_is_refused_in_the_handshake(pki):
    # CPython's ssl verifies the presented certificate against the front-proxy CA during the
    # handshake (no verify callback to defer it), so no HTTP exchange happens at all. The
    # server sends the TLS alert (unknown CA); with TLS 1.3 the client sees it on its first
    # read, which httpx passes through as ssl.SSLError.
    refused = (httpx.ConnectError, httpx.ReadError, httpx.RemoteProtocolError, ssl.SSLError)
    async with running_api(build_config(pki, free_port())) as api:
        async with client(pki, pki.intruder) as c:
            with pytest.raises(refused):
                await c.get(api.url + EXTERNAL)
        # and the listener still serves the next, proper client
        async with client(pki, pki.proxy) as c:
            assert (await c.get(api.url + "/apis")).status_code == 200


async def test_disallowed_common_name_is_403(pki):
    async with running_api(build_config(pki, free_port())) as api:
        async with client(pki, pki.stranger) as c:
            body = _status(await c.get(api.url + EXTERNAL), 403, "Forbidden")
            assert "someone-else" in body["message"]


async def test_remote_user_header_is_required_after_the_certificate(pki):
    async with running_api(build_config(pki, free_port())) as api:
        async with client(pki, pki.proxy, user=None) as c:
            body = _status(await c.get(api.url + EXTERNAL), 401, "Unauthorized")
            assert "X-Remote-User" in body["message"]


async def test_empty_allowed_names_accept_any_name_the_ca_signed(pki):
    config = build_config(pki, free_port())
    data = config.model_dump()
    data["metrics_api"]["authentication"]["requestheader_allowed_names"] = []
    config = type(config).model_validate(data)
    async with running_api(config) as api:
        async with client(pki, pki.stranger) as c:
            assert (await c.get(api.url + "/apis")).status_code == 200


async def test_health_paths_need_no_certificate(pki):
    async with running_api(build_config(pki, free_port())) as api:
        async with client(pki, None, user=None) as c:
            for path in ("/healthz", "/livez", "/readyz"):
                resp = await c.get(api.url + path)
                assert resp.status_code == 200 and resp.text == "ok"


async def test_without_a_ca_requests_are_anonymous_and_a_warning_is_logged(caplog):
    config = build_config(None, free_port())
    with caplog.at_level(logging.WARNING, logger="exporter.metrics_api.listener"):
        async with running_api(config) as api:
            # self-signed serving certificate generated at start: trust nothing, check it works
            ctx = ssl.create_default_context()
            ctx.check_hostname = False
            ctx.verify_mode = ssl.CERT_NONE
            async with httpx.AsyncClient(verify=ctx) as c:
                resp = await c.get(api.url + EXTERNAL)
                assert resp.status_code == 200
                assert resp.json()["kind"] == "ExternalMetricValueList"
    assert any("UNAUTHENTICATED" in r.getMessage() for r in caplog.records)


async def test_self_signed_certificate_covers_loopback():
    config = build_config(None, free_port())
    async with running_api(config) as api:
        async with httpx.AsyncClient(verify=False) as c:
            resp = await c.get(api.url + "/healthz")
            assert resp.status_code == 200
        # the generated certificate verifies for 127.0.0.1 when trusted explicitly
        port = int(api.url.rsplit(":", 1)[1])
        cert_pem = await asyncio.to_thread(ssl.get_server_certificate, ("127.0.0.1", port))
        ctx = ssl.create_default_context(cadata=cert_pem)
        async with httpx.AsyncClient(verify=ctx) as c:
            assert (await c.get(api.url + "/healthz")).status_code == 200


async def test_a_self_signed_certificate_that_cannot_be_made_fails_the_listener(monkeypatch):
    # made by a child Python (cryptography stays out of the exporter); its failure reaches
    # `serve` as a start-up error, and the listener never accepts
    from exporter import tls
    from exporter.metrics_api import listener

    monkeypatch.setattr(tls, "_CHILD", "import sys; sys.exit('cannot write the temp dir')")
    [(server, sock)] = listener.https_listeners(
        build_config(None, free_port()), Snapshot(), Runtime(Snapshot(), [])
    )
    with pytest.raises(MetricsApiStartupError, match="cannot write the temp dir"):
        await server.serve([sock])
    assert not server.started
    sock.close()


def test_exporter_serve_refuses_production_without_a_ca():
    config = f"""
environment: production
listen: {{http: "127.0.0.1:{free_port()}", https: "127.0.0.1:{free_port()}"}}
"""
    with exporter_process(config) as exporter:
        assert exporter.proc.wait(20) == 1
        log = exporter.extra["log"].read_text()
    assert "refusing to serve the metrics API unauthenticated in production" in log
    assert "Traceback" not in log


def test_production_without_a_ca_refuses_to_resolve_auth(pki):
    config = build_config(None, free_port())
    config = config.model_copy(update={"environment": "production"})
    with pytest.raises(MetricsApiStartupError, match="refusing to serve the metrics API"):
        resolve_auth(config)


def test_unreadable_ca_file_is_a_clear_start_error(pki, tmp_path):
    config = build_config(pki, free_port())
    auth = config.metrics_api.authentication.model_copy(
        update={"requestheader_client_ca_file": str(tmp_path / "missing.crt")}
    )
    api = config.metrics_api.model_copy(update={"authentication": auth})
    with pytest.raises(MetricsApiStartupError, match="missing.crt"):
        resolve_auth(config.model_copy(update={"metrics_api": api}))


def _from_cluster(config, kubeconfig: str):
    data = config.model_dump()
    data["metrics_api"]["authentication"] = {"from_cluster": True}
    data["kubernetes"] = {"enabled": "on", "kubeconfig": kubeconfig}
    return type(config).model_validate(data)


async def test_from_cluster_reads_the_front_proxy_ca_from_kubernetes(pki):
    """kube-system/extension-apiserver-authentication, served by the fake API server in the
    real API's shapes and read with the official client, configures the listener."""
    with FakeKube() as kube:
        kube.set_configmap(
            "kube-system",
            "extension-apiserver-authentication",
            auth_configmap_data(pki.front_proxy_ca.pem, allowed_names=["front-proxy-client"]),
        )
        config = _from_cluster(build_config(pki, free_port()), kube.kubeconfig())
        async with running_api(config) as api:
            async with client(pki, pki.proxy) as c:
                assert (await c.get(api.url + EXTERNAL)).status_code == 200
            async with client(pki, pki.stranger) as c:
                _status(await c.get(api.url + EXTERNAL), 403, "Forbidden")
            async with client(pki, None) as c:
                _status(await c.get(api.url + EXTERNAL), 401, "Unauthorized")
        assert (
            "GET",
            "/api/v1/namespaces/kube-system/configmaps/extension-apiserver-authentication",
        ) in kube.requests


def test_from_cluster_without_the_configmap_is_a_clear_start_error(pki):
    with FakeKube() as kube:  # no configmap: the API answers 404
        config = _from_cluster(build_config(pki, free_port()), kube.kubeconfig())
        with pytest.raises(MetricsApiStartupError, match="extension-apiserver-authentication"):
            resolve_auth(config)


async def test_tls_info_reaches_the_app_and_head_is_answered(pki):
    async with running_api(build_config(pki, free_port())) as api:
        async with client(pki, pki.proxy) as c:
            assert (await c.get(api.url + EXTERNAL)).status_code == 200
            head = await c.head(api.url + EXTERNAL)
            assert head.status_code == 200 and head.content == b""
        async with client(pki, pki.stranger) as c:
            _status(await c.get(api.url + EXTERNAL), 403, "Forbidden")
        async with client(pki, None) as c:
            _status(await c.get(api.url + EXTERNAL), 401, "Unauthorized")
