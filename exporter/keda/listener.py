"""The gRPC listener for KEDA's external scaler on `listen.grpc`, on the serving event loop.

TLS uses the metrics API's serving certificate (`metrics_api.tls`, or the self-signed one
generated at start), so one Secret serves both. With `autoscaling.keda.client_ca_file` a
client must present a certificate that CA signed (KEDA's `tlsClientCert`). Plaintext
(`autoscaling.keda.plaintext`) is refused in production and logged loudly elsewhere.
Start-up problems raise OSError (one line, exit 1, like a busy port).
"""

from __future__ import annotations

import logging
from pathlib import Path

import grpc

from exporter.config import Config, parse_host_port
from exporter.metrics_api.listener import SelfSigned, serving_files
from exporter.metrics_api.providers.base import MetricsProvider
from exporter.metrics_api.providers.routing import build_provider
from exporter.runtime import Runtime
from exporter.snapshot import Snapshot

from . import externalscaler_pb2, externalscaler_pb2_grpc
from .changes import Changes
from .servicer import Scaler

log = logging.getLogger(__name__)


class ScalerStartupError(OSError):
    """The scaler cannot start safely (plaintext in production, unreadable TLS files)."""


async def credentials(
    config: Config, self_signed: SelfSigned | None = None
) -> grpc.ServerCredentials | None:
    """TLS server credentials, or None for plaintext (never in production); without
    configured files, the metrics API's self-signed pair (`self_signed`, shared)."""
    keda = config.autoscaling.keda
    if keda.plaintext:
        if config.environment == "production":
            raise ScalerStartupError(
                "refusing to serve the KEDA scaler in plaintext in production: "
                "unset autoscaling.keda.plaintext"
            )
        log.warning(
            "!!! KEDA external scaler on %s is PLAINTEXT and UNAUTHENTICATED "
            "(autoscaling.keda.plaintext). Fine for local use only. !!!",
            config.listen.grpc,
        )
        return None
    cert, key = serving_files(config) or await (self_signed or SelfSigned(config.namespace)).files()
    client_ca = None
    if keda.client_ca_file:
        client_ca = Path(keda.client_ca_file).read_bytes()
    elif config.environment == "production":
        log.warning(
            "KEDA scaler on %s accepts any TLS client: set autoscaling.keda.client_ca_file",
            config.listen.grpc,
        )
    try:
        pair = (Path(key).read_bytes(), Path(cert).read_bytes())
    except OSError as exc:
        raise ScalerStartupError(f"KEDA scaler TLS files: {exc.strerror}") from None
    return grpc.ssl_server_credentials(
        [pair], root_certificates=client_ca, require_client_auth=client_ca is not None
    )


class ScalerListener:
    """The running server; `stop()` ends streams (clients see UNAVAILABLE and reconnect)."""

    def __init__(
        self,
        server: grpc.aio.Server,
        scaler: Scaler,
        changes: Changes,
        own_provider: MetricsProvider | None = None,
    ):
        self.server = server
        self.scaler = scaler
        self.changes = changes
        self._own_provider = own_provider  # closed here; a shared one by its owner

    async def stop(self, grace: float = 1.0) -> None:
        await self.server.stop(grace)
        self.changes.close()
        if self._own_provider is not None:
            await self._own_provider.aclose()


async def start(
    config: Config,
    snapshot: Snapshot,
    runtime: Runtime,
    self_signed: SelfSigned | None = None,
    provider: MetricsProvider | None = None,
) -> ScalerListener | None:
    """Serve the scaler on `config.listen.grpc` (None when it is off). `provider`: the
    process's one metrics provider (shared with the metrics API and the status board);
    None builds one for the scaler alone."""
    if not config.listen.grpc:
        return None
    creds = await credentials(config, self_signed)
    changes = Changes(snapshot)
    server = grpc.aio.server(options=[("grpc.so_reuseport", 0)])
    own = None
    if provider is None:
        provider = own = build_provider(config, snapshot, runtime.ready.is_set)
    scaler = Scaler(config, provider, snapshot, changes, externalscaler_pb2)
    externalscaler_pb2_grpc.add_ExternalScalerServicer_to_server(scaler, server)
    host, port = parse_host_port(config.listen.grpc)
    address = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    try:
        bound = (
            server.add_insecure_port(address)
            if creds is None
            else server.add_secure_port(address, creds)
        )
    except RuntimeError:
        bound = 0
    if not bound:
        changes.close()
        if own is not None:
            await own.aclose()
        raise OSError(f"cannot listen on {config.listen.grpc}: address in use or unavailable")
    await server.start()
    log.info(
        "KEDA external scaler on %s (%s)",
        config.listen.grpc,
        "plaintext" if creds is None else "TLS",
    )
    return ScalerListener(server, scaler, changes, own)
