"""`exporter serve`: wires config -> collectors -> snapshot -> listeners, in one asyncio loop."""

from __future__ import annotations

import asyncio
import logging
import platform
import signal
import socket
from collections.abc import Awaitable, Callable
from contextlib import contextmanager

import uvicorn

from exporter import __version__, catalog
from exporter.collectors import apiservice, gpu, hpa, queues
from exporter.collectors.postgres import PostgresCollector
from exporter.collectors.redis import RedisCollector
from exporter.config import Config, parse_host_port
from exporter.http_app import create_app
from exporter.metrics_api.listener import https_listeners
from exporter.runtime import Collector, Runtime
from exporter.snapshot import Sample, Snapshot

log = logging.getLogger(__name__)


def build_collectors(config: Config) -> list[Collector]:
    """Every collector the config asks for, one per target."""
    interval = config.collection.interval_seconds
    timeout = config.collection.timeout_seconds
    collectors: list[Collector] = []
    collectors += [PostgresCollector(t, interval, timeout) for t in config.postgres]
    collectors += [RedisCollector(t, interval, timeout) for t in config.redis]
    collectors += queues.build(config, interval, timeout)
    collectors += gpu.build(config.gpu, interval, timeout)
    collectors += hpa.build(config)
    collectors += apiservice.build(config)
    return collectors


class _Server(uvicorn.Server):
    """uvicorn without its own signal capture: `serve` owns SIGTERM/SIGINT for all listeners."""

    @contextmanager
    def capture_signals(self):  # type: ignore[override]
        yield


def bind(address: str) -> socket.socket:
    """Bind a listening socket up front so a busy port is a clear start-up error."""
    host, port = parse_host_port(address)
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise OSError(f"cannot listen on {address}: {exc.strerror}") from None
    sock.listen(2048)
    sock.setblocking(False)
    return sock


def make_server(app, **kwargs) -> _Server:
    config = uvicorn.Config(app, log_level="warning", access_log=False, lifespan="off", **kwargs)
    return _Server(config)


# Hooks that add listeners (the metrics API) get the config, snapshot and runtime and
# return (server, socket) pairs; kept as a list so optional parts plug in without edits here.
ListenerFactory = Callable[[Config, Snapshot, Runtime], list[tuple[uvicorn.Server, socket.socket]]]
EXTRA_LISTENERS: list[ListenerFactory] = []
EXTRA_LISTENERS.append(https_listeners)  # the Kubernetes metrics APIs (HTTPS)


async def serve(config: Config, started: Callable[[], Awaitable[None]] | None = None) -> None:
    snapshot = Snapshot()
    snapshot.update(
        "build",
        [
            Sample(
                catalog.EXPORTER_BUILD_INFO,
                {
                    "version": __version__,
                    "python": platform.python_version(),
                    "environment": config.environment,
                },
                1,
            )
        ],
    )
    runtime = Runtime(snapshot, build_collectors(config))
    listeners = [(make_server(create_app(snapshot, runtime)), bind(config.listen.http))]
    for factory in EXTRA_LISTENERS:
        listeners += factory(config, snapshot, runtime)

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)

    # --- KEDA external scaler (gRPC, listen.grpc): started here, stopped after the HTTP ones
    from exporter.keda import listener as keda_listener

    scaler = await keda_listener.start(config, snapshot, runtime)
    # ---

    runtime.start()
    tasks = [asyncio.create_task(server.serve(sockets=[sock])) for server, sock in listeners]
    log.info(
        "exporter %s serving on http://%s with %d collectors (environment %s)",
        __version__,
        config.listen.http,
        len(runtime.collectors),
        config.environment,
    )
    if started is not None:
        await started()
    stopper = asyncio.create_task(stop.wait())
    done, _ = await asyncio.wait([stopper, *tasks], return_when=asyncio.FIRST_COMPLETED)
    if stopper in done:
        log.info("shutting down")
    for server, _sock in listeners:
        server.should_exit = True
    await asyncio.gather(*tasks, return_exceptions=True)
    stopper.cancel()
    if scaler is not None:  # KEDA external scaler
        await scaler.stop()
    await runtime.stop()
    for _server, sock in listeners:
        sock.close()
