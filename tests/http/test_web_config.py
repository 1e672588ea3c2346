"""The exporter-toolkit web-config file on the HTTP listener: TLS with client certificates,
basic auth with bcrypt hashes, and bad files as config errors (exit 2, one line)."""

from __future__ import annotations

import ssl
import subprocess
import sys

import bcrypt
import httpx
import pytest

from exporter.config import ConfigError
from exporter.http.webconfig import BasicAuth, load_web_config
from exporter.http_app import create_app
from exporter.runtime import Runtime
from exporter.snapshot import Snapshot
from tests.support.pki import CA, client_context
from tests.support.servers import REPO, exporter_process, free_port, wait_for
from tests.support.serving_harness import running

HASH = bcrypt.hashpw(b"s3cret-pw", bcrypt.gensalt(rounds=4)).decode()


@pytest.fixture
def pki(tmp_path):
    server_ca, client_ca = CA("serving", tmp_path), CA("clients", tmp_path)
    return {
        "server_ca": server_ca,
        "serving": server_ca.issue("exporter", client=False, hosts=("127.0.0.1",)),
        "client_ca": client_ca,
        "prometheus": client_ca.issue("prometheus", client=True),
    }


def _write(tmp_path, text: str) -> str:
    path = tmp_path / "web.yml"
    path.write_text(text)
    return str(path)


def test_tls_with_required_client_certificate_and_basic_auth(pki, tmp_path):
    web = _write(
        tmp_path,
        f"""
tls_server_config:
  cert_file: {pki["serving"].cert_path}
  key_file: {pki["serving"].key_path}
  client_auth_type: RequireAndVerifyClientCert
  client_ca_file: {pki["client_ca"].path}
basic_auth_users:
  prometheus: "{HASH}"
""",
    )
    port = free_port()
    config = f"""
environment: dev
listen: {{http: "127.0.0.1:{port}", https: "127.0.0.1:{free_port()}", web_config_file: "{web}"}}
gpu: "off"
metrics_api: {{enabled: false}}
"""
    url = f"https://127.0.0.1:{port}"
    good = client_context(pki["server_ca"].path, pki["prometheus"])
    with exporter_process(config):
        wait_for(
            lambda: httpx.get(url + "/healthz", verify=good).status_code == 200, what="exporter"
        )
        # no client certificate: refused in the TLS handshake
        with pytest.raises((httpx.ConnectError, httpx.ReadError, ssl.SSLError)):
            httpx.get(url + "/metrics", verify=client_context(pki["server_ca"].path))
        assert httpx.get(url + "/metrics", verify=good).status_code == 401
        wrong = httpx.get(url + "/metrics", verify=good, auth=("prometheus", "nope"))
        assert wrong.status_code == 401 and wrong.headers["www-authenticate"].startswith("Basic")
        ok = httpx.get(url + "/metrics", verify=good, auth=("prometheus", "s3cret-pw"))
        assert ok.status_code == 200 and "exporter_build_info" in ok.text
        # plain HTTP on the TLS port gets nowhere
        with pytest.raises(httpx.HTTPError):
            httpx.get(f"http://127.0.0.1:{port}/metrics")


async def test_basic_auth_alone_on_plain_http(tmp_path):
    web = load_web_config(_write(tmp_path, f'basic_auth_users: {{alice: "{HASH}"}}\n'))
    assert web.tls is None
    snapshot = Snapshot()
    app = BasicAuth(create_app(snapshot, Runtime(snapshot, [])), web.users)
    async with running(app) as (_server, port):
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as c:
            assert (await c.get("/metrics")).status_code == 401
            assert (await c.get("/metrics", auth=("bob", "s3cret-pw"))).status_code == 401
            assert (await c.get("/metrics", auth=("alice", "wrong"))).status_code == 401
            for _ in range(3):  # the second and third are answered from the cache
                assert (await c.get("/metrics", auth=("alice", "s3cret-pw"))).status_code == 200
            assert (await c.get("/healthz")).status_code == 200  # probes carry no credentials
            bad = await c.get("/metrics", headers={"Authorization": "Basic !!!"})
            assert bad.status_code == 401


@pytest.mark.parametrize(
    ("text", "field"),
    [
        ("tls_server_config: {cert_file: a}\n", "tls_server_config"),
        ("basic_auth_users: {alice: plain}\n", "basic_auth_users.alice"),
        ("nonsense: 1\n", "nonsense"),
        (
            "tls_server_config: {cert_file: a, key_file: b, client_auth_type: RequestClientCert}\n",
            "tls_server_config.client_auth_type",
        ),  # fmt: skip
    ],
)
def test_bad_web_config_is_a_config_error_naming_the_key(tmp_path, text, field):
    with pytest.raises(ConfigError, match=field.replace(".", r"\.")):
        load_web_config(_write(tmp_path, text))


def test_exporter_serve_exits_2_on_a_bad_web_config(tmp_path):
    web = _write(tmp_path, "basic_auth_users: {alice: plain}\n")
    cfg = tmp_path / "config.yaml"
    cfg.write_text(
        f'listen: {{http: "127.0.0.1:{free_port()}", https: "127.0.0.1:{free_port()}", '
        f'web_config_file: "{web}"}}\ngpu: "off"\nmetrics_api: {{enabled: false}}\n'
    )
    proc = subprocess.run(
        [sys.executable, "-m", "exporter", "serve", "--config", str(cfg)],
        cwd=REPO, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert proc.returncode == 2
    errors = [line for line in proc.stderr.splitlines() if line.startswith("exporter:")]
    assert len(errors) == 1 and "basic_auth_users.alice" in errors[0]
