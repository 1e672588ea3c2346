"""The gRPC listener for KEDA's external scaler on `listen.grpc`, on the serving event loop.

TLS comes from the listener's declared `TlsSource` (`exporter.serving`, `exporter.tls`): the
metrics API's serving certificate (`metrics_api.tls`, or the self-signed one generated at
start), so one Secret serves both. With `autoscaling.keda.client_ca_file` a
client must present a certificate that CA signed (KEDA's `tlsClientCert`). Plaintext
(`autoscaling.keda.plaintext`) is refused in production and logged loudly elsewhere.
Start-up problems raise OSError (one line, exit 1, like a busy port).

Connection discipline (`grpc_options`), as the HTTP listeners have it: a handshake deadline
(TLS and the HTTP/2 preface: a bare TCP connection or a held-open preface is closed after
`listen.tls_handshake_timeout_seconds`), an idle timeout and a maximum age (GOAWAY, then
closed after a short grace), keepalive pings that drop dead peers, a connection cap
(connections beyond it are closed at once), and small message and header limits (KEDA's
requests are a few hundred bytes): a bigger message is RESOURCE_EXHAUSTED after its 5-byte
length prefix, never buffered, and HTTP/2 flow control (no BDP window growth) bounds what a
client can push before that.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket

import grpc

from exporter.config import Config, parse_host_port
from exporter.http.memory import release_after_burst
from exporter.metrics_api.providers.base import MetricsProvider
from exporter.metrics_api.providers.routing import build_provider
from exporter.runtime import Runtime
from exporter.serving import GrpcLimits, ListenerSpec, spec_for
from exporter.snapshot import Snapshot
from exporter.tls import SelfSigned, TlsStartupError, pem_bytes, serving_pair

from . import externalscaler_pb2, externalscaler_pb2_grpc
from .changes import Changes
from .servicer import Scaler

log = logging.getLogger(__name__)


class ScalerStartupError(OSError):
    """The scaler cannot start safely (plaintext in production, unreadable TLS files)."""


async def credentials(
    config: Config, self_signed: SelfSigned | None = None, spec: ListenerSpec | None = None
) -> grpc.ServerCredentials | None:
    """TLS server credentials from the listener's `TlsSource` (`exporter.serving`), or None
    for plaintext (never in production); without configured files, the process's
    self-signed pair (`self_signed`, shared with the metrics API)."""
    source = (spec or spec_for(config, "grpc")).tls
    if source is None:
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
    if source.client_ca_file is None and config.environment == "production":
        log.warning(
            "KEDA scaler on %s accepts any TLS client: set autoscaling.keda.client_ca_file",
            config.listen.grpc,
        )
    try:
        cert, key = await serving_pair(source, self_signed or SelfSigned(config.namespace))
        key_pem, cert_pem, client_ca = pem_bytes(cert, key, source.client_ca_file)
    except TlsStartupError as exc:
        raise ScalerStartupError(f"KEDA scaler TLS files: {exc}") from None
    return grpc.ssl_server_credentials(
        [(key_pem, cert_pem)],
        root_certificates=client_ca,
        require_client_auth=client_ca is not None,
    )


TRIM_CHECK_SECONDS = 5.0
TRIM_GROWTH_BYTES = 8 << 20


def _rss_bytes() -> int:
    try:
        with open("/proc/self/statm", "rb") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        return 0


async def _trim_after_growth() -> None:
    """gRPC's core frees what refused requests made it hold (an oversized header block is
    read to keep HPACK in sync), but glibc keeps the freed pages; the HTTP listeners' trim
    runs after their own bursts only. Every few seconds: RSS grown by 8 MB since the last
    look -> malloc_trim, so a burst's memory goes back within seconds, not a minute."""
    baseline = _rss_bytes()
    while True:
        await asyncio.sleep(TRIM_CHECK_SECONDS)
        now = _rss_bytes()
        if now - baseline >= TRIM_GROWTH_BYTES:
            release_after_burst()
            baseline = _rss_bytes()  # what is still held is in use: grow 8 MB more first
        else:
            baseline = min(baseline, now)


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
        self._trim = asyncio.create_task(_trim_after_growth())

    async def stop(self, grace: float = 1.0) -> None:
        self._trim.cancel()
        await self.server.stop(grace)
        self.changes.close()
        if self._own_provider is not None:
            await self._own_provider.aclose()


