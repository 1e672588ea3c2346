"""The listener seam: every listener declared in `exporter.serving.declare` with its address,
limits and TLS source; the fd budget shared by the listeners that run; no feature importing
another feature's listener module."""

from __future__ import annotations

import ast
import ssl
from pathlib import Path

import pytest

from exporter import serving
from exporter.config import Config
from exporter.tls import TlsSource

REPO = Path(__file__).resolve().parents[2]


def _config(**listen) -> Config:
    return Config.model_validate(
        {"environment": "dev", "gpu": "off", "listen": {"http": "127.0.0.1:1", **listen}}
    )


def test_declare_names_every_listener_that_runs_with_its_tls_source():
    config = _config(https="127.0.0.1:2", grpc="127.0.0.1:3")
    web = TlsSource("HTTP listener", "/c", "/k")
    specs = serving.declare(config, web)
    assert [(s.name, s.address) for s in specs] == [
        ("http", "127.0.0.1:1"),
        ("https", "127.0.0.1:2"),
        ("grpc", "127.0.0.1:3"),
    ]
    http, https, grpc = specs
    assert http.tls is web
    assert https.tls is not None and https.tls.self_signed  # no metrics_api.tls files
    assert https.tls.verify == ssl.CERT_OPTIONAL
    assert grpc.tls is not None and grpc.tls.verify == ssl.CERT_REQUIRED
    assert serving.declare(_config())[0].tls is None  # plain HTTP without a web-config


def test_fd_budget_is_shared_by_the_listeners_that_run(monkeypatch):
    monkeypatch.setattr(serving, "raise_fd_limit", lambda: 256 + 600)
    three = serving.declare(_config(grpc="127.0.0.1:3", max_connections=1000))
    # gRPC's own cap (autoscaling.keda.max_connections, 64) first, the HTTP two share the rest
    caps = {s.name: s.limits.max_connections for s in three}
    assert caps == {"http": (600 - 64) // 2, "https": (600 - 64) // 2, "grpc": 64}
    assert isinstance(three[2].limits, serving.GrpcLimits)
    one = serving.declare(
        Config.model_validate(
            {
                "environment": "dev",
                "gpu": "off",
                "listen": {"http": "127.0.0.1:1", "max_connections": 1000},
                "metrics_api": {"enabled": False},
            }
        )
    )
    assert [s.name for s in one] == ["http"] and one[0].limits.max_connections == 600
    # the per-client share follows the cap the listener really has
    assert one[0].limits.per_client == 150


def test_listen_limits_reach_the_spec():
    [http, _https] = serving.declare(
        _config(max_body_bytes=1000, max_buffered_bytes=1 << 20, max_connections_per_client=7)
    )
    assert http.limits.max_body_bytes == 1000
    assert http.limits.max_buffered_bytes == 1 << 20
    assert http.limits.per_client == 7


def test_a_share_above_the_cap_is_a_config_error():
    with pytest.raises(ValueError, match="max_connections_per_client"):
        _config(max_connections=10, max_connections_per_client=11)


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    out = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            out.add(node.module)
            out.update(f"{node.module}.{a.name}" for a in node.names)
        elif isinstance(node, ast.Import):
            out.update(a.name for a in node.names)
    return out


def test_no_module_imports_another_features_listener_module():
    package = REPO / "exporter"
    listeners = {
        f"exporter.{p.parent.name}.listener": p.parent.name for p in package.glob("*/listener.py")
    }
    assert set(listeners) >= {"exporter.metrics_api.listener", "exporter.keda.listener"}
    offenders = []
    for path in package.rglob("*.py"):
        feature = path.relative_to(package).parts[0]
        for module in _imports(path):
            owner = listeners.get(module)
            if owner is not None and owner != feature and path.name != "service.py":
                offenders.append(f"{path.relative_to(REPO)} imports {module}")
    assert not offenders, offenders


def test_one_tls_module_builds_every_server_context():
    """`ssl.SSLContext(` appears in exporter.tls only (the one builder)."""
    hits = [
        str(p.relative_to(REPO))
        for p in (REPO / "exporter").rglob("*.py")
        if "ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER" in p.read_text()
    ]
    assert hits == ["exporter/tls.py"]
