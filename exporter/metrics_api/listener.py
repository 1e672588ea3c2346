"""The HTTPS listener that `exporter.service.serve` runs next to the HTTP one.

It resolves front-proxy authentication (config files, or the cluster's
`kube-system/extension-apiserver-authentication` ConfigMap through
`exporter.kube.read_front_proxy_auth`), the serving certificate (files, or a self-signed
one generated at start, reloaded when its files change), and returns an
`exporter.http` server sharing the process's event loop.
"""

from __future__ import annotations

import asyncio
import logging
import socket
from pathlib import Path

from exporter.config import Config
from exporter.http.server import HttpServer
from exporter.http.tlsio import ReloadingContext
from exporter.kube import core_v1, read_front_proxy_auth
from exporter.runtime import Runtime
from exporter.serving import bind, limits_for, make_server
from exporter.snapshot import Snapshot

from .app import create_app
from .auth import FrontProxyAuth
from .providers import MetricsProvider
from .tls import (
    certificate_fingerprint,
    self_signed_files_in_child,
    server_context,
    tls_extension,
)

log = logging.getLogger(__name__)


class MetricsApiStartupError(OSError):
    """The metrics API cannot start safely (bad TLS/auth files, unauthenticated production).

    An OSError so that `exporter serve` reports it like a busy port: one line, exit 1.
    """


def resolve_auth(config: Config) -> FrontProxyAuth | None:
    """Front-proxy auth from the cluster or the config; None means unauthenticated."""
    auth = config.metrics_api.authentication
    if auth.from_cluster:
        return _auth_from_cluster(config)
    if auth.requestheader_client_ca_file:
        try:
            ca = Path(auth.requestheader_client_ca_file).read_text()
        except OSError as exc:
            raise MetricsApiStartupError(
                f"metrics_api.authentication.requestheader_client_ca_file "
                f"{auth.requestheader_client_ca_file!r}: {exc.strerror}"
            ) from None
        if "BEGIN CERTIFICATE" not in ca:
            raise MetricsApiStartupError(
                f"metrics_api.authentication.requestheader_client_ca_file "
                f"{auth.requestheader_client_ca_file!r} holds no PEM certificate"
            )
        return FrontProxyAuth(
            client_ca_pem=ca,
            allowed_names=tuple(auth.requestheader_allowed_names),
            username_headers=tuple(auth.username_headers),
            group_headers=tuple(auth.group_headers),
        )
    if config.environment == "production":
        raise MetricsApiStartupError(
            "refusing to serve the metrics API unauthenticated in production: set "
            "metrics_api.authentication.requestheader_client_ca_file or from_cluster: true"
        )
    log.warning(
        "!!! metrics API on https://%s accepts UNAUTHENTICATED requests: no front-proxy CA "
        "is configured (metrics_api.authentication). Fine for local use only. !!!",
        config.listen.https,
    )
    return None


# kube-apiserver needs a moment at most; a hung API server must not hang start-up for long.
CLUSTER_READ_TIMEOUT_S = 10.0


def _auth_from_cluster(config: Config) -> FrontProxyAuth:
    """Through exporter.kube, with the config's Kubernetes access (service account in a pod,
    or `kubernetes.kubeconfig`): `read_front_proxy_auth(api, timeout)` returns (client CA PEM,
    allowed names, username headers, group headers) from
    kube-system/extension-apiserver-authentication."""
    try:
        ca, allowed, user_headers, group_headers = read_front_proxy_auth(
            core_v1(config.kubernetes), timeout=CLUSTER_READ_TIMEOUT_S
        )
    except Exception as exc:
        raise MetricsApiStartupError(
            "cannot read kube-system/extension-apiserver-authentication: "
            f"{type(exc).__name__}: {exc}"
        ) from None
    if "BEGIN CERTIFICATE" not in ca:
        raise MetricsApiStartupError(
            "extension-apiserver-authentication: requestheader-client-ca-file holds no PEM"
        )
    return FrontProxyAuth(
        client_ca_pem=ca,
        allowed_names=tuple(allowed),
        username_headers=tuple(user_headers) or ("X-Remote-User",),
        group_headers=tuple(group_headers) or ("X-Remote-Group",),
    )


def serving_files(config: Config) -> tuple[str, str] | None:
    """The configured serving cert/key, or None for a self-signed one (made in `prepare`)."""
    tls = config.metrics_api.tls
    if tls.cert_file and tls.key_file:
        for f in (tls.cert_file, tls.key_file):
            if not Path(f).is_file():
                raise MetricsApiStartupError(f"metrics_api.tls: cannot read {f!r}")
        return tls.cert_file, tls.key_file
    return None


class SelfSigned:
    """The self-signed serving pair when none is configured: made once, on first need, in a
    child process, and shared by the metrics API and the KEDA scaler (one certificate to
    trust). `files()` raises MetricsApiStartupError when the child fails."""

    def __init__(self, namespace: str):
        self.namespace = namespace
        self._task: asyncio.Future[tuple[str, str]] | None = None

    async def files(self) -> tuple[str, str]:
        if self._task is None:
            self._task = asyncio.ensure_future(self_signed_files_in_child(self.namespace))
        try:
            return await asyncio.shield(self._task)
        except (RuntimeError, OSError) as exc:
            raise MetricsApiStartupError(f"self-signed serving certificate: {exc}") from None


def _context(cert: str, key: str, auth: FrontProxyAuth | None) -> ReloadingContext:
    """The serving context, reloaded when cert/key change on disk (cert-manager rotation,
    Secret updates)."""
    try:
        return ReloadingContext(
            lambda: server_context(cert, key, auth.client_ca_pem if auth else None),
            [cert, key],
            "metrics API",
        )
    except Exception as exc:  # ssl.SSLError, ValueError: a bad PEM
        raise MetricsApiStartupError(f"metrics API TLS setup failed: {exc}") from None


def https_listeners(
    config: Config,
    snapshot: Snapshot,
    runtime: Runtime,
    self_signed: SelfSigned | None = None,
    provider: MetricsProvider | None = None,
) -> list[tuple[HttpServer, socket.socket]]:
    """The metrics API on config.listen.https (none when disabled).

    A self-signed certificate is generated while the HTTP listener already serves; the HTTPS
    socket is bound at once (a busy port is a start-up error) and queues connections until
    the certificate is ready. `self_signed` shares that certificate with the KEDA scaler;
    `provider` is the process's one metrics provider (None: the app builds its own)."""
    if not config.metrics_api.enabled:
        return []
    # httpx logs every Prometheus query at INFO: one line per API call is noise, not news.
    logging.getLogger("httpx").setLevel(logging.WARNING)
    auth = resolve_auth(config)
    files = serving_files(config)
    context = _context(*files, auth) if files else None
    prepare = None
    if files is None:
        made = self_signed or SelfSigned(config.namespace)

        async def prepare(server: HttpServer) -> None:
            cert, key = await made.files()
            log.info(
                "metrics API serving certificate: self-signed, SHA-256 %s",
                certificate_fingerprint(cert),
            )
            server.tls = _context(cert, key, auth)

    app = create_app(config, snapshot, runtime.ready.is_set, auth, provider=provider)
    limits = limits_for(config.listen)
    server = make_server(app, "https", limits, context, tls_extension, prepare)
    return [(server, bind(config.listen.https))]
