"""The HTTPS listener that `exporter.service.serve` runs next to the HTTP one.

It resolves front-proxy authentication (config files, or the cluster's
`kube-system/extension-apiserver-authentication` ConfigMap through
`exporter.kube.read_front_proxy_auth`), whose CA is the client CA of the listener's
`TlsSource` (`exporter.serving`, certificates through `exporter.tls`), and returns an
`exporter.http` server sharing the process's event loop; errors the server answers itself
are `Status` bodies too.
"""

from __future__ import annotations

import dataclasses
import logging
import socket
from pathlib import Path

from exporter.config import Config
from exporter.http.server import HttpServer
from exporter.kube import core_v1, read_front_proxy_auth
from exporter.runtime import Runtime
from exporter.serving import ListenerSpec, bind, spec_for
from exporter.snapshot import Snapshot
from exporter.tls import (
    SelfSigned,
    TlsStartupError,
    certificate_fingerprint,
    own_pair,
    reloading_context,
    tls_extension,
)

from .app import create_app
from .auth import FrontProxyAuth
from .providers import MetricsProvider
from .status import status_error_body

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


def https_listeners(
    config: Config,
    snapshot: Snapshot,
    runtime: Runtime,
    self_signed: SelfSigned | None = None,
    provider: MetricsProvider | None = None,
    spec: ListenerSpec | None = None,
) -> list[tuple[HttpServer, socket.socket]]:
    """The metrics API on its declared listener (`exporter.serving`; none when disabled).

    A self-signed certificate is generated while the HTTP listener already serves; the HTTPS
    socket is bound at once (a busy port is a start-up error) and queues connections until
    the certificate is ready. `self_signed` shares that certificate with the KEDA scaler;
    `provider` is the process's one metrics provider (None: the app builds its own)."""
    if not config.metrics_api.enabled:
        return []
    spec = spec or spec_for(config, "https")
    assert spec.tls is not None
    # httpx logs every Prometheus query at INFO: one line per API call is noise, not news.
    logging.getLogger("httpx").setLevel(logging.WARNING)
    auth = resolve_auth(config)
    source = dataclasses.replace(spec.tls, client_ca_pem=auth.client_ca_pem if auth else None)
    made = self_signed or SelfSigned(config.namespace)
    try:  # the configured files are proven now; a self-signed pair is made in `prepare`
        files = own_pair(source)
        context = reloading_context(source, *files) if files else None
    except TlsStartupError as exc:
        raise MetricsApiStartupError(str(exc)) from None

    async def prepare(server: HttpServer) -> None:
        if server.tls is not None:
            return
        try:
            cert, key = await made.files()
            log.info(
                "metrics API serving certificate: self-signed, SHA-256 %s",
                certificate_fingerprint(cert),
            )
            server.tls = reloading_context(source, cert, key)
        except TlsStartupError as exc:
            raise MetricsApiStartupError(str(exc)) from None

    app = create_app(config, snapshot, runtime.ready.is_set, auth, provider=provider)
    server = HttpServer(
        app, "https", spec.limits, context, tls_extension, prepare, error_body=status_error_body
    )
    return [(server, bind(spec.address))]
