"""Every listener the exporter runs, declared in one place (`declare`): its name, address,
limits and TLS source; and the listening sockets.

    http   listen.http   /metrics, probes, status page  TLS: the web-config file (or none)
    https  listen.https  the Kubernetes metrics APIs    TLS: metrics_api.tls or self-signed
    grpc   listen.grpc   KEDA's external scaler         TLS: as https, or plaintext

The file-descriptor budget is shared by the listeners that actually run. The HTTP ones run
on `exporter.http.HttpServer`, built by their feature (`service`, `metrics_api.listener`);
the gRPC one by `keda.listener`. Each reads its own `ListenerSpec` from here.
"""

from __future__ import annotations

import logging
import resource
import socket
import ssl
from dataclasses import dataclass

from exporter.config import Config, Listen, parse_host_port
from exporter.http.limits import Limits
from exporter.tls import TlsSource

log = logging.getLogger(__name__)

# fds kept free for everything but client connections: collectors' pools, files, logging.
FD_RESERVE = 256


@dataclass(frozen=True)
class GrpcLimits:
    """The gRPC scaler's connection discipline (`autoscaling.keda.*`; KEDA's requests are
    tiny): handshake deadline, idle and age limits, a connection cap, message and metadata
    sizes. `keda.listener.grpc_options` turns it into the server's channel arguments."""

    handshake_timeout: float
    idle_timeout: float
    max_age: float
    max_connections: int
    max_message_bytes: int
    max_metadata_bytes: int


@dataclass(frozen=True)
class ListenerSpec:
    """One listener: `name` labels its metrics (`exporter_http_connections*{listener}`)."""

    name: str
    address: str
    limits: Limits | GrpcLimits  # GrpcLimits for the gRPC listener
    tls: TlsSource | None  # None: plaintext


def grpc_limits(config: Config) -> GrpcLimits:
    keda = config.autoscaling.keda
    return GrpcLimits(
        handshake_timeout=config.listen.tls_handshake_timeout_seconds,
        idle_timeout=keda.idle_timeout_seconds,
        max_age=keda.max_connection_age_seconds,
        max_connections=keda.max_connections,
        max_message_bytes=keda.max_message_bytes,
        max_metadata_bytes=keda.max_metadata_bytes,
    )


def metrics_api_tls(config: Config) -> TlsSource:
    """The metrics API's serving files (or the self-signed pair); its client CA, the
    front-proxy CA, is resolved at start (`metrics_api.listener.resolve_auth`)."""
    tls = config.metrics_api.tls
    return TlsSource("metrics API", tls.cert_file, tls.key_file, verify=ssl.CERT_OPTIONAL)


def scaler_tls(config: Config) -> TlsSource | None:
    """The KEDA scaler shares the metrics API's serving pair (one Secret); with
    `autoscaling.keda.client_ca_file` a client certificate is required. None: plaintext."""
    keda = config.autoscaling.keda
    if keda.plaintext:
        return None
    tls = config.metrics_api.tls
    return TlsSource(
        "KEDA scaler",
        tls.cert_file,
        tls.key_file,
        client_ca_file=keda.client_ca_file,
        verify=ssl.CERT_REQUIRED,
    )


def declare(config: Config, web_tls: TlsSource | None = None) -> list[ListenerSpec]:
    """The listeners `config` runs, in start order; `web_tls` is the web-config file's."""
    listen = config.listen
    wanted: list[tuple[str, str, TlsSource | None]] = [("http", listen.http, web_tls)]
    if config.metrics_api.enabled:
        wanted.append(("https", listen.https, metrics_api_tls(config)))
    if listen.grpc:
        wanted.append(("grpc", listen.grpc, scaler_tls(config)))
    # the gRPC listener's cap (autoscaling.keda.max_connections) comes off the fd budget
    # first; the HTTP listeners share the rest
    grpc = grpc_limits(config) if listen.grpc else None
    http_count = len(wanted) - (grpc is not None)
    limits = limits_for(listen, http_count, grpc.max_connections if grpc else 0)
    return [
        ListenerSpec(name, address, grpc if name == "grpc" else limits, tls)
        for name, address, tls in wanted
    ]


def spec_for(config: Config, name: str) -> ListenerSpec:
    """One declared listener by name (KeyError when the config runs none of that name)."""
    for spec in declare(config):
        if spec.name == name:
            return spec
    raise KeyError(name)


def bind(address: str) -> socket.socket:
    """Bind a listening socket up front so a busy port is a clear start-up error."""
    sock = reserve(address)
    sock.listen(2048)
    sock.setblocking(False)
    return sock


def reserve(address: str) -> socket.socket:
    """Bind (without listening) `address`: a clash is our one-line start-up error. `bind`
    listens on it; the gRPC listener, whose socket gRPC makes, holds it so until just
    before gRPC binds. SO_REUSEADDR: a TIME_WAIT is no clash.

    IPPROTO_TCP, not 0: accepted sockets inherit it, and asyncio only sets TCP_NODELAY on
    sockets whose proto says TCP (the connection sets it too, for any socket it is given).
    """
    host, port = parse_host_port(address)
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise OSError(f"cannot listen on {address}: {exc.strerror}") from None
    return sock


def limits_for(listen: Listen, listeners: int, reserved: int = 0) -> Limits:
    """The config's limits, with the connection cap kept below the fd limit (raised first to
    its hard limit) shared by `listeners` HTTP listeners after `reserved` fds (the gRPC
    listener's own cap), so that the cap, not EMFILE, is what a flood of clients meets."""
    fds = raise_fd_limit()
    cap = listen.max_connections
    room = max(16, (fds - FD_RESERVE - reserved) // max(1, listeners))
    if cap > room:
        log.warning(
            "listen.max_connections %d lowered to %d per listener: the fd limit is %d",
            cap,
            room,
            fds,
        )
        cap = room
    return Limits(
        head_timeout=listen.head_timeout_seconds,
        handshake_timeout=listen.tls_handshake_timeout_seconds,
        idle_timeout=listen.idle_timeout_seconds,
        max_head_bytes=listen.max_head_bytes,
        max_body_bytes=listen.max_body_bytes,
        max_buffered_bytes=listen.max_buffered_bytes,
        max_connections=cap,
        max_connections_per_client=listen.max_connections_per_client or max(1, cap // 4),
    )


def raise_fd_limit() -> int:
    """Raise RLIMIT_NOFILE's soft limit to the hard limit; return the soft limit now."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY:
        hard = max(soft, 1 << 20)
    if soft < hard:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
            soft = hard
        except (ValueError, OSError):
            pass
    return soft