# Grace after GOAWAY for a max-age close: in-flight unary calls finish, streams end (KEDA
# reopens them on a new connection).
AGE_GRACE_MS = 5000
KEEPALIVE_MS = 60_000  # ping an idle-but-streaming client every minute ...
KEEPALIVE_TIMEOUT_MS = 20_000  # ... and drop it when the ack does not come


def grpc_options(limits: GrpcLimits) -> list[tuple[str, int]]:
    """The server's channel arguments for the listener's declared limits (see the module
    docstring)."""
    return [
        ("grpc.so_reuseport", 0),
        ("grpc.server_handshake_timeout_ms", int(limits.handshake_timeout * 1000)),
        ("grpc.max_connection_idle_ms", int(limits.idle_timeout * 1000)),
        ("grpc.max_connection_age_ms", int(limits.max_age * 1000)),
        ("grpc.max_connection_age_grace_ms", AGE_GRACE_MS),
        ("grpc.max_allowed_incoming_connections", limits.max_connections),
        ("grpc.keepalive_time_ms", KEEPALIVE_MS),
        ("grpc.keepalive_timeout_ms", KEEPALIVE_TIMEOUT_MS),
        ("grpc.http2.max_ping_strikes", 2),  # a client pinging too often is dropped
        ("grpc.max_receive_message_length", limits.max_message_bytes),
        ("grpc.max_send_message_length", 1 << 20),
        ("grpc.max_metadata_size", limits.max_metadata_bytes),
        ("grpc.absolute_max_metadata_size", limits.max_metadata_bytes),
        ("grpc.http2.hpack_table_size.decoder", 4096),
        ("grpc.http2.max_frame_size", 16384),
        ("grpc.http2.bdp_probe", 0),  # windows stay at their small initial size
        ("grpc.http2.lookahead_bytes", limits.max_message_bytes),
        ("grpc.max_concurrent_streams", MAX_STREAMS_PER_CONNECTION),
        # reads in chunks of at most 64 KB (gRPC grows them to 4 MB for a fast sender)
        ("grpc.experimental.tcp_read_chunk_size", 16384),
        ("grpc.experimental.tcp_max_read_chunk_size", 65536),
    ]


# Streams one connection may hold (KEDA opens one StreamIsActive per ScaledObject); RPCs in
# flight over all connections beyond MAX_RPCS are RESOURCE_EXHAUSTED at once.
MAX_STREAMS_PER_CONNECTION = 1000
MAX_RPCS = 2000


async def start(
    config: Config,
    snapshot: Snapshot,
    runtime: Runtime,
    self_signed: SelfSigned | None = None,
    provider: MetricsProvider | None = None,
    reserved: socket.socket | None = None,
    spec: ListenerSpec | None = None,
) -> ScalerListener | None:
    """Serve the scaler on `config.listen.grpc` (None when it is off). `provider`: the
    process's one metrics provider (shared with the metrics API and the status board);
    None builds one for the scaler alone. `reserved`, the port held since before any
    listener served (`serving.reserve`), is released just before gRPC binds it."""
    if not config.listen.grpc:
        return None
    spec = spec or spec_for(config, "grpc")
    creds = await credentials(config, self_signed, spec)
    changes = Changes(snapshot)
    server = grpc.aio.server(options=grpc_options(spec.limits), maximum_concurrent_rpcs=MAX_RPCS)
    own = None
    if provider is None:
        provider = own = build_provider(config, snapshot, runtime.ready.is_set)
    scaler = Scaler(config, provider, snapshot, changes, externalscaler_pb2)
    externalscaler_pb2_grpc.add_ExternalScalerServicer_to_server(scaler, server)
    host, port = parse_host_port(config.listen.grpc)
    address = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    if reserved is not None:
        reserved.close()
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
