"""`exporter serve` on the embedded default (listen ports moved): it serves and opens no KEDA
scaler (engine hpa); under engine keda the scaler and the metrics API share one self-signed
certificate; start-up imports only what the configuration uses."""

from __future__ import annotations

import socket
import ssl
import subprocess
import sys
from importlib import resources

import yaml

from exporter.collectors import gpu_gate
from exporter.config import Config
from tests.support.servers import REPO, exporter_process, free_port, scrape, wait_for


def _default_with_ports(http: int, https: int, grpc: int | None = None, **extra) -> str:
    data = yaml.safe_load(resources.files("exporter").joinpath("default_config.yaml").read_text())
    data["listen"].update(http=f"127.0.0.1:{http}", https=f"127.0.0.1:{https}")
    if grpc is not None:
        data["listen"]["grpc"] = f"127.0.0.1:{grpc}"
    data.update(extra)
    return yaml.safe_dump(data)


def _peer_certificate(port: int, alpn: list[str] | None = None) -> bytes | None:
    ctx = ssl.create_default_context()
    ctx.check_hostname, ctx.verify_mode = False, ssl.CERT_NONE
    if alpn:
        ctx.set_alpn_protocols(alpn)
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=2) as raw:
            with ctx.wrap_socket(raw) as tls:
                return tls.getpeercert(binary_form=True)
    except OSError:
        return None


def test_embedded_default_serves_without_a_keda_scaler():
    """Engine hpa: no gRPC listener, and grpc is never imported (bench/footprint.py measures
    what that saves)."""
    http, https = free_port(), free_port()
    with exporter_process(_default_with_ports(http, https)) as exporter:
        try:
            text = wait_for(lambda: scrape(f"http://127.0.0.1:{http}/metrics"), what="/metrics")
            wait_for(lambda: _peer_certificate(https), what="metrics API TLS")
        except TimeoutError:
            raise AssertionError(exporter.extra["log"].read_text()) from None
        maps = open(f"/proc/{exporter.proc.pid}/maps").read()
        assert exporter.proc.poll() is None, exporter.extra["log"].read_text()
    assert "exporter_build_info" in text
    assert "cygrpc" not in maps  # the gRPC core library was never loaded


def test_keda_engine_serves_the_scaler_sharing_one_self_signed_certificate():
    http, https, grpc = free_port(), free_port(), free_port()
    config = _default_with_ports(http, https, grpc, autoscaling={"engine": "keda"})
    with exporter_process(config) as exporter:
        try:
            wait_for(lambda: scrape(f"http://127.0.0.1:{http}/metrics"), what="/metrics")
            api_cert = wait_for(lambda: _peer_certificate(https), what="metrics API TLS")
            scaler_cert = wait_for(lambda: _peer_certificate(grpc, ["h2"]), what="KEDA TLS")
        except TimeoutError:
            raise AssertionError(exporter.extra["log"].read_text()) from None
        assert exporter.proc.poll() is None, exporter.extra["log"].read_text()
    assert api_cert == scaler_cert  # one certificate to trust for both


def test_start_up_imports_only_what_the_default_uses():
    """Importing the serving path and building the collectors of a GPU agent's config loads no
    gRPC (KEDA starts it later, only with listen.grpc), no NVML, no HTTP client, no Kubernetes
    client, no web framework, and no PostgreSQL or Redis client (no such targets)."""
    code = (
        "import sys, exporter.cli, exporter.service\n"
        "from exporter.config import Config\n"
        "exporter.service.build_collectors(Config.model_validate({'gpu': 'off'}))\n"
        "heavy = ('grpc', 'pynvml', 'httpx', 'kubernetes', 'fastapi', 'starlette', 'uvicorn',\n"
        "         'asyncpg', 'redis')\n"
        "print(' '.join(m for m in heavy if m in sys.modules))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, check=True
    )
    assert out.stdout.split() == []


def test_gpu_auto_without_the_nvml_library_imports_no_pynvml():
    """On this machine (no NVIDIA driver) `gpu: auto` logs one info line and stays off."""
    code = (
        "import sys, logging\n"
        "logging.basicConfig(level=logging.INFO)\n"
        "from exporter.collectors import gpu_gate\n"
        "from exporter.config import Config\n"
        "print(gpu_gate.build(Config.model_validate({'gpu': 'auto'})), 'pynvml' in sys.modules)\n"
    )
    assert gpu_gate.nvml_library_error() is not None, "this test needs a host without NVML"
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, check=True
    )
    assert out.stdout.split() == ["[]", "False"]
    assert out.stderr.count("gpu: auto and NVML is not available") == 1
    assert gpu_gate.build(Config.model_validate({"gpu": "off"})) == []
